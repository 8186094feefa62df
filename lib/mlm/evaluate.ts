// Held-out masked-token loss and accuracy. The masks are drawn once per example
// from a fixed stream (epoch -1, which training never uses), so every evaluation
// of a run scores the same positions.
import type { MaskedLmReport } from '../metrics/masked-lm.js';
import { loadAddon } from '../native/loader.js';
import type { NativeMaskingSpec, NativeModelHandle } from '../native/types.js';
import { paddedBatch } from '../trainer/evaluate.js';
import type { PackedText } from './packing.js';

export type { MaskedLmReport };


export const EVAL_EPOCH = -1;

export async function evaluateMaskedLm(
  handle: NativeModelHandle,
  data: PackedText,
  spec: NativeMaskingSpec,
  options: { batchSize: number; padTokenId: number; seed: number },
): Promise<MaskedLmReport> {
  const addon = loadAddon();
  let lossSum = 0;
  let correct = 0;
  let count = 0;
  for (let start = 0; start < data.count; start += options.batchSize) {
    const end = Math.min(start + options.batchSize, data.count);
    const b = paddedBatch({ ...data, labels: new Int32Array(0) }, start, end, options.padTokenId);
    const examples = Int32Array.from({ length: end - start }, (_, i) => start + i);
    const masked = addon.maskTokens(b.inputIds, b.attentionMask, b.batchSize, b.seqLen, { spec, seed: options.seed, epoch: EVAL_EPOCH, examples });
    const out = await addon.maskedLmForward(handle, masked.inputIds, b.attentionMask, masked.labels, b.batchSize, b.seqLen);
    lossSum += out.loss * out.count;
    correct += out.correct;
    count += out.count;
  }
  return { kind: 'masked-lm', loss: count > 0 ? lossSum / count : NaN, accuracy: count > 0 ? correct / count : NaN, tokens: count };
}
