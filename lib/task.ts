// The classification shapes and how scores come out of logits.
import { ordinalOutput } from './risk/ordinal.js';

export type Task = 'binary' | 'multi-class' | 'multi-label' | 'regression' | 'ordinal';
export const TASKS: readonly Task[] = ['binary', 'multi-class', 'multi-label', 'regression', 'ordinal'];

/** transformers' problem_type (or its inference when unset) mapped to our task names. */
export function taskFromConfig(problemType: string, numLabels: number): Task {
  if (problemType === 'regression' || (problemType === '' && numLabels === 1)) return 'regression';
  if (problemType === 'multi_label_classification') return 'multi-label';
  return numLabels === 2 ? 'binary' : 'multi-class';
}

export interface Prediction {
  /** The most likely label (for regression: the single output's name). */
  label: string;
  /** Its probability (for regression: the predicted value). */
  score: number;
  /** Every label's probability (softmax; sigmoid for multi-label; raw value for regression). */
  scores: Record<string, number>;
  /** Multi-label only: the labels whose probability is above the threshold. */
  labels?: string[];
  /** Ordinal only: the expected severity, sum_k P(y > k), in class units (0 = the first label). */
  severity?: number;
  /** Present (true) when the text was longer than maxLength tokens: only its beginning was read. */
  truncated?: true;
  /** With options.longTexts: how many windows of the text were read and combined. */
  windows?: number;
}

/** Ordinal: row holds K-1 cumulative logits (lib/risk/ordinal.ts). */
function ordinalPrediction(row: Float32Array, labels: readonly string[]): Prediction {
  const { index, severity, probs } = ordinalOutput(row);
  const scores: Record<string, number> = Object.fromEntries(labels.map((label, i) => [label, probs[i]!]));
  return { label: labels[index]!, score: probs[index]!, scores, severity };
}

function softmax(row: Float32Array): number[] {
  const max = Math.max(...row);
  const exps = Array.from(row, (v) => Math.exp(v - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / sum);
}

const sigmoid = (v: number): number => 1 / (1 + Math.exp(-v));

/** One row of logits -> a Prediction. */
export function predictionFromLogits(
  row: Float32Array,
  labels: readonly string[],
  task: Task,
  /** Multi-label: per label or for all (default 0.5). Binary: on the second label's probability (default: the argmax). */
  threshold?: number | readonly number[],
  /** Binary, multi-class: probabilities are softmax(row / temperature) (a calibrated model's). */
  temperature = 1,
): Prediction {
  if (task === 'ordinal') return ordinalPrediction(row, labels);
  return predictionFromValues(outputValues(row, task, temperature), labels, task, threshold);
}

/** The threshold a prediction uses: the caller's, else what training saved (multi-label per label, binary decision). */
export function thresholdFor(
  given: number | undefined,
  saved: { thresholds?: readonly number[] | undefined; decisionThreshold?: { threshold: number } | undefined },
): number | readonly number[] | undefined {
  return given ?? saved.thresholds ?? saved.decisionThreshold?.threshold;
}

/** Probabilities (softmax, sigmoid for multi-label) or values (regression) of one row of logits. */
export function outputValues(row: Float32Array, task: Exclude<Task, 'ordinal'>, temperature = 1): number[] {
  if (task === 'regression') return Array.from(row);
  if (task === 'multi-label') return Array.from(row, sigmoid);
  return softmax(temperature === 1 ? row : row.map((v) => v / temperature));
}

/** A Prediction from per-label probabilities (or regression values), with predictionFromLogits' rules. */
export function predictionFromValues(
  values: readonly number[],
  labels: readonly string[],
  task: Exclude<Task, 'ordinal'>,
  threshold?: number | readonly number[],
): Prediction {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  // Binary: the second label when its probability is above the threshold (0.5: the argmax).
  if (task === 'binary' && typeof threshold === 'number') best = values[1]! > threshold ? 1 : 0;
  // fromEntries defines own properties, so a label named "__proto__" stays a plain key.
  const scores: Record<string, number> = Object.fromEntries(labels.map((label, i) => [label, values[i]!]));
  const prediction: Prediction = { label: labels[best]!, score: values[best]!, scores };
  const thresholdOf = (i: number) => (threshold === undefined ? 0.5 : typeof threshold === 'number' ? threshold : threshold[i]!);
  if (task === 'multi-label') prediction.labels = labels.filter((_, i) => values[i]! > thresholdOf(i));
  return prediction;
}
