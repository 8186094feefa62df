// DistilBertForMaskedLM against the independent float64 reference (mlm.* in
// test/fixtures/<set>/golden.safetensors). Tolerances are the fixtures' suggested
// ones for float32: logits and loss 1e-5 absolute, gradients 1e-4 relative to the
// tensor's max |value|. The tied embedding's gradient is the sum of the input
// lookup and the output projection; real-vocab stores it in part (rows + column norms).
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { MaskedLanguageModel, readSafetensors } from '../../lib/index.js';
import { GOLDEN_SETS, golden, maxAbs, maxAbsDiff } from '../helpers/golden.js';
import { MLM_HEAD, maskedLmCheckpoint } from '../helpers/mlm-checkpoint.js';

const LOGITS_ABS = 1e-5;
const LOSS_ABS = 1e-5;
const GRAD_REL = 1e-4;
const EMBEDDING = 'distilbert.embeddings.word_embeddings.weight';

describe.each(GOLDEN_SETS)('MLM golden set %s', (set) => {
  const g = golden(set);
  const [batchSize, seqLen] = g.shape('mlm.input_ids') as [number, number];
  const batch = { inputIds: g.int32('mlm.input_ids'), attentionMask: g.int32('mlm.attention_mask'), batchSize, seqLen };
  const labels = g.int32('mlm.labels');
  let dir: string;
  let model: MaskedLanguageModel;
  let out: Awaited<ReturnType<MaskedLanguageModel['forward']>>;

  beforeAll(async () => {
    dir = await maskedLmCheckpoint(set);
    model = await MaskedLanguageModel.load(dir, { lora: false, device: 'cpu', precision: 'fp32', threads: 2 });
    model.zeroGrad();
    out = await model.forward(batch, { labels, backward: true, allLogits: true });
  });
  afterAll(() => model.dispose());

  it('uses the checkpoint head and trains the encoder and head, the projector through the embedding', () => {
    expect(model.headNotice).toBe('');
    const names = model.trainableParameterNames();
    for (const name of [...MLM_HEAD, EMBEDDING]) expect(names).toContain(name);
    expect(names).not.toContain('vocab_projector.weight');
    expect(names.some((n) => n.includes('classifier'))).toBe(false);
  });

  it('loss and logits match', () => {
    expect(Math.abs(out.loss - g.float32('mlm.loss')[0]!)).toBeLessThan(LOSS_ABS);
    expect(out.count).toBe(g.json.mlm.masking.n_selected);
    const V = g.json.config.vocab_size as number;
    const logits = out.logits!;
    expect(logits).toHaveLength(batchSize * seqLen * V);
    if (g.tensors.has('mlm.logits_positions')) {
      // Partial storage: the rows of the labelled positions only.
      const positions = g.int32('mlm.logits_positions');
      const expected = g.float32('mlm.logits');
      for (let i = 0; i < positions.length / 2; i++) {
        const at = (positions[2 * i]! * seqLen + positions[2 * i + 1]!) * V;
        expect(maxAbsDiff(logits.subarray(at, at + V), expected.subarray(i * V, (i + 1) * V)), `position ${i}`).toBeLessThan(LOGITS_ABS);
      }
    } else {
      expect(maxAbsDiff(logits, g.float32('mlm.logits'))).toBeLessThan(LOGITS_ABS);
    }
  });

  it('gradients of the five head tensors match', () => {
    const grads = model.gradients();
    for (const name of MLM_HEAD) {
      const expected = g.float32(`mlm.grad.${name}`);
      expect(maxAbsDiff(grads[name]!, expected) / maxAbs(expected), name).toBeLessThan(GRAD_REL);
    }
  });

  it('the tied embedding gradient (lookup + projection) matches', () => {
    const grad = model.gradients()[EMBEDDING]!;
    const expected = g.float32(`mlm.grad.${EMBEDDING}`);
    const dim = g.json.config.dim as number;
    if (!g.tensors.has(`mlm.grad_rows.${EMBEDDING}`)) {
      expect(maxAbsDiff(grad, expected) / maxAbs(expected)).toBeLessThan(GRAD_REL);
      return;
    }
    const rows = g.int32(`mlm.grad_rows.${EMBEDDING}`);
    const ours = new Float32Array(rows.length * dim);
    rows.forEach((row, i) => ours.set(grad.subarray(row * dim, (row + 1) * dim), i * dim));
    expect(maxAbsDiff(ours, expected) / maxAbs(expected)).toBeLessThan(GRAD_REL);
    // Column norms over all V rows, accumulated in float64 as the fixture asks.
    const norms = new Float64Array(dim);
    for (let i = 0; i < grad.length; i++) norms[i % dim]! += grad[i]! * grad[i]!;
    const colnorm = g.float32(`mlm.grad_colnorm.${EMBEDDING}`);
    expect(maxAbsDiff(norms.map(Math.sqrt), colnorm) / maxAbs(colnorm)).toBeLessThan(GRAD_REL);
  });

  it('saves as transformers does and loads back with the same logits', async () => {
    const saved = mkdtempSync(join(tmpdir(), 'lora-node-mlm-save-'));
    await model.save(saved);
    const { tensors } = await readSafetensors(join(saved, 'model.safetensors'));
    const keys = Object.keys(tensors);
    for (const name of MLM_HEAD) expect(keys).toContain(name);
    expect(keys).not.toContain('vocab_projector.weight');
    expect(keys.filter((k) => !MLM_HEAD.includes(k)).every((k) => k.startsWith('distilbert.'))).toBe(true);
    const config = JSON.parse(readFileSync(join(saved, 'config.json'), 'utf8'));
    expect(config.architectures).toEqual(['DistilBertForMaskedLM']);
    expect(config.id2label).toBeUndefined();
    using again = await MaskedLanguageModel.load(saved, { device: 'cpu', precision: 'fp32' });
    expect(again.headNotice).toBe('');
    const back = await again.forward(batch, { labels, allLogits: true });
    expect(maxAbsDiff(back.logits!, out.logits!)).toBeLessThan(LOGITS_ABS);
  });
});
