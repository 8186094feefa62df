// Multi-label evaluation (one sigmoid per label) and per-label decision thresholds.
import { ArgumentError, expected } from '../errors.js';
import { averages, scoresFromCounts, type Averages, type Counts, type LabelScores } from './averages.js';
import { averagePrecision } from './average-precision.js';
import { meanDefined, rocAuc } from './roc-auc.js';

export interface MultiLabelReport extends Averages {
  kind: 'multi-label';
  /** Share of examples whose predicted label set equals the true one exactly. */
  subsetAccuracy: number;
  /** Share of (example, label) decisions that are wrong. */
  hammingLoss: number;
  /** Per label; rocAuc is NaN for a label whose targets are all 0 or all 1, averagePrecision for one without positives. */
  perLabel: Record<string, LabelScores & { rocAuc: number; averagePrecision: number }>;
  /** Mean of the per-label ROC-AUCs that are defined; NaN when none is. */
  rocAuc: number;
  /** Mean of the per-label average precisions that are defined (sklearn's average='macro'). */
  averagePrecision: number;
  /** The thresholds used: label k is predicted when probs[i * K + k] > thresholds[k]. */
  thresholds: number[];
  /** Mean loss, when the caller adds it. */
  loss?: number;
}

/** yTrue: multi-hot 0/1 [n * K]; probs: sigmoid outputs [n * K]; K = labels.length. */
export function multiLabelReport(
  yTrue: Float32Array,
  probs: Float32Array,
  labels: readonly string[],
  thresholds: readonly number[] | number = 0.5,
): MultiLabelReport {
  if (!Array.isArray(labels) || labels.length === 0) throw expected('a non-empty array of labels', 'labels', labels);
  const K = labels.length;
  const n = checkMatrix(yTrue, probs, K);
  const cut = typeof thresholds === 'number' ? new Array<number>(K).fill(thresholds) : [...thresholds];
  if (cut.length !== K || !cut.every(Number.isFinite))
    throw expected(`a finite number or an array of ${K} finite numbers`, 'thresholds', thresholds);

  const counts: Counts[] = labels.map(() => ({ tp: 0, fp: 0, fn: 0 }));
  let exactRows = 0;
  let wrong = 0;
  for (let i = 0; i < n; i++) {
    let rowWrong = 0;
    for (let k = 0; k < K; k++) {
      const truth = yTrue[i * K + k] === 1;
      const predicted = probs[i * K + k]! > cut[k]!;
      const c = counts[k]!;
      if (truth && predicted) c.tp++;
      else if (predicted) c.fp++;
      else if (truth) c.fn++;
      if (truth !== predicted) rowWrong++;
    }
    if (rowWrong === 0) exactRows++;
    wrong += rowWrong;
  }
  const aucs = labels.map((_, k) => rocAuc(column(yTrue, n, K, k), column(probs, n, K, k)));
  const aps = labels.map((_, k) => averagePrecision(column(yTrue, n, K, k), column(probs, n, K, k)));
  return {
    kind: 'multi-label',
    subsetAccuracy: n === 0 ? 0 : exactRows / n,
    hammingLoss: n === 0 ? 0 : wrong / (n * K),
    ...averages(counts),
    perLabel: Object.fromEntries(labels.map((label, k) => [label, { ...scoresFromCounts(counts[k]!), rocAuc: aucs[k]!, averagePrecision: aps[k]! }])),
    rocAuc: meanDefined(aucs),
    averagePrecision: meanDefined(aps),
    thresholds: cut,
  };
}

/**
 * Per label, the threshold that maximises that label's F1 on (yTrue, probs). Candidates are
 * the midpoints between consecutive distinct probabilities (each splits the examples in a
 * different way) and 0.5, the default. Ties go to the candidate closest to 0.5 (the lower one
 * when two are equally close), so a label without positives, where every F1 is 0, keeps 0.5.
 */
export function tuneThresholds(yTrue: Float32Array, probs: Float32Array, K: number): number[] {
  if (!Number.isSafeInteger(K) || K < 1) throw expected('a positive integer', 'K', K);
  const n = checkMatrix(yTrue, probs, K);
  return Array.from({ length: K }, (_, k) => bestThreshold(column(yTrue, n, K, k), column(probs, n, K, k)));
}

const F1_TIE = 1e-12;

function bestThreshold(truth: Float64Array, scores: Float64Array): number {
  const positives = truth.reduce((a, b) => a + b, 0);
  const f1 = (tp: number, fp: number): number => (tp === 0 ? 0 : (2 * tp) / (2 * tp + fp + (positives - tp)));
  let best = { threshold: 0.5, f1: f1At(truth, scores, 0.5, f1) };
  const consider = (threshold: number, score: number): void => {
    const closer = Math.abs(threshold - 0.5) < Math.abs(best.threshold - 0.5) ||
      (Math.abs(threshold - 0.5) === Math.abs(best.threshold - 0.5) && threshold < best.threshold);
    if (score > best.f1 + F1_TIE || (Math.abs(score - best.f1) <= F1_TIE && closer)) best = { threshold, f1: score };
  };
  // Walk the scores from the highest down; after each run of equal scores, the midpoint to the
  // next lower score predicts exactly the examples walked so far.
  const order = Array.from(scores.keys()).sort((a, b) => scores[b]! - scores[a]!);
  let tp = 0;
  let fp = 0;
  for (let i = 0; i < order.length; ) {
    const value = scores[order[i]!]!;
    for (; i < order.length && scores[order[i]!] === value; i++) {
      if (truth[order[i]!] === 1) tp++;
      else fp++;
    }
    if (i < order.length) consider((value + scores[order[i]!]!) / 2, f1(tp, fp));
  }
  return best.threshold;
}

function f1At(truth: Float64Array, scores: Float64Array, threshold: number, f1: (tp: number, fp: number) => number): number {
  let tp = 0;
  let fp = 0;
  scores.forEach((s, i) => {
    if (s <= threshold) return;
    if (truth[i] === 1) tp++;
    else fp++;
  });
  return f1(tp, fp);
}

function checkMatrix(yTrue: Float32Array, probs: Float32Array, K: number): number {
  if (!(yTrue instanceof Float32Array) || yTrue.length % K !== 0)
    throw expected(`a Float32Array whose length is a multiple of ${K} (rows × labels)`, 'yTrue', yTrue);
  if (!(probs instanceof Float32Array) || probs.length !== yTrue.length) throw expected(`a Float32Array of length ${yTrue.length}`, 'probs', probs);
  yTrue.forEach((v, i) => {
    if (v !== 0 && v !== 1) throw new ArgumentError(`Expected 0 or 1 for yTrue[${i}] but received ${v}`);
  });
  probs.forEach((v, i) => {
    if (Number.isNaN(v)) throw new ArgumentError(`Expected a number for probs[${i}] but received NaN`);
  });
  return yTrue.length / K;
}

/** Column k of a row-major [n * K] matrix, in doubles. */
function column(matrix: Float32Array, n: number, K: number, k: number): Float64Array {
  return Float64Array.from({ length: n }, (_, i) => matrix[i * K + k]!);
}
