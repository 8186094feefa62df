// Average precision, the area under the precision-recall curve as scikit-learn's
// average_precision_score computes it: Σ (R_n − R_{n−1}) · P_n over the distinct scores from
// the highest down (tied scores form one step). For rare positives — most risk data — it
// says more than ROC-AUC, which many easy negatives inflate.
import { ArgumentError, expected } from '../errors.js';
import { numberList } from '../validate.js';

/** AP of scores for 0/1 targets; NaN without positives (the curve is undefined then). */
export function averagePrecision(yTrue: ArrayLike<number>, scores: ArrayLike<number>): number {
  numberList(yTrue, 'yTrue');
  numberList(scores, 'scores');
  const n = yTrue.length;
  if (scores.length !== n) throw expected(`scores of length ${n} (one per target)`, 'scores', scores);
  let positives = 0;
  for (let i = 0; i < n; i++) {
    if (yTrue[i] !== 0 && yTrue[i] !== 1) throw new ArgumentError(`Expected 0 or 1 for yTrue[${i}] but received ${yTrue[i]}`);
    if (Number.isNaN(scores[i])) throw new ArgumentError(`Expected a number for scores[${i}] but received NaN`);
    positives += yTrue[i]!;
  }
  if (positives === 0) return NaN;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]!);
  let tp = 0;
  let fp = 0;
  let recallBefore = 0;
  let ap = 0;
  for (let i = 0; i < n; ) {
    const value = scores[order[i]!]!;
    for (; i < n && scores[order[i]!] === value; i++) yTrue[order[i]!] === 1 ? tp++ : fp++;
    const recall = tp / positives;
    ap += (recall - recallBefore) * (tp / (tp + fp));
    recallBefore = recall;
  }
  return ap;
}
