// Training data in the form the native loop takes: token ids without padding
// (tokenized once, here), labels encoded for the task, and loss weights.
import { LoraNodeError, describeReceived, expected } from '../errors.js';
import { type Example, encodeLabels } from '../data/examples.js';
import { type EncodedFeatures, encodeFeatures } from '../features/encode.js';
import type { FeatureSchema } from '../features/schema.js';
import type { Task } from '../task.js';
import type { TextTokenizer } from '../tokenizer.js';

export interface PreparedData {
  ids: Int32Array;
  offsets: Int32Array;
  labels: Int32Array | Float32Array;
  count: number;
  /** Encoded features (risk head), also passed to the native trainer as its two arrays. */
  features?: EncodedFeatures;
  numericFeatures?: Float32Array;
  categoricalFeatures?: Int32Array;
}

/** Every example must be { text: non-empty string, label }; errors name the set and index. */
export function checkExamples(examples: unknown, name: string): Example[] {
  if (!Array.isArray(examples)) throw expected('an array of { text, label } examples', name, examples);
  if (examples.length === 0) throw expected('a non-empty array of examples', name, examples);
  examples.forEach((e, i) => {
    if (typeof e !== 'object' || e === null) throw expected('an object { text, label }', `${name}[${i}]`, e);
    const text = (e as { text?: unknown }).text;
    if (typeof text !== 'string' || text.trim().length === 0)
      throw new LoraNodeError('ERR_DATA', `${name}[${i}]: Expected a non-empty string for text but received ${describeReceived(text)}`);
    if (!('label' in e)) throw new LoraNodeError('ERR_DATA', `${name}[${i}]: Expected a label but the example has none`);
  });
  return examples as Example[];
}

/** Tokenizes texts (truncated to maxLength) into back-to-back ids with N + 1 offsets. */
export function tokenizeRagged(tokenizer: TextTokenizer, texts: readonly string[], maxLength: number): { ids: Int32Array; offsets: Int32Array } {
  const offsets = new Int32Array(texts.length + 1);
  const chunks: Int32Array[] = [];
  let total = 0;
  const CHUNK = 256;
  for (let start = 0; start < texts.length; start += CHUNK) {
    const batch = tokenizer.encodeBatch(texts.slice(start, start + CHUNK), { maxLength });
    for (let row = 0; row < batch.batchSize; row++) {
      const mask = batch.attentionMask.subarray(row * batch.seqLen, (row + 1) * batch.seqLen);
      const length = mask.lastIndexOf(1) + 1;
      chunks.push(batch.inputIds.slice(row * batch.seqLen, row * batch.seqLen + length));
      total += length;
      offsets[start + row + 1] = total;
    }
  }
  const ids = new Int32Array(total);
  let at = 0;
  for (const c of chunks) {
    ids.set(c, at);
    at += c.length;
  }
  return { ids, offsets };
}

export function prepareData(
  examples: Example[],
  labels: readonly string[],
  task: Task,
  tokenizer: TextTokenizer,
  maxLength: number,
  features?: { schema: FeatureSchema | undefined; name: string },
): PreparedData {
  const encoded = encodeLabels(examples, labels, task);
  const { ids, offsets } = tokenizeRagged(tokenizer, examples.map((e) => e.text), maxLength);
  const data: PreparedData = { ids, offsets, labels: encoded, count: examples.length };
  // --- features (lib/features/): encoded with the training set's schema ---
  if (features?.schema) {
    const f = encodeFeatures(features.schema, examples.map((e) => e.features), features.name, 'ERR_DATA');
    data.features = f;
    if (f.numericWidth > 0) data.numericFeatures = f.numeric;
    if (f.categoricalWidth > 0) data.categoricalFeatures = f.categorical;
  } else if (features) {
    const i = examples.findIndex((e) => e.features !== undefined);
    if (i >= 0) throw new LoraNodeError('ERR_DATA', `${features.name}[${i}] has features but the training examples have none`);
  }
  return data;
}

/**
 * Loss weights. Cross-entropy: 'balanced' gives n / (K · count_k) as sklearn's
 * compute_class_weight. Multi-label: pos_weight per label, 'balanced' = negatives / positives.
 */
export function lossWeights(
  option: 'balanced' | number[] | undefined,
  task: Task,
  labels: Int32Array | Float32Array,
  K: number,
): { classWeights?: Float32Array; posWeight?: Float32Array } {
  if (option === undefined || task === 'regression') return {};
  if (Array.isArray(option) && option.length !== K)
    throw expected(`${K} weights (one per label)`, 'options.classWeights', option);
  const n = task === 'multi-label' ? labels.length / K : labels.length;
  const positives = new Float64Array(K);
  if (task === 'multi-label') for (let i = 0; i < labels.length; i++) positives[i % K]! += labels[i]!;
  else for (const id of labels) positives[id]! += 1;
  if (option !== 'balanced') {
    const weights = Float32Array.from(option);
    return task === 'multi-label' ? { posWeight: weights } : { classWeights: weights };
  }
  if (task === 'multi-label')
    return { posWeight: Float32Array.from(positives, (p) => (p > 0 ? (n - p) / p : 1)) };
  return { classWeights: Float32Array.from(positives, (count) => (count > 0 ? n / (K * count) : 1)) };
}
