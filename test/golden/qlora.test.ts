// QLoRA against the bitsandbytes/PEFT-following reference: a 4-bit checkpoint
// as transformers + bitsandbytes save it (test/fixtures/<set>/model_nf4.safetensors
// merged into the checkpoint), and the same model quantized on load.
// Tolerances: logits and loss 1e-5 absolute, gradients 1e-4 relative to max |value|.
import { cpSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { Classifier, Model, readSafetensors, writeSafetensors } from '../../lib/index.js';
import { rejectsWith } from '../helpers/errors.js';
import { FIXTURES, GOLDEN_SETS, golden, maxAbs, maxAbsDiff } from '../helpers/golden.js';

const LOGITS_ABS = 1e-5;
const LOSS_ABS = 1e-5;
const GRAD_REL = 1e-4;

/** The checkpoint with its block linears replaced by the bitsandbytes 4-bit entries. */
async function fourBitCheckpoint(set: (typeof GOLDEN_SETS)[number]): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), `lora-node-nf4-${set}-`));
  cpSync(golden(set).checkpoint, dir, { recursive: true });
  const full = await readSafetensors(join(dir, 'model.safetensors'));
  const nf4 = await readSafetensors(join(FIXTURES, set, 'model_nf4.safetensors'));
  const tensors = { ...full.tensors };
  for (const name of Object.keys(nf4.tensors)) if (name.endsWith('.weight')) delete tensors[name];
  Object.assign(tensors, nf4.tensors);
  await writeSafetensors(join(dir, 'model.safetensors'), tensors, { format: 'pt' });
  return dir;
}

describe.each(GOLDEN_SETS)('QLoRA golden set %s', (set) => {
  const g = golden(set);
  const [batchSize, seqLen] = g.shape('padded.input_ids') as [number, number];
  const batch = { inputIds: g.int32('padded.input_ids'), attentionMask: g.int32('padded.attention_mask'), batchSize, seqLen };
  const labels = g.tensors.get('padded.labels')!.dtype === 'I64' ? g.int32('padded.labels') : g.float32('padded.labels');
  const adapter = join(FIXTURES, set, 'lora_adapter');

  it('a bitsandbytes 4-bit checkpoint: base logits, LoRA logits, loss and gradients match', async () => {
    const dir = await fourBitCheckpoint(set);
    using base = await Model.load(dir, { device: 'cpu', precision: 'fp32' });
    expect(base.info.quantized).toBe(true);
    const b = await base.forward(batch, { labels });
    expect(maxAbsDiff(b.logits, g.float32('qlora.base_logits'))).toBeLessThan(LOGITS_ABS);
    expect(Math.abs(b.loss! - g.float32('qlora.base_loss')[0]!)).toBeLessThan(LOSS_ABS);

    using model = await Model.load(dir, { adapter, device: 'cpu', precision: 'fp32' });
    const out = await model.forward(batch, { labels, backward: true });
    expect(maxAbsDiff(out.logits, g.float32('qlora.logits'))).toBeLessThan(LOGITS_ABS);
    expect(Math.abs(out.loss! - g.float32('qlora.loss')[0]!)).toBeLessThan(LOSS_ABS);
    const grads = model.gradients();
    for (const name of g.json.lora.trainable_parameters as string[]) {
      const expected = g.float32(`qlora.grad.${name}`);
      expect(maxAbsDiff(grads[name]!, expected) / maxAbs(expected), name).toBeLessThan(GRAD_REL);
    }
  });

  it('quantizing on load gives the same model as the saved 4-bit checkpoint', async () => {
    using model = await Model.load(g.checkpoint, {
      adapter,
      device: 'cpu',
      precision: 'fp32',
      quantization: { type: 'nf4', blockSize: 64, doubleQuant: true },
    });
    const out = await model.forward(batch, { labels });
    expect(maxAbsDiff(out.logits, g.float32('qlora.logits'))).toBeLessThan(LOGITS_ABS);
  });

  it('holds about half a byte per base linear weight', async () => {
    using model = await Model.load(g.checkpoint, { device: 'cpu', precision: 'fp32', quantization: {} });
    const perParam = model.info.baseLinearBytes / model.info.baseLinearParams;
    // 0.5 for the codes + 1 byte per 64 for the 8-bit absmax + the nested statistics.
    expect(perParam).toBeGreaterThan(0.5);
    expect(perParam).toBeLessThan(0.55);
  });
});

describe('4-bit checkpoints written and read back', () => {
  it('saveMerged keeps a 4-bit base in 4 bits, re-quantized with the LoRA update, and Classifier reads it', async () => {
    const g = golden('tiny');
    const [batchSize, seqLen] = g.shape('padded.input_ids') as [number, number];
    const batch = { inputIds: g.int32('padded.input_ids'), attentionMask: g.int32('padded.attention_mask'), batchSize, seqLen };
    using model = await Model.load(g.checkpoint, { adapter: join(FIXTURES, 'tiny', 'lora_adapter'), device: 'cpu', precision: 'fp32', quantization: {} });
    const out = mkdtempSync(join(tmpdir(), 'lora-node-nf4-merged-'));
    await model.saveMerged(out);
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    expect(config.quantization_config).toMatchObject({ quant_method: 'bitsandbytes', load_in_4bit: true, bnb_4bit_quant_type: 'nf4', bnb_4bit_use_double_quant: true });
    const saved = await readSafetensors(join(out, 'model.safetensors'));
    const q = 'distilbert.transformer.layer.0.attention.q_lin.weight';
    expect(saved.tensors[q]!.dtype).toBe('U8');
    expect(saved.tensors[q]!.shape).toEqual([512, 1]);
    expect(Object.keys(saved.tensors)).toContain(`${q}.quant_state.bitsandbytes__nf4`);
    using clf = await Classifier.load(out, { device: 'cpu', precision: 'fp32' });
    const merged = await clf.logits(batch);
    const unmerged = (await model.forward(batch)).logits;
    // Re-quantizing the merged weight rounds it again. That costs about as much as
    // quantizing did in the first place: compare with 4-bit vs full-precision LoRA.
    const quantizationError = maxAbsDiff(g.float32('qlora.logits'), g.float32('lora.logits'));
    expect(maxAbsDiff(merged, unmerged)).toBeLessThan(2 * quantizationError);
    // saveMerged unmerged the model again: the exact 4-bit codes are back.
    expect(maxAbsDiff(unmerged, g.float32('qlora.logits'))).toBeLessThan(LOGITS_ABS);
  });

  it('a corrupted quant_state or a missing absmax is a clear error', async () => {
    const dir = await fourBitCheckpoint('tiny');
    const file = join(dir, 'model.safetensors');
    const { tensors } = await readSafetensors(file);
    const key = 'distilbert.transformer.layer.0.attention.q_lin.weight.quant_state.bitsandbytes__nf4';
    const bad = { ...tensors, [key]: { dtype: 'U8' as const, shape: [4], data: new TextEncoder().encode('{"qu') } };
    await writeSafetensors(file, bad, { format: 'pt' });
    await rejectsWith(Classifier.load(dir, { device: 'cpu' }), 'ERR_CONFIG', /q_lin\.weight|quant_state/);
    const missing = { ...tensors };
    delete missing['distilbert.transformer.layer.0.attention.q_lin.weight.quant_state.bitsandbytes__nf4'];
    await writeSafetensors(file, missing, { format: 'pt' });
    await rejectsWith(Classifier.load(dir, { device: 'cpu' }), 'ERR_MISSING_TENSOR', /quant_state .* is missing/);
  });

  it('bad quantization options name the option', async () => {
    await rejectsWith(Model.load(golden('tiny').checkpoint, { quantization: { blockSize: 48 } }), 'ERR_INVALID_ARGUMENT', /blockSize/);
    await rejectsWith(Model.load(golden('tiny').checkpoint, { quantization: { type: 'int4' as 'nf4' } }), 'ERR_INVALID_ARGUMENT', /options\.type|type/);
    await rejectsWith(Model.load(golden('tiny').checkpoint, { quantization: {}, lora: false }), 'ERR_INVALID_ARGUMENT', /4-bit weights train only through LoRA/);
  });
});

describe('Quantizer.quantizeModel', () => {
  it('writes the same 4-bit tensors as the bitsandbytes reference, and the result classifies like the golden 4-bit model', async () => {
    const { Quantizer } = await import('../../lib/index.js');
    const g = golden('tiny');
    const out = mkdtempSync(join(tmpdir(), 'lora-node-quantized-'));
    await Quantizer.quantizeModel(g.checkpoint, out, { type: 'nf4', blockSize: 64, doubleQuant: true });
    const written = await readSafetensors(join(out, 'model.safetensors'));
    const reference = await readSafetensors(join(FIXTURES, 'tiny', 'model_nf4.safetensors'));
    for (const [name, t] of Object.entries(reference.tensors)) {
      expect(written.tensors[name], name).toBeDefined();
      expect(Array.from(written.tensors[name]!.data as ArrayLike<number>), name).toEqual(Array.from(t.data as ArrayLike<number>));
    }
    const [batchSize, seqLen] = g.shape('padded.input_ids') as [number, number];
    using clf = await Classifier.load(out, { device: 'cpu', precision: 'fp32' });
    const logits = await clf.logits({ inputIds: g.int32('padded.input_ids'), attentionMask: g.int32('padded.attention_mask'), batchSize, seqLen });
    expect(maxAbsDiff(logits, g.float32('qlora.base_logits'))).toBeLessThan(LOGITS_ABS);
  });
});

describe('Quantizer.quantizeModel with skip', () => {
  it('keeps the skipped linears in full precision and classifies like a hand-mixed 4-bit checkpoint', async () => {
    const { Quantizer } = await import('../../lib/index.js');
    const g = golden('tiny');
    const out = mkdtempSync(join(tmpdir(), 'lora-node-quantized-skip-'));
    await Quantizer.quantizeModel(g.checkpoint, out, { skip: ['lin2'] });
    const written = (await readSafetensors(join(out, 'model.safetensors'))).tensors;
    const full = (await readSafetensors(join(g.checkpoint, 'model.safetensors'))).tensors;
    const reference = (await readSafetensors(join(FIXTURES, 'tiny', 'model_nf4.safetensors'))).tensors;
    // The hand-mixed checkpoint: the reference's 4-bit entries for every block linear but lin2.
    const mixed = { ...full };
    for (const [name, t] of Object.entries(reference)) {
      if (name.includes('.ffn.lin2.')) continue;
      if (name.endsWith('.weight')) delete mixed[name];
      mixed[name] = t;
    }
    expect(Object.keys(written).sort()).toEqual(Object.keys(mixed).sort());
    const lin2 = 'distilbert.transformer.layer.0.ffn.lin2.weight';
    expect(written[lin2]!.dtype).toBe('F32');
    expect(Array.from(written[lin2]!.data as Float32Array)).toEqual(Array.from(new Float32Array(full[lin2]!.data as Float32Array)));
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    expect(config.quantization_config.llm_int8_skip_modules).toEqual(['pre_classifier', 'classifier', 'lin2']);

    const mixedDir = mkdtempSync(join(tmpdir(), 'lora-node-mixed-'));
    cpSync(g.checkpoint, mixedDir, { recursive: true });
    await writeSafetensors(join(mixedDir, 'model.safetensors'), mixed, { format: 'pt' });
    const [batchSize, seqLen] = g.shape('padded.input_ids') as [number, number];
    const batch = { inputIds: g.int32('padded.input_ids'), attentionMask: g.int32('padded.attention_mask'), batchSize, seqLen };
    using fromSkip = await Classifier.load(out, { device: 'cpu', precision: 'fp32' });
    using fromMixed = await Classifier.load(mixedDir, { device: 'cpu', precision: 'fp32' });
    using allFourBit = await Classifier.load(g.checkpoint, { device: 'cpu', precision: 'fp32', quantization: {} });
    const skipLogits = await fromSkip.logits(batch);
    expect(maxAbsDiff(skipLogits, await fromMixed.logits(batch))).toBeLessThan(LOGITS_ABS);
    // The skipped lin2 makes a visible difference from quantizing everything.
    expect(maxAbsDiff(skipLogits, await allFourBit.logits(batch))).toBeGreaterThan(LOGITS_ABS);
  });

  it('a skip entry that names no linear, or a skip that is not a list, is a clear error', async () => {
    const { Quantizer } = await import('../../lib/index.js');
    const out = mkdtempSync(join(tmpdir(), 'lora-node-quantized-skip-bad-'));
    await rejectsWith(Quantizer.quantizeModel(golden('tiny').checkpoint, out, { skip: ['lin3'] }), 'ERR_CONFIG', /"lin3" matches none/);
    await rejectsWith(Quantizer.quantizeModel(golden('tiny').checkpoint, out, { skip: 'lin2' as unknown as string[] }), 'ERR_INVALID_ARGUMENT', /options\.skip/);
    await rejectsWith(Quantizer.quantizeModel(golden('tiny').checkpoint, out, { skip: [''] }), 'ERR_INVALID_ARGUMENT', /options\.skip\[0\]/);
  });
});
