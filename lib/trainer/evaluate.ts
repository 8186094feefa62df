// Evaluation on held-out examples: logits in batches, then the task's report (rescore: the
// same logits read at other thresholds or another temperature, without another pass).
import {
  type Report,
  classificationReport,
  multiLabelReport,
  regressionReport,
} from '../metrics/index.js';
import { featureRows, range } from '../features/encode.js';
import { ordinalScores } from '../metrics/ordinal.js';
import type { NativeModelHandle } from '../native/types.js';
import { outputWidth } from '../risk/head.js';
import { ordinalOutput } from '../risk/ordinal.js';
import type { Task } from '../task.js';
import type { PreparedData } from './dataset.js';

/** Pads examples [start, end) of ragged data into one batch. */
export function paddedBatch(data: PreparedData, start: number, end: number, padId: number) {
  let seqLen = 0;
  for (let i = start; i < end; i++) seqLen = Math.max(seqLen, data.offsets[i + 1]! - data.offsets[i]!);
  const batchSize = end - start;
  const inputIds = new Int32Array(batchSize * seqLen).fill(padId);
  const attentionMask = new Int32Array(batchSize * seqLen);
  for (let row = 0; row < batchSize; row++) {
    const from = data.offsets[start + row]!;
    const length = data.offsets[start + row + 1]! - from;
    inputIds.set(data.ids.subarray(from, from + length), row * seqLen);
    attentionMask.fill(1, row * seqLen, row * seqLen + length);
  }
  return { inputIds, attentionMask, batchSize, seqLen };
}

function labelRows(labels: Int32Array | Float32Array, start: number, end: number, K: number): Int32Array | Float32Array {
  return labels instanceof Int32Array ? labels.subarray(start, end) : labels.subarray(start * K, end * K);
}

export interface Evaluation {
  report: Report;
  /** Probabilities (softmax / sigmoid) or predicted values, row-major [n, K]. */
  outputs: Float32Array;
  /** Binary and multi-class: the raw logits [n, K] (for calibration). */
  logits?: Float32Array;
}

export async function evaluate(
  handle: NativeModelHandle,
  data: PreparedData,
  task: Task,
  labels: readonly string[],
  options: { batchSize: number; padTokenId: number; lossKind: 'ce' | 'bce' | 'mse' | 'ordinal' },
): Promise<Evaluation> {
  const K = labels.length;
  const width = outputWidth(labels, task);  // logits per row: K, or K-1 cumulative ones (ordinal)
  const outputs = new Float32Array(data.count * K);
  const rawLogits = task === 'binary' || task === 'multi-class' ? new Float32Array(data.count * K) : undefined;
  const ordinalPredicted = task === 'ordinal' ? new Int32Array(data.count) : undefined;  // CORAL's rank rule
  let lossSum = 0;
  for (let start = 0; start < data.count; start += options.batchSize) {
    const end = Math.min(start + options.batchSize, data.count);
    const b = paddedBatch(data, start, end, options.padTokenId);
    const out = await handle.forward(b.inputIds, b.attentionMask, b.batchSize, b.seqLen, {
      labels: labelRows(data.labels, start, end, K),
      lossKind: options.lossKind,
      ...(data.features ? featureRows(data.features, range(start, end)) : {}),
    });
    lossSum += out.loss! * (end - start);
    for (let row = 0; row < end - start; row++) {
      const logits = out.logits.subarray(row * width, (row + 1) * width);
      if (ordinalPredicted) {
        const o = ordinalOutput(logits);
        ordinalPredicted[start + row] = o.index;
        outputs.set(o.probs, (start + row) * K);
      } else {
        rawLogits?.set(logits, (start + row) * K);
        outputs.set(toOutputs(logits, task, 1), (start + row) * K);
      }
    }
  }
  const loss = lossSum / data.count;
  const report = ordinalPredicted
    ? { ...classificationReport(data.labels as Int32Array, ordinalPredicted, labels, outputs), ordinal: ordinalScores(data.labels as Int32Array, ordinalPredicted, K) }
    : reportFor(task, data, outputs, labels, {});
  return { report: { ...report, loss }, outputs, ...(rawLogits ? { logits: rawLogits } : {}) };
}

/**
 * The same evaluation at other cut points (thresholds, decision threshold, temperature): the
 * report again from the stored logits and outputs, without another pass over the model. The
 * loss stays the model's own (computed on the raw logits).
 */
export function rescore(
  evaluation: Evaluation,
  data: PreparedData,
  task: Task,
  labels: readonly string[],
  cut: { thresholds?: readonly number[]; decisionThreshold?: number; temperature?: number },
): Evaluation {
  const K = labels.length;
  let outputs = evaluation.outputs;
  if (cut.temperature !== undefined) {
    outputs = new Float32Array(outputs.length);
    for (let i = 0; i < data.count; i++) outputs.set(toOutputs(evaluation.logits!.subarray(i * K, (i + 1) * K), task, cut.temperature), i * K);
  }
  const report = reportFor(task, data, outputs, labels, cut);
  return { ...evaluation, report: { ...report, loss: evaluation.report.loss! }, outputs };
}

function toOutputs(logits: Float32Array, task: Task, temperature: number): Float32Array {
  if (task === 'regression') return logits;
  if (task === 'multi-label') return logits.map((v) => 1 / (1 + Math.exp(-v)));
  const max = Math.max(...logits) / temperature;
  const exps = logits.map((v) => Math.exp(v / temperature - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / sum);
}

function reportFor(
  task: Task,
  data: PreparedData,
  outputs: Float32Array,
  labels: readonly string[],
  cut: { thresholds?: readonly number[]; decisionThreshold?: number },
): Report {
  const K = labels.length;
  if (task === 'regression') return regressionReport(data.labels, outputs);
  if (task === 'multi-label') return multiLabelReport(data.labels as Float32Array, outputs, labels, cut.thresholds ?? 0.5);
  const predicted = new Int32Array(data.count);
  const t = cut.decisionThreshold;
  for (let i = 0; i < data.count; i++) {
    if (task === 'binary' && t !== undefined) {
      predicted[i] = outputs[i * 2 + 1]! > t ? 1 : 0;
      continue;
    }
    let best = 0;
    for (let k = 1; k < K; k++) if (outputs[i * K + k]! > outputs[i * K + best]!) best = k;
    predicted[i] = best;
  }
  return classificationReport(data.labels as Int32Array, predicted, labels, outputs);
}

