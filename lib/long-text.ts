// Texts longer than the model reads at once: split into overlapping windows of maxLength
// tokens (TextTokenizer.encodeWindows), each classified, their outputs combined per text.
//   'mean': the average of the windows' probabilities (regression: values);
//   'max' : the strongest evidence — binary: the highest P(second label) of any window;
//           multi-label: each label's highest probability; regression: the highest value.
// Risk content often hides its signal at the end (a link under a long message): 'max' finds it.
import { ArgumentError, expected } from './errors.js';
import type { Task } from './task.js';
import type { EncodedBatch, TextTokenizer } from './tokenizer.js';
import { isPlainObject, oneOf } from './validate.js';

export interface LongTextOptions {
  aggregate: 'mean' | 'max';
  /** Tokens neighbouring windows share. Default: a quarter of a window. */
  overlap?: number;
}

export interface ResolvedLongText {
  aggregate: 'mean' | 'max';
  overlap: number;
}

/** Checks options.longTexts for a model of `task` whose windows hold `room` text tokens. */
export function resolveLongText(value: unknown, task: Task, room: number): ResolvedLongText {
  if (!isPlainObject(value)) throw expected("{ aggregate: 'mean' | 'max', overlap? }", 'options.longTexts', value);
  const aggregate = oneOf(value.aggregate, ['mean', 'max'] as const, 'options.longTexts.aggregate');
  if (task === 'ordinal') throw new ArgumentError('Expected a task other than ordinal with options.longTexts (combining severity windows is not defined here)');
  if (aggregate === 'max' && task === 'multi-class')
    throw new ArgumentError("Expected aggregate 'mean' for a multi-class model (a per-label maximum is not a distribution) but received 'max'");
  const overlap = value.overlap === undefined ? Math.floor(room / 4) : value.overlap;
  if (typeof overlap !== 'number' || !Number.isSafeInteger(overlap) || overlap < 0 || overlap >= room)
    throw expected(`an integer in [0, ${room - 1}] (tokens shared by windows of ${room} text tokens)`, 'options.longTexts.overlap', overlap);
  return { aggregate, overlap };
}

/** One text's output from its windows' outputs (probabilities or values, one array per window). */
export function combineWindows(windows: readonly (readonly number[])[], task: Exclude<Task, 'ordinal'>, aggregate: 'mean' | 'max'): number[] {
  const K = windows[0]!.length;
  if (aggregate === 'mean') return Array.from({ length: K }, (_, k) => windows.reduce((s, w) => s + w[k]!, 0) / windows.length);
  if (task === 'binary') {
    const positive = Math.max(...windows.map((w) => w[1]!));
    return [1 - positive, positive];
  }
  return Array.from({ length: K }, (_, k) => Math.max(...windows.map((w) => w[k]!)));
}

/**
 * Every window of `texts`, batchSize windows at a time: batchSize texts are windowed at once
 * (memory stays bounded), and each batch comes with the index in `texts` of each row's text.
 */
export async function* windowBatches(
  tokenizer: TextTokenizer,
  texts: readonly string[],
  o: { maxLength: number; overlap: number; batchSize: number },
): AsyncGenerator<{ rows: EncodedBatch; owners: number[] }> {
  for (let first = 0; first < texts.length; first += o.batchSize) {
    const { batch, text } = tokenizer.encodeWindows(texts.slice(first, first + o.batchSize), { maxLength: o.maxLength, overlap: o.overlap });
    for (let start = 0; start < batch.batchSize; start += o.batchSize) {
      const end = Math.min(start + o.batchSize, batch.batchSize);
      const [from, to] = [start * batch.seqLen, end * batch.seqLen];
      const rows = { batchSize: end - start, seqLen: batch.seqLen, inputIds: batch.inputIds.subarray(from, to), attentionMask: batch.attentionMask.subarray(from, to) };
      yield { rows, owners: text.slice(start, end).map((t) => first + t) };
    }
  }
}
