// MLM masking (native/core/mlm_masking.cpp) on a large sample over the real
// bert-base-uncased vocabulary: 15% selected, of those 80% [MASK] / 10% random /
// 10% unchanged (DataCollatorForLanguageModeling's rule), specials and padding
// never selected, whole words together, and the same masks for the same key.
import { describe, expect, it } from 'vitest';

import { TextTokenizer } from '../../lib/index.js';
import { maskingSpec, resolveMlmOptions } from '../../lib/mlm/masking.js';
import { addon } from '../helpers/addon.js';
import { caught, rejectsWith } from '../helpers/errors.js';
import { golden } from '../helpers/golden.js';
import { random } from '../helpers/synthetic.js';

const tokenizer = await TextTokenizer.fromDirectory(golden('real-vocab').checkpoint);
const spec = maskingSpec(tokenizer, resolveMlmOptions({}));
const wholeWord = maskingSpec(tokenizer, resolveMlmOptions({ wholeWordMasking: true }));
const { cls, sep, mask, pad } = tokenizer.specialTokenIds as { cls: number; sep: number; mask: number; pad: number };
const vocabulary = tokenizer.vocabulary();
const WORDS = vocabulary.map((t, id) => [t, id] as const).filter(([t, id]) => /^[a-z]{3,}$/.test(t) && !spec.special[id]).map(([, id]) => id);
const PIECES = vocabulary.map((t, id) => [t, id] as const).filter(([t]) => /^##[a-z]+$/.test(t)).map(([, id]) => id);

/** [CLS] words (some followed by "##" pieces) [SEP] [PAD]...: rows of varying length. */
function sample(B: number, T: number, seed: number) {
  const r = random(seed);
  const inputIds = new Int32Array(B * T).fill(pad);
  const attentionMask = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    const length = T - r(T / 4);
    const row = b * T;
    inputIds[row] = cls;
    for (let t = 1; t < length - 1; t++) inputIds[row + t] = r(3) === 0 && t > 1 ? PIECES[r(PIECES.length)]! : WORDS[r(WORDS.length)]!;
    inputIds[row + length - 1] = sep;
    attentionMask.fill(1, row, row + length);
  }
  return { inputIds, attentionMask, B, T };
}

const big = sample(256, 128, 1);
const masked = addon.maskTokens(big.inputIds, big.attentionMask, big.B, big.T, { spec, seed: 7, epoch: 0 });

describe('masking statistics', () => {
  it('selects 15% of the candidates: 80% [MASK], 10% random, 10% unchanged', () => {
    let candidates = 0;
    let selected = 0;
    let asMask = 0;
    let asRandom = 0;
    let kept = 0;
    for (let i = 0; i < big.inputIds.length; i++) {
      const original = big.inputIds[i]!;
      if (big.attentionMask[i] === 1 && !spec.special[original]) candidates++;
      const label = masked.labels[i]!;
      if (label === -100) {
        expect(masked.inputIds[i]).toBe(original); // unselected tokens are never changed
        continue;
      }
      selected++;
      expect(label).toBe(original);
      const now = masked.inputIds[i]!;
      if (now === mask) asMask++;
      else if (now === original) kept++;
      else {
        asRandom++;
        expect(spec.special[now]).toBe(0);
      }
    }
    expect(candidates).toBeGreaterThan(25000);
    // Binomial standard deviations: about 0.002 for the 15%, 0.006 / 0.005 for the shares below.
    expect(Math.abs(selected / candidates - 0.15)).toBeLessThan(0.01);
    expect(Math.abs(asMask / selected - 0.8)).toBeLessThan(0.025);
    expect(Math.abs(asRandom / selected - 0.1)).toBeLessThan(0.02);
    expect(Math.abs(kept / selected - 0.1)).toBeLessThan(0.02);
  });

  it('never selects special tokens or padding', () => {
    for (let i = 0; i < big.inputIds.length; i++) {
      if (big.attentionMask[i] === 0 || spec.special[big.inputIds[i]!]) {
        expect(masked.labels[i]).toBe(-100);
        expect(masked.inputIds[i]).toBe(big.inputIds[i]);
      }
    }
  });

  it('whole-word masking selects a word with all its "##" pieces, 15% of words', () => {
    const w = addon.maskTokens(big.inputIds, big.attentionMask, big.B, big.T, { spec: wholeWord, seed: 7, epoch: 0 });
    let words = 0;
    let selectedWords = 0;
    for (let b = 0; b < big.B; b++) {
      for (let t = 1; t < big.T; t++) {
        const i = b * big.T + t;
        if (big.attentionMask[i] === 0 || spec.special[big.inputIds[i]!]) continue;
        const isPiece = wholeWord.continuation![big.inputIds[i]!] === 1;
        if (isPiece) expect(w.labels[i] === -100, `piece at ${b},${t}`).toBe(w.labels[i - 1] === -100);
        else {
          words++;
          if (w.labels[i] !== -100) selectedWords++;
        }
      }
    }
    expect(Math.abs(selectedWords / words - 0.15)).toBeLessThan(0.012);
  });

  it('depends only on (seed, epoch, example key): same key, same masks in any batch', () => {
    const again = addon.maskTokens(big.inputIds, big.attentionMask, big.B, big.T, { spec, seed: 7, epoch: 0 });
    expect(again.labels).toEqual(masked.labels);
    expect(again.inputIds).toEqual(masked.inputIds);
    const otherSeed = addon.maskTokens(big.inputIds, big.attentionMask, big.B, big.T, { spec, seed: 8, epoch: 0 });
    const otherEpoch = addon.maskTokens(big.inputIds, big.attentionMask, big.B, big.T, { spec, seed: 7, epoch: 1 });
    expect(otherSeed.labels).not.toEqual(masked.labels);
    expect(otherEpoch.labels).not.toEqual(masked.labels);
    // Row 5 alone, keyed as example 5, is masked as it was inside the batch.
    const T = big.T;
    const row = addon.maskTokens(big.inputIds.slice(5 * T, 6 * T), big.attentionMask.slice(5 * T, 6 * T), 1, T, {
      spec, seed: 7, epoch: 0, examples: Int32Array.of(5),
    });
    expect(row.labels).toEqual(masked.labels.slice(5 * T, 6 * T));
  });

  it('rejects a spec that does not fit the vocabulary, with a clear message', () => {
    const short = { ...spec, special: spec.special.subarray(0, 10) };
    const error = caught(() => addon.maskTokens(big.inputIds, big.attentionMask, big.B, big.T, { spec: short, seed: 1, epoch: 0 }));
    expect(error.code).toBe('ERR_INVALID_ARGUMENT');
    expect(error.message).toMatch(/\[MASK\] id in \[0, 10\)|token ids in \[0, 10\)/);
    const noMask = caught(() => addon.maskTokens(big.inputIds, big.attentionMask, big.B, big.T, { spec: { ...spec, maskTokenId: -1 }, seed: 1, epoch: 0 }));
    expect(noMask.message).toMatch(/Expected a \[MASK\] id in \[0, 30522\) but received -1/);
  });
});

describe('the MLM head at the native boundary', () => {
  const tiny = golden('tiny');
  const ids = tiny.int32('mlm.input_ids');
  const mask = tiny.int32('mlm.attention_mask');
  const [B, T] = tiny.shape('mlm.input_ids') as [number, number];

  it('maskedLmForward needs a model loaded with maskedLm, and checks labels', async () => {
    const classifier = await addon.NativeModel.load(tiny.checkpoint, { device: 'cpu', precision: 'fp32', threads: 1 });
    expect(() => addon.maskedLmForward(classifier, ids, mask, tiny.int32('mlm.labels'), B, T)).toThrow(/Expected a model loaded as a masked language model/);
    classifier.dispose();
    const mlm = await addon.NativeModel.load(tiny.checkpoint, { device: 'cpu', precision: 'fp32', threads: 1, maskedLm: true });
    expect(mlm.info().maskedLm).toBe(true);
    expect(mlm.info().headNotice).toMatch(/no MLM head: vocab_transform, vocab_layer_norm and vocab_projector\.bias were initialised fresh/);
    await rejectsWith(addon.maskedLmForward(mlm, ids, mask, new Int32Array(B * T).fill(100), B, T), 'ERR_INVALID_ARGUMENT', /MLM labels in \[0, 100\) or -100/);
    expect(() => mlm.forward(ids, mask, B, T)).toThrow(/Expected a classifier but this model was loaded as a masked language model/);
    const none = await addon.maskedLmForward(mlm, ids, mask, new Int32Array(B * T).fill(-100), B, T);
    expect(none).toMatchObject({ loss: 0, count: 0, correct: 0 });
    mlm.dispose();
  });
});
