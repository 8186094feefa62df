// DistilBERT forward against the independent float64 reference in test/fixtures.
// Tolerances are the fixtures' suggested ones for a float32 implementation:
// logits 1e-5 and hidden states 5e-5 absolute; bf16 logits 2e-2 relative to max |logit|.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Classifier } from '../../lib/index.js';
import { GOLDEN_SETS, golden, maxAbs, maxAbsDiff } from '../helpers/golden.js';

const LOGITS_ABS = 1e-5;
const HIDDEN_ABS = 5e-5;
const BF16_REL = 2e-2;
const BATCHES = ['padded', 'garbage_pad', 'left_pad', 'single'] as const;

describe.each(GOLDEN_SETS)('golden set %s', (set) => {
  const g = golden(set);
  let fp32: Classifier;
  let bf16: Classifier;

  beforeAll(async () => {
    fp32 = await Classifier.load(g.checkpoint, { device: 'cpu', precision: 'fp32', threads: 2 });
    bf16 = await Classifier.load(g.checkpoint, { device: 'cpu', precision: 'bf16', threads: 2 });
  });
  afterAll(() => {
    fp32.dispose();
    bf16.dispose();
  });

  const batchOf = (name: string) => {
    const [batchSize, seqLen] = g.shape(`${name}.input_ids`) as [number, number];
    return { inputIds: g.int32(`${name}.input_ids`), attentionMask: g.int32(`${name}.attention_mask`), batchSize, seqLen };
  };

  it.each(BATCHES)('%s: fp32 logits and every hidden state match', async (name) => {
    const out = await fp32.forwardWithHiddenStates(batchOf(name));
    expect(maxAbsDiff(out.logits, g.float32(`${name}.logits`))).toBeLessThan(LOGITS_ABS);
    const hidden = g.float32(`${name}.hidden_states`);
    const [layers] = g.shape(`${name}.hidden_states`) as [number];
    expect(out.hiddenStates).toHaveLength(layers);
    const size = hidden.length / layers;
    out.hiddenStates.forEach((h, i) => {
      expect(maxAbsDiff(h, hidden.subarray(i * size, (i + 1) * size)), `hidden state ${i}`).toBeLessThan(HIDDEN_ABS);
    });
  });

  it.each(BATCHES)('%s: bf16 logits stay within 2e-2 relative', async (name) => {
    const expected = g.float32(`${name}.logits`);
    const logits = await bf16.logits(batchOf(name));
    expect(maxAbsDiff(logits, expected) / maxAbs(expected)).toBeLessThan(BF16_REL);
  });

  it('each padded sequence alone gives padded.individual_logits', async () => {
    const { inputIds, attentionMask, batchSize, seqLen } = batchOf('padded');
    const expected = g.float32('padded.individual_logits');
    const K = fp32.labels.length;
    for (let b = 0; b < batchSize; b++) {
      const row = Array.from(attentionMask.subarray(b * seqLen, (b + 1) * seqLen));
      const length = row.lastIndexOf(1) + 1;
      const ids = inputIds.slice(b * seqLen, b * seqLen + length);
      const logits = await fp32.logits({ inputIds: ids, attentionMask: new Int32Array(length).fill(1), batchSize: 1, seqLen: length });
      expect(maxAbsDiff(logits, expected.subarray(b * K, (b + 1) * K))).toBeLessThan(LOGITS_ABS);
    }
  });

  it('predict() tokenizes like the reference and returns softmax/sigmoid of the golden logits', async () => {
    const texts: string[] = g.json.batches.padded.texts;
    const encoded = fp32.encode(texts);
    expect(Array.from(encoded.inputIds)).toEqual(Array.from(g.int32('padded.input_ids')));
    const predictions = await fp32.predict(texts, { batchSize: 3 });
    const logits = g.float32('padded.logits');
    const K = fp32.labels.length;
    predictions.forEach((p, b) => {
      const row = Array.from(logits.subarray(b * K, (b + 1) * K));
      const probs =
        fp32.task === 'multi-label'
          ? row.map((v) => 1 / (1 + Math.exp(-v)))
          : row.map((v) => Math.exp(v - Math.max(...row))).map((e, _, all) => e / all.reduce((s, x) => s + x, 0));
      fp32.labels.forEach((label, k) => expect(p.scores[label]).toBeCloseTo(probs[k]!, 5));
      const best = probs.indexOf(Math.max(...probs));
      expect(p.label).toBe(fp32.labels[best]);
      if (fp32.task === 'multi-label') expect(p.labels).toEqual(fp32.labels.filter((_, k) => probs[k]! > 0.5));
      expect(p.truncated).toBeUndefined();
    });
  });

  it('predict() marks a text longer than maxLength as truncated, and scores its beginning', async () => {
    const text: string = g.json.batches.padded.texts[0];
    const tokens = fp32.encode([text]).seqLen;
    using short = await Classifier.load(g.checkpoint, { precision: 'fp32', device: 'cpu', maxLength: tokens - 1 });
    const [cut] = await short.predict([text]);
    expect(cut!.truncated).toBe(true);
    const [whole] = await fp32.predict([text]);
    expect(whole!.truncated).toBeUndefined();
    // What the short model read is the text's first tokens: the same scores as those ids through the full model.
    const ids = fp32.encode([text]).inputIds;
    const first = Int32Array.from([...ids.subarray(0, tokens - 2), ids[tokens - 1]!]);
    const logits = await fp32.logits({ inputIds: first, attentionMask: new Int32Array(tokens - 1).fill(1), batchSize: 1, seqLen: tokens - 1 });
    const max = Math.max(...logits);
    const total = Array.from(logits).reduce((s, v) => s + Math.exp(v - max), 0);
    if (fp32.task !== 'multi-label') fp32.labels.forEach((label, k) => expect(cut!.scores[label]).toBeCloseTo(Math.exp(logits[k]! - max) / total, 5));
  });
});

describe('labels and task come from config.json', () => {
  it.each([
    ['tiny', 'multi-class', ['LABEL_0', 'LABEL_1', 'LABEL_2']],
    ['real-vocab', 'binary', ['NEGATIVE', 'POSITIVE']],
  ] as const)('%s', async (set, task, labels) => {
    using clf = await Classifier.load(golden(set).checkpoint, { device: 'cpu', precision: 'fp32' });
    expect(clf.task).toBe(task);
    expect(clf.labels).toEqual(labels);
  });

  it('small-multilabel is multi-label', async () => {
    using clf = await Classifier.load(golden('small-multilabel').checkpoint, { device: 'cpu', precision: 'fp32' });
    expect(clf.task).toBe('multi-label');
    expect(clf.labels).toHaveLength(5);
  });
});
