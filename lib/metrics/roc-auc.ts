// Area under the ROC curve, with tied scores handled as scikit-learn handles them.
import { ArgumentError, expected } from '../errors.js';
import { numberList } from '../validate.js';

/**
 * ROC-AUC of scores for 0/1 targets. Computed as the Mann–Whitney statistic with average ranks
 * for tied scores, which equals sklearn's trapezoid over distinct thresholds (a tie between a
 * positive and a negative counts one half). NaN when yTrue holds only one class: the curve is
 * undefined then (sklearn raises; we return NaN so one label cannot abort an evaluation).
 */
export function rocAuc(yTrue: ArrayLike<number>, scores: ArrayLike<number>): number {
  numberList(yTrue, 'yTrue');
  numberList(scores, 'scores');
  const n = yTrue.length;
  if (scores.length !== n) throw expected(`scores of length ${n} (one per target)`, 'scores', scores);
  for (let i = 0; i < n; i++) {
    if (yTrue[i] !== 0 && yTrue[i] !== 1) throw new ArgumentError(`Expected 0 or 1 for yTrue[${i}] but received ${yTrue[i]}`);
    if (Number.isNaN(scores[i])) throw new ArgumentError(`Expected a number for scores[${i}] but received NaN`);
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
  let positives = 0;
  let positiveRankSum = 0;
  for (let start = 0; start < n; ) {
    let end = start; // [start, end] is one run of equal scores; they share the mean of ranks start+1..end+1
    while (end + 1 < n && scores[order[end + 1]!] === scores[order[start]!]) end++;
    const meanRank = (start + end + 2) / 2;
    for (let k = start; k <= end; k++) {
      if (yTrue[order[k]!] === 1) {
        positives++;
        positiveRankSum += meanRank;
      }
    }
    start = end + 1;
  }
  const negatives = n - positives;
  if (positives === 0 || negatives === 0) return NaN;
  return (positiveRankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

/** Mean of the defined (non-NaN) values; NaN when there are none. */
export function meanDefined(values: readonly number[]): number {
  const defined = values.filter((v) => !Number.isNaN(v));
  return defined.length === 0 ? NaN : defined.reduce((a, b) => a + b, 0) / defined.length;
}
