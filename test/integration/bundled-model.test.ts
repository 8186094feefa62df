// The small pretrained DistilBERT shipped in models/ (bundledModelPath): a
// DistilBertForMaskedLM folder within the 20 MB budget, with bert-base-uncased's
// vocabulary, that predicts masked words of unseen text far above chance
// (1 in 30522) and is a working base for the demo's LoRA fine-tuning.
import { mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { MaskedLanguageModel, TextTokenizer, Trainer, bundledModelPath, loadExamples, loadTextFile, readSafetensors } from '../../lib/index.js';
import { DEMO_TRAINING } from '../../lib/cli/demo.js';
import { initMaskedLm } from '../../lib/mlm/init.js';
import { maskingSpec, resolveMlmOptions } from '../../lib/mlm/masking.js';
import { packTexts } from '../../lib/mlm/packing.js';
import { paddedBatch } from '../../lib/trainer/evaluate.js';
import { addon } from '../helpers/addon.js';
import { FIXTURES } from '../helpers/golden.js';

const EXAMPLES = join(import.meta.dirname, '..', '..', 'examples');

describe('the bundled pretrained DistilBERT', () => {
  it('is a DistilBertForMaskedLM folder of at most 20 MB, bf16 weights, bert-base-uncased vocabulary', async () => {
    const bytes = readdirSync(bundledModelPath).reduce((n, f) => n + statSync(join(bundledModelPath, f)).size, 0);
    expect(bytes).toBeLessThanOrEqual(20 * 1024 * 1024);
    const config = JSON.parse(readFileSync(join(bundledModelPath, 'config.json'), 'utf8'));
    expect(config.architectures).toEqual(['DistilBertForMaskedLM']);
    expect(config.vocab_size).toBe(30522);
    const vocab = readFileSync(join(bundledModelPath, 'vocab.txt'), 'utf8');
    expect(vocab).toBe(readFileSync(join(FIXTURES, 'real-vocab', 'checkpoint', 'vocab.txt'), 'utf8'));
    const { tensors } = await readSafetensors(join(bundledModelPath, 'model.safetensors'));
    expect(Object.values(tensors).every((t) => t.dtype === 'BF16')).toBe(true);
    expect(Object.keys(tensors)).not.toContain('vocab_projector.weight');
    expect(readFileSync(join(bundledModelPath, 'WORDNET-LICENSE.txt'), 'utf8')).toMatch(/WordNet 3\.0 Copyright 2006 by Princeton University/);
  });

  it('predicts masked words of unseen definitions far above chance', async () => {
    const tokenizer = await TextTokenizer.fromDirectory(bundledModelPath);
    const packed = packTexts(tokenizer, await loadTextFile(join(FIXTURES, 'mlm', 'definitions.txt')), 128);
    const spec = maskingSpec(tokenizer, resolveMlmOptions({}));
    const b = paddedBatch({ ...packed, labels: new Int32Array(0) }, 0, packed.count, tokenizer.padTokenId);
    let correct = 0;
    let count = 0;
    const seen = new Map<number, number>();
    using model = await MaskedLanguageModel.load(bundledModelPath, { device: 'cpu', precision: 'fp32' });
    expect(model.headNotice).toBe('');
    for (const seed of [1, 2, 3, 4]) {
      const masked = addon.maskTokens(b.inputIds, b.attentionMask, b.batchSize, b.seqLen, { spec, seed, epoch: 0 });
      const out = await model.forward({ ...b, inputIds: masked.inputIds }, { labels: masked.labels });
      correct += out.correct;
      count += out.count;
      for (const id of masked.labels) if (id !== -100) seen.set(id, (seen.get(id) ?? 0) + 1);
    }
    expect(count).toBeGreaterThan(150);
    // Chance is 1 in 30522; always answering the most frequent masked word would score `majority`.
    const majority = Math.max(...seen.values()) / count;
    expect(correct / count).toBeGreaterThan(0.1);
    expect(correct / count).toBeGreaterThan(1.5 * majority);
  });

  it('the demo fine-tuning (LoRA) from it beats the same fine-tuning from random weights, with 96 examples', async () => {
    const train = (await loadExamples(join(EXAMPLES, 'risk-messages.csv'))).slice(0, 96);
    const held = await loadExamples(join(EXAMPLES, 'risk-messages.eval.csv'), { task: 'multi-class' });
    const f1 = async (model: string) => {
      using trainer = new Trainer({ model, ...DEMO_TRAINING, lora: { ...DEMO_TRAINING.lora }, seed: 1, device: 'cpu', precision: 'fp32', threads: 2 });
      const r = await trainer.train(train, { evalExamples: held });
      return (r.finalEvaluation as { macro: { f1: number } }).macro.f1;
    };
    const random = mkdtempSync(join(tmpdir(), 'lora-node-random-'));
    await initMaskedLm(bundledModelPath, random, 1);
    const pretrained = await f1(bundledModelPath);
    const fromRandom = await f1(random);
    expect(pretrained).toBeGreaterThan(0.8);
    expect(pretrained).toBeGreaterThan(fromRandom + 0.1);
  }, 120_000);
});
