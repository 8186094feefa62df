// Temperature scaling (Guo et al., 2017): one scalar T for a softmax classifier, fitted on
// held-out logits by minimising the negative log-likelihood of softmax(z / T). It changes
// the probabilities, never the argmax. The expected calibration error (10 equal-width
// bins of the top probability) shows what it bought.
import { expected } from '../errors.js';

/** The tasks a softmax temperature applies to. */
export const CALIBRATION_TASKS = ['binary', 'multi-class'] as const;

export interface Calibration {
  temperature: number;
  /** Mean negative log-likelihood on the data it was fitted on, before (T = 1) and after. */
  nllBefore: number;
  nllAfter: number;
  /** Expected calibration error (10 bins) before and after. */
  eceBefore: number;
  eceAfter: number;
}

/** Fits T on logits [n × K] and class ids [n]. */
export function calibrate(logits: Float32Array, classIds: Int32Array, K: number): Calibration {
  checkShapes(logits, classIds, K);
  const temperature = fitTemperature(logits, classIds, K);
  return {
    temperature,
    nllBefore: meanNll(logits, classIds, K, 1),
    nllAfter: meanNll(logits, classIds, K, temperature),
    eceBefore: expectedCalibrationError(softmaxRows(logits, K, 1), classIds, K),
    eceAfter: expectedCalibrationError(softmaxRows(logits, K, temperature), classIds, K),
  };
}

/**
 * The T minimising the mean NLL. NLL is convex in β = 1/T (a log-sum-exp of β·z minus β·z_y),
 * so a golden-section search over β in [0.01, 100] finds it.
 */
export function fitTemperature(logits: Float32Array, classIds: Int32Array, K: number): number {
  checkShapes(logits, classIds, K);
  const f = (beta: number) => meanNll(logits, classIds, K, 1 / beta);
  const ratio = (Math.sqrt(5) - 1) / 2;
  let lo = 0.01;
  let hi = 100;
  let a = hi - ratio * (hi - lo);
  let b = lo + ratio * (hi - lo);
  let fa = f(a);
  let fb = f(b);
  for (let i = 0; i < 80; i++) {
    if (fa <= fb) {
      hi = b;
      b = a;
      fb = fa;
      a = hi - ratio * (hi - lo);
      fa = f(a);
    } else {
      lo = a;
      a = b;
      fa = fb;
      b = lo + ratio * (hi - lo);
      fb = f(b);
    }
  }
  return 2 / (lo + hi);
}

/** Mean of -log softmax(z / T)[y] over the rows. */
export function meanNll(logits: Float32Array, classIds: Int32Array, K: number, temperature: number): number {
  let sum = 0;
  for (let i = 0; i < classIds.length; i++) {
    let max = -Infinity;
    for (let k = 0; k < K; k++) max = Math.max(max, logits[i * K + k]! / temperature);
    let total = 0;
    for (let k = 0; k < K; k++) total += Math.exp(logits[i * K + k]! / temperature - max);
    sum += max + Math.log(total) - logits[i * K + classIds[i]!]! / temperature;
  }
  return sum / classIds.length;
}

/** softmax(z / T) per row. */
export function softmaxRows(logits: Float32Array, K: number, temperature: number): Float32Array {
  const out = new Float32Array(logits.length);
  for (let i = 0; i < logits.length / K; i++) {
    let max = -Infinity;
    for (let k = 0; k < K; k++) max = Math.max(max, logits[i * K + k]! / temperature);
    let total = 0;
    for (let k = 0; k < K; k++) total += (out[i * K + k] = Math.exp(logits[i * K + k]! / temperature - max));
    for (let k = 0; k < K; k++) out[i * K + k]! /= total;
  }
  return out;
}

/** Σ over 10 equal-width bins of the top probability: (bin size / n) · |accuracy − mean confidence|. */
export function expectedCalibrationError(probs: Float32Array, classIds: Int32Array, K: number, bins = 10): number {
  if (!Number.isSafeInteger(K) || K < 2) throw expected('an integer >= 2', 'K', K);
  if (!(classIds instanceof Int32Array)) throw expected('an Int32Array of class ids', 'classIds', classIds);
  if (!(probs instanceof Float32Array) || probs.length !== classIds.length * K) throw expected(`a Float32Array of ${classIds.length * K} probabilities`, 'probs', probs);
  if (!Number.isSafeInteger(bins) || bins < 1) throw expected('a positive integer', 'bins', bins);
  const count = new Float64Array(bins);
  const correct = new Float64Array(bins);
  const confidence = new Float64Array(bins);
  for (let i = 0; i < classIds.length; i++) {
    let best = 0;
    for (let k = 1; k < K; k++) if (probs[i * K + k]! > probs[i * K + best]!) best = k;
    const p = probs[i * K + best]!;
    const bin = Math.min(bins - 1, Math.floor(p * bins));
    count[bin]!++;
    confidence[bin]! += p;
    if (best === classIds[i]) correct[bin]!++;
  }
  let ece = 0;
  for (let b = 0; b < bins; b++) if (count[b]! > 0) ece += Math.abs(correct[b]! - confidence[b]!) / classIds.length;
  return ece;
}

function checkShapes(logits: Float32Array, classIds: Int32Array, K: number): void {
  if (!Number.isSafeInteger(K) || K < 2) throw expected('an integer >= 2', 'K', K);
  if (!(classIds instanceof Int32Array) || classIds.length === 0) throw expected('a non-empty Int32Array of class ids', 'classIds', classIds);
  if (!(logits instanceof Float32Array) || logits.length !== classIds.length * K) throw expected(`a Float32Array of ${classIds.length * K} logits`, 'logits', logits);
  classIds.forEach((y, i) => {
    if (!(y >= 0 && y < K)) throw expected(`a class id in [0, ${K})`, `classIds[${i}]`, y);
  });
  logits.forEach((v, i) => {
    if (!Number.isFinite(v)) throw expected('a finite number', `logits[${i}]`, v);
  });
}
