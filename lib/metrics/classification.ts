// Single-label (binary and multi-class) evaluation: accuracy, P/R/F1, confusion matrix, ROC-AUC, AP.
import { ArgumentError, expected } from '../errors.js';
import { averages, scoresFromCounts, type Averages, type LabelScores } from './averages.js';
import type { OrdinalScores } from './ordinal.js';
import { averagePrecision } from './average-precision.js';
import { meanDefined, rocAuc } from './roc-auc.js';

export interface ClassificationReport extends Averages {
  kind: 'classification';
  accuracy: number;
  perLabel: Record<string, LabelScores>;
  /** confusionMatrix[true][predicted], counts, in the order of `labels` (as sklearn's). */
  confusionMatrix: number[][];
  /**
   * Only when probabilities are given. Binary: the AUC of labels[1]'s probability (sklearn's
   * roc_auc_score(y, p[:, 1])); multi-class: the mean one-vs-rest AUC over labels with both
   * classes present (sklearn's multi_class='ovr', average='macro').
   */
  rocAuc?: number;
  /**
   * Only when probabilities are given. Binary: the average precision of labels[1]'s probability
   * (sklearn's average_precision_score(y, p[:, 1])); multi-class: the mean one-vs-rest AP over
   * labels with positives (sklearn's average='macro' on binarized labels).
   */
  averagePrecision?: number;
  /** Mean loss, when the caller adds it. */
  loss?: number;
  /** Ordinal tasks: metrics that respect the order of the labels (metrics/ordinal.ts). */
  ordinal?: OrdinalScores;
}

/**
 * Scores of predicted class ids against true ones, over every label in `labels` (labels without
 * support included, as sklearn does when given `labels`). Micro P/R/F1 equal accuracy here.
 * `probs`, optional, are per-class probabilities, row-major [n * labels.length].
 */
export function classificationReport(
  yTrue: Int32Array,
  yPred: Int32Array,
  labels: readonly string[],
  probs?: Float32Array,
): ClassificationReport {
  if (!Array.isArray(labels) || labels.length === 0) throw expected('a non-empty array of labels', 'labels', labels);
  const K = labels.length;
  if (!(yTrue instanceof Int32Array)) throw expected('an Int32Array of class ids', 'yTrue', yTrue);
  if (!(yPred instanceof Int32Array) || yPred.length !== yTrue.length)
    throw expected(`an Int32Array of length ${yTrue.length}`, 'yPred', yPred);
  const n = yTrue.length;
  const confusionMatrix = Array.from({ length: K }, () => new Array<number>(K).fill(0));
  for (let i = 0; i < n; i++) {
    const t = classId(yTrue, i, K, 'yTrue');
    const p = classId(yPred, i, K, 'yPred');
    confusionMatrix[t]![p]!++;
  }
  const counts = labels.map((_, k) => {
    const row = confusionMatrix[k]!;
    const tp = row[k]!;
    const support = row.reduce((a, b) => a + b, 0);
    const predicted = confusionMatrix.reduce((s, r) => s + r[k]!, 0);
    return { tp, fp: predicted - tp, fn: support - tp };
  });
  const correct = counts.reduce((s, c) => s + c.tp, 0);
  const report: ClassificationReport = {
    kind: 'classification',
    accuracy: n === 0 ? 0 : correct / n,
    ...averages(counts),
    perLabel: Object.fromEntries(labels.map((label, k) => [label, scoresFromCounts(counts[k]!)])),
    confusionMatrix,
  };
  if (probs !== undefined) {
    report.rocAuc = oneVsRest(yTrue, probs, K, rocAuc);
    report.averagePrecision = oneVsRest(yTrue, probs, K, averagePrecision);
  }
  return report;
}

function classId(ids: Int32Array, i: number, K: number, name: string): number {
  const id = ids[i]!;
  if (id < 0 || id >= K) throw new ArgumentError(`Expected a class id in [0, ${K}) for ${name}[${i}] but received ${id}`);
  return id;
}

/** A ranking metric of the class probabilities: of labels[1] for binary, the one-vs-rest mean for multi-class. */
function oneVsRest(yTrue: Int32Array, probs: Float32Array, K: number, metric: (y: number[], s: number[]) => number): number {
  const n = yTrue.length;
  if (!(probs instanceof Float32Array) || probs.length !== n * K)
    throw expected(`a Float32Array of length ${n * K} (${n} rows × ${K} labels)`, 'probs', probs);
  const of = (k: number): number => metric(Array.from(yTrue, (t) => (t === k ? 1 : 0)), Array.from({ length: n }, (_, i) => probs[i * K + k]!));
  if (K === 2) return of(1);
  return meanDefined(Array.from({ length: K }, (_, k) => of(k)));
}
