// Decision thresholds chosen on held-out data for a target: the best F1, a minimum
// precision (then the most recall) or a minimum recall (then the most precision). One for
// a binary classifier, on P(second label): positive when P > threshold (0.5 is the plain
// argmax); one per label for a multi-label classifier, whose labels are on above theirs.
import { ArgumentError, expected } from '../errors.js';
import { numberList } from '../validate.js';

export type ThresholdTarget = 'f1' | { precision: number } | { recall: number };

/** The tasks whose decision thresholds a target can choose. */
export const THRESHOLD_TASKS = ['binary', 'multi-label'] as const;

export interface OperatingPoint {
  threshold: number;
  /** On the data it was chosen on. */
  precision: number;
  recall: number;
  f1: number;
  /** False when no threshold reaches the precision or recall asked for (the closest one is used). */
  met: boolean;
}

/** A binary classifier's chosen threshold, as the Trainer reports it and lora-node.json keeps it. */
export interface DecisionThreshold extends OperatingPoint {
  target: ThresholdTarget;
  /** The label whose probability is compared (the second label). */
  positiveLabel: string;
}

/** The decision threshold for `target` from class ids (0/1) and softmax rows [n × 2]. */
export function chooseDecisionThreshold(classIds: Int32Array, probs: Float32Array, labels: readonly string[], target: ThresholdTarget): DecisionThreshold {
  if (probs.length !== classIds.length * 2) throw expected(`${classIds.length * 2} probabilities (n × 2)`, 'probs', probs);
  const scores = Float64Array.from(classIds, (_, i) => probs[i * 2 + 1]!);
  return { ...chooseThreshold(classIds, scores, target), target, positiveLabel: labels[1]! };
}

/**
 * Multi-label: one threshold per label for `target`, from multi-hot targets and sigmoid outputs
 * [n × K]. A label without positives in the data keeps 0.5 (met: false): nothing to aim at.
 */
export function chooseLabelThresholds(
  yTrue: Float32Array,
  probs: Float32Array,
  labels: readonly string[],
  target: ThresholdTarget,
): Record<string, OperatingPoint> {
  const K = labels.length;
  if (probs.length !== yTrue.length || yTrue.length % K !== 0) throw expected(`${yTrue.length} probabilities (n × ${K})`, 'probs', probs);
  const n = yTrue.length / K;
  return Object.fromEntries(
    labels.map((label, k) => {
      const truth = Float64Array.from({ length: n }, (_, i) => yTrue[i * K + k]!);
      const scores = Float64Array.from({ length: n }, (_, i) => probs[i * K + k]!);
      const none = truth.every((t) => t === 0);
      return [label, none ? { threshold: 0.5, precision: 0, recall: 0, f1: 0, met: false } : chooseThreshold(truth, scores, target)];
    }),
  );
}

/** Whether a value read from lora-node.json is a DecisionThreshold (threshold: a finite number in [0, 1)). */
export function isDecisionThreshold(value: unknown): value is DecisionThreshold {
  if (value === null || typeof value !== 'object') return false;
  const v = value as Record<string, unknown>;
  return typeof v.threshold === 'number' && Number.isFinite(v.threshold) && v.threshold >= 0 && v.threshold < 1 && typeof v.positiveLabel === 'string';
}

/** Checks a ThresholdTarget from options (ERR_INVALID_ARGUMENT naming `name`). */
export function thresholdTarget(value: unknown, name: string): ThresholdTarget {
  if (value === 'f1') return value;
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const keys = Object.keys(value);
    const key = keys[0];
    const target = (value as Record<string, unknown>)[key ?? ''];
    if (keys.length === 1 && (key === 'precision' || key === 'recall') && typeof target === 'number' && target > 0 && target <= 1)
      return { [key]: target } as ThresholdTarget;
  }
  throw expected("'f1', { precision: P } or { recall: R } with 0 < P, R <= 1", name, value);
}

/** "f1", "precision >= 0.9", "recall >= 0.95": for messages and reports. */
export function describeTarget(target: ThresholdTarget): string {
  if (target === 'f1') return 'best F1';
  return 'precision' in target ? `precision >= ${target.precision}` : `recall >= ${target.recall}`;
}

/**
 * The threshold on P(positive) for `target` over examples with `truth` 1 (positive) or 0.
 * Candidates are the midpoints between consecutive distinct scores (each splits the examples
 * differently), and 0.5. Among candidates that meet a precision or recall target, the one with
 * the most recall (precision target) or the most precision (recall target) wins; equal ones go
 * to the candidate closest to 0.5. When none meets it, the one closest to meeting it is used
 * and `met` is false.
 */
export function chooseThreshold(truth: ArrayLike<number>, scores: ArrayLike<number>, target: ThresholdTarget): OperatingPoint {
  numberList(truth, 'truth');
  numberList(scores, 'scores');
  thresholdTarget(target, 'target');
  const n = truth.length;
  if (n === 0) throw expected('at least one example', 'truth', truth);
  if (scores.length !== n) throw expected(`${n} scores`, 'scores', scores);
  let positives = 0;
  for (let i = 0; i < n; i++) {
    if (truth[i] !== 0 && truth[i] !== 1) throw new ArgumentError(`Expected 0 or 1 for truth[${i}] but received ${truth[i]}`);
    if (Number.isNaN(scores[i])) throw new ArgumentError(`Expected a number for scores[${i}] but received NaN`);
    positives += truth[i]!;
  }
  const points = candidates(truth, scores, positives);
  const goal = target === 'f1' ? undefined : 'precision' in target ? { key: 'precision' as const, min: target.precision } : { key: 'recall' as const, min: target.recall };
  // What is maximised, in order: meeting the goal (or getting closest), then the other measure (or F1).
  const rank = (p: OperatingPoint): number[] => {
    if (!goal) return [p.f1];
    const other = goal.key === 'precision' ? p.recall : p.precision;
    return p.met ? [1, other] : [0, p[goal.key]];
  };
  // A precision target is only met by a threshold that finds at least one positive.
  for (const p of points) p.met = !goal || (p[goal.key] >= goal.min && p.recall > 0);
  let best = points[0]!;
  for (const p of points.slice(1)) {
    const order = compare(rank(p), rank(best));
    if (order > 0 || (order === 0 && closerToHalf(p.threshold, best.threshold))) best = p;
  }
  return best;
}

const TIE = 1e-12;

function compare(a: number[], b: number[]): number {
  for (let i = 0; i < a.length; i++) if (Math.abs(a[i]! - b[i]!) > TIE) return a[i]! > b[i]! ? 1 : -1;
  return 0;
}

function closerToHalf(a: number, b: number): boolean {
  const da = Math.abs(a - 0.5);
  const db = Math.abs(b - 0.5);
  return da < db || (da === db && a < b);
}

/** Every candidate threshold with its precision, recall and F1 (precision 1 when nothing is predicted positive). */
function candidates(truth: ArrayLike<number>, scores: ArrayLike<number>, positives: number): OperatingPoint[] {
  const point = (threshold: number, tp: number, fp: number): OperatingPoint => {
    const precision = tp + fp === 0 ? 1 : tp / (tp + fp);
    const recall = positives === 0 ? 1 : tp / positives;
    const f1 = tp === 0 ? 0 : (2 * tp) / (2 * tp + fp + (positives - tp));
    return { threshold, precision, recall, f1, met: true };
  };
  const counted = (threshold: number): OperatingPoint => {
    let tp = 0;
    let fp = 0;
    for (let i = 0; i < truth.length; i++) if (scores[i]! > threshold) truth[i] === 1 ? tp++ : fp++;
    return point(threshold, tp, fp);
  };
  const order = Array.from({ length: truth.length }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]!);
  const points = [counted(0.5)];
  // Walking the scores from the highest down: after each run of equal scores, the midpoint
  // to the next lower score predicts exactly the examples walked so far as positive.
  let tp = 0;
  let fp = 0;
  for (let i = 0; i < order.length; ) {
    const value = scores[order[i]!]!;
    for (; i < order.length && scores[order[i]!] === value; i++) truth[order[i]!] === 1 ? tp++ : fp++;
    if (i < order.length) points.push(point((value + scores[order[i]!]!) / 2, tp, fp));
  }
  // Below the lowest score: everything positive (recall 1).
  const lowest = scores[order.at(-1)!]!;
  if (lowest > 0) points.push(point(lowest / 2, tp, fp));
  return points;
}
