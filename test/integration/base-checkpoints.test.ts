// Base checkpoints as they are published: DistilBertForMaskedLM (no head,
// MLM tensors beside the encoder) and DistilBertModel (no "distilbert." prefix).
// Trainer initialises a fresh head and says so; Classifier refuses them.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { Classifier, Trainer, readSafetensors, writeSafetensors } from '../../lib/index.js';
import { copyCheckpoint } from '../helpers/checkpoint-copy.js';
import { golden } from '../helpers/golden.js';
import { binaryExamples } from '../helpers/synthetic.js';

async function baseCheckpoint(kind: 'masked-lm' | 'bare'): Promise<string> {
  const dir = copyCheckpoint('tiny');
  const file = join(dir, 'model.safetensors');
  const { tensors } = await readSafetensors(file);
  const out: typeof tensors = {};
  for (const [name, t] of Object.entries(tensors)) {
    if (name.startsWith('pre_classifier') || name.startsWith('classifier')) continue;
    out[kind === 'bare' ? name.replace(/^distilbert\./, '') : name] = t;
  }
  if (kind === 'masked-lm') {
    // The MLM head, as transformers saves it (vocab_projector.weight is tied, so absent).
    const g = golden('tiny');
    for (const name of ['vocab_transform.weight', 'vocab_transform.bias', 'vocab_layer_norm.weight', 'vocab_layer_norm.bias', 'vocab_projector.bias']) {
      const t = g.tensors.get(`mlm.params.${name}`)!;
      out[name] = { dtype: 'F32', shape: t.shape, data: t.data as Float32Array };
    }
  }
  await writeSafetensors(file, out, { format: 'pt' });
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  delete config.id2label;
  delete config.label2id;
  delete config.problem_type;
  config.architectures = [kind === 'bare' ? 'DistilBertModel' : 'DistilBertForMaskedLM'];
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  return dir;
}

describe.each(['masked-lm', 'bare'] as const)('a %s checkpoint', (kind) => {
  it('Classifier.load says it has no head and points to Trainer', async () => {
    const dir = await baseCheckpoint(kind);
    const error = await Classifier.load(dir, { device: 'cpu' }).catch((e: unknown) => e as { code: string; message: string });
    expect(error).toMatchObject({ code: 'ERR_MISSING_TENSOR' });
    expect((error as { message: string }).message).toMatch(/no classification head \(pre_classifier, classifier\); Classifier needs a fine-tuned checkpoint: train one from this base with Trainer/);
  });

  it('Trainer initialises a fresh head, says so, and learns', async () => {
    const dir = await baseCheckpoint(kind);
    using trainer = new Trainer({ model: dir, epochs: 5, learningRate: 3e-3, precision: 'fp32', device: 'cpu', seed: 1, lora: { r: 8, targetModules: 'all-linear' } });
    const notices: string[] = [];
    trainer.on('notice', (n: string) => notices.push(n));
    const result = await trainer.train(binaryExamples(240, 1), { evalExamples: binaryExamples(80, 2) });
    // (The synthetic sets share texts, so a leakage notice comes too.)
    const head = notices.filter((n) => !/evaluation texts also appear/.test(n));
    expect(head).toEqual([expect.stringMatching(/no classification head: pre_classifier and classifier were initialised fresh \(normal, std 0\.02/)]);
    expect(result.headNotice).toBe(head[0]);
    expect((result.finalEvaluation as { accuracy: number }).accuracy).toBeGreaterThanOrEqual(0.8);
    const out = mkdtempSync(join(tmpdir(), 'lora-node-base-merged-'));
    await trainer.saveMerged(out);
    using clf = await Classifier.load(out, { device: 'cpu' });
    expect(clf.labels).toEqual(['negative', 'positive']);
    expect(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).architectures).toEqual(['DistilBertForSequenceClassification']);
  });
});

describe('a checkpoint whose head has another number of labels', () => {
  it('gets a fresh head sized for the data', async () => {
    using trainer = new Trainer({ model: golden('tiny').checkpoint, epochs: 1, precision: 'fp32', device: 'cpu' });
    const result = await trainer.train(binaryExamples(32, 1));
    expect(result.headNotice).toMatch(/head has 3 labels and the data has 2/);
  });
});

describe('bf16 training', () => {
  it('reaches the fp32 run held-out accuracy within 0.1', async () => {
    const run = async (precision: 'fp32' | 'bf16') => {
      using trainer = new Trainer({ model: golden('tiny').checkpoint, epochs: 5, learningRate: 3e-3, precision, device: 'cpu', seed: 1, lora: { r: 8, targetModules: 'all-linear' } });
      const r = await trainer.train(binaryExamples(240, 1), { evalExamples: binaryExamples(80, 2) });
      return (r.finalEvaluation as { accuracy: number }).accuracy;
    };
    const fp32 = await run('fp32');
    const bf16 = await run('bf16');
    expect(fp32).toBeGreaterThanOrEqual(0.85);
    expect(Math.abs(bf16 - fp32)).toBeLessThanOrEqual(0.1);
  });
});
