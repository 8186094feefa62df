// LoRA forward, loss and gradients against the PEFT-following reference, and
// adapters / merged checkpoints written and read back.
// Tolerances (fixtures' suggested, float32): logits and loss 1e-5 absolute,
// gradients 1e-4 relative to the tensor's max |value|.
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Classifier, Model, readSafetensors } from '../../lib/index.js';
import { FIXTURES, GOLDEN_SETS, golden, maxAbs, maxAbsDiff } from '../helpers/golden.js';

const LOGITS_ABS = 1e-5;
const LOSS_ABS = 1e-5;
const GRAD_REL = 1e-4;

describe.each(GOLDEN_SETS)('LoRA golden set %s', (set) => {
  const g = golden(set);
  const adapterDir = join(FIXTURES, set, 'lora_adapter');
  const [batchSize, seqLen] = g.shape('padded.input_ids') as [number, number];
  const batch = { inputIds: g.int32('padded.input_ids'), attentionMask: g.int32('padded.attention_mask'), batchSize, seqLen };
  const labelsTensor = g.tensors.get('padded.labels')!;
  const labels = labelsTensor.dtype === 'I64' ? g.int32('padded.labels') : g.float32('padded.labels');
  let model: Model;

  beforeAll(async () => {
    model = await Model.load(g.checkpoint, { adapter: adapterDir, device: 'cpu', precision: 'fp32', threads: 2 });
  });
  afterAll(() => model.dispose());

  it('trains exactly the parameters PEFT trains', () => {
    expect(model.trainableParameterNames().sort()).toEqual([...g.json.lora.trainable_parameters].sort());
  });

  it('logits, loss and every gradient match', async () => {
    model.zeroGrad();
    const out = await model.forward(batch, { labels, backward: true });
    expect(maxAbsDiff(out.logits, g.float32('lora.logits'))).toBeLessThan(LOGITS_ABS);
    expect(Math.abs(out.loss! - g.float32('lora.loss')[0]!)).toBeLessThan(LOSS_ABS);
    const grads = model.gradients();
    const names: string[] = g.json.lora.trainable_parameters;
    for (const name of names) {
      const expected = g.float32(`lora.grad.${name}`);
      expect(maxAbsDiff(grads[name]!, expected) / maxAbs(expected), name).toBeLessThan(GRAD_REL);
    }
  });

  it('gradients accumulate across backward calls until zeroGrad()', async () => {
    model.zeroGrad();
    await model.forward(batch, { labels, backward: true });
    await model.forward(batch, { labels, backward: true });
    const name = g.json.lora.trainable_parameters[0] as string;
    const expected = g.float32(`lora.grad.${name}`).map((v) => 2 * v);
    expect(maxAbsDiff(model.gradients()[name]!, expected) / maxAbs(expected)).toBeLessThan(GRAD_REL);
    model.zeroGrad();
    expect(maxAbs(model.gradients()[name]!)).toBe(0);
  });

  it('rsLoRA scales by alpha/√r', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lora-node-rslora-'));
    cpSync(adapterDir, dir, { recursive: true });
    const config = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8'));
    writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify({ ...config, use_rslora: true }));
    using rs = await Model.load(g.checkpoint, { adapter: dir, device: 'cpu', precision: 'fp32' });
    const out = await rs.forward(batch, { labels });
    expect(maxAbsDiff(out.logits, g.float32('rslora.logits'))).toBeLessThan(LOGITS_ABS);
    expect(Math.abs(out.loss! - g.float32('rslora.loss')[0]!)).toBeLessThan(LOSS_ABS);
  });

  it('saveAdapter writes PEFT keys and values that load back to the same logits', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lora-node-adapter-'));
    await model.saveAdapter(dir);
    const written = await readSafetensors(join(dir, 'adapter_model.safetensors'));
    const original = await readSafetensors(join(adapterDir, 'adapter_model.safetensors'));
    expect(written.metadata).toEqual({ format: 'pt' });
    expect(Object.keys(written.tensors).sort()).toEqual(Object.keys(original.tensors).sort());
    for (const [name, t] of Object.entries(original.tensors)) expect(written.tensors[name]!.data, name).toEqual(t.data);
    const config = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8'));
    expect(config).toMatchObject({ peft_type: 'LORA', task_type: 'SEQ_CLS', r: 4, lora_alpha: 8, target_modules: ['q_lin', 'v_lin'], bias: 'none', use_rslora: false, fan_in_fan_out: false });
    using again = await Model.load(g.checkpoint, { adapter: dir, device: 'cpu', precision: 'fp32' });
    expect(maxAbsDiff((await again.forward(batch)).logits, g.float32('lora.logits'))).toBeLessThan(LOGITS_ABS);
  });

  it('a merged checkpoint gives the LoRA logits through Classifier, and unmerge restores the weights', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lora-node-merged-'));
    await model.saveMerged(dir);
    using clf = await Classifier.load(dir, { device: 'cpu', precision: 'fp32' });
    expect(maxAbsDiff(await clf.logits(batch), g.float32('lora.logits'))).toBeLessThan(LOGITS_ABS);
    // saveMerged unmerges afterwards: the model still computes the unmerged forward.
    expect(maxAbsDiff((await model.forward(batch)).logits, g.float32('lora.logits'))).toBeLessThan(LOGITS_ABS);
    using withAdapter = await Classifier.load(g.checkpoint, { adapter: adapterDir, device: 'cpu', precision: 'fp32' });
    expect(maxAbsDiff(await withAdapter.logits(batch), g.float32('lora.logits'))).toBeLessThan(LOGITS_ABS);
  });

  it('every loss type on padded.logits', async () => {
    using base = await Model.load(g.checkpoint, { device: 'cpu', precision: 'fp32' });
    const cases = [
      ['cross_entropy', 'ce'],
      ['cross_entropy_ignore_index', 'ce'],
      ['bce_with_logits', 'bce'],
      ['mse', 'mse'],
    ] as const;
    for (const [name, kind] of cases) {
      const t = g.tensors.get(`losses.${name}.labels`)!;
      const caseLabels = t.dtype === 'I64' ? g.int32(`losses.${name}.labels`) : g.float32(`losses.${name}.labels`);
      const out = await base.forward(batch, { labels: caseLabels, lossKind: kind });
      expect(maxAbsDiff(out.logits, g.float32('padded.logits'))).toBeLessThan(LOGITS_ABS);
      expect(Math.abs(out.loss! - g.float32(`losses.${name}.value`)[0]!), name).toBeLessThan(LOSS_ABS);
    }
  });
});
