// Masked-language-model training end to end on the tiny fixture's encoder:
// held-out masked loss falls, from a checkpoint and from scratch, full and LoRA,
// fp32 and bf16; saved folders load as DistilBertForMaskedLM and as a classifier
// base; abort and resume continue exactly.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { MaskedLanguageModel, type MaskedLmReport, Trainer, type TrainerOptions, loadTextFile, readSafetensors } from '../../lib/index.js';
import { copyCheckpoint } from '../helpers/checkpoint-copy.js';
import { rejectsWith } from '../helpers/errors.js';
import { maskedLmCheckpoint } from '../helpers/mlm-checkpoint.js';
import { binaryExamples, random } from '../helpers/synthetic.js';

const tmp = (name: string) => mkdtempSync(join(tmpdir(), `lora-node-mlm-${name}-`));
const BASE = await maskedLmCheckpoint('tiny');

/** Sentences over the tiny vocabulary: word order is fixed, and good/love/best or bad/hate/worst go together. */
function corpus(n: number, seed: number): { text: string }[] {
  const r = random(seed);
  const topics = ['movie', 'film', 'story'];
  return Array.from({ length: n }, () => {
    const topic = topics[r(topics.length)]!;
    return r(2) === 0 ? { text: `the ${topic} was good , i love it , the best ${topic} .` } : { text: `the ${topic} was bad , i hate it , the worst ${topic} .` };
  });
}
const TRAIN = corpus(160, 1);
const HELD = corpus(40, 2);

const OPTIONS: TrainerOptions = {
  model: BASE,
  task: 'mlm',
  lora: false,
  epochs: 8,
  batchSize: 8,
  learningRate: 3e-3,
  maxLength: 32,
  precision: 'fp32',
  device: 'cpu',
  threads: 2,
  seed: 3,
};

/** Trains with evaluation each epoch; every report scores the held-out masked tokens. */
async function heldOut(options: TrainerOptions): Promise<{ after: MaskedLmReport; trainer: Trainer }> {
  const trainer = new Trainer(options);
  const r = await trainer.train(TRAIN, { evalExamples: HELD });
  expect(r.task).toBe('mlm');
  expect(r.evaluations).toHaveLength(options.epochs!);
  expect(r.evaluations.every((e) => e.report.kind === 'masked-lm' && (e.report as MaskedLmReport).tokens > 50)).toBe(true);
  return { after: r.finalEvaluation as MaskedLmReport, trainer };
}

/** Held-out masked loss and accuracy of a model that has not trained (learning rate ~0). */
async function untrained(options: TrainerOptions): Promise<MaskedLmReport> {
  using t = new Trainer({ ...options, epochs: 1, learningRate: 1e-12 });
  return (await t.train(TRAIN, { evalExamples: HELD })).finalEvaluation as MaskedLmReport;
}

describe('MLM training reduces held-out masked loss', () => {
  it('full training from a DistilBertForMaskedLM checkpoint (its head is used)', async () => {
    const start = await untrained(OPTIONS);
    const notices: string[] = [];
    const t = new Trainer(OPTIONS);
    t.on('notice', (n: string) => notices.push(n));
    const r = await t.train(TRAIN, { evalExamples: HELD });
    const end = r.finalEvaluation as MaskedLmReport;
    expect(notices).toEqual([]);
    // The tiny fixture (dim 32, weights of std 0.15) learns slowly: 80 steps take it about halfway.
    expect(end.loss).toBeLessThan(start.loss * 0.7);
    expect(end.accuracy).toBeGreaterThan(start.accuracy + 0.1);
    expect(r.history.length).toBe(r.steps);

    // The saved folder is a DistilBertForMaskedLM checkpoint ...
    const saved = tmp('saved');
    await t.save(saved);
    t.dispose();
    expect(JSON.parse(readFileSync(join(saved, 'config.json'), 'utf8')).architectures).toEqual(['DistilBertForMaskedLM']);
    const keys = Object.keys((await readSafetensors(join(saved, 'model.safetensors'))).tensors);
    expect(keys).toContain('vocab_projector.bias');
    expect(keys).not.toContain('vocab_projector.weight');
    expect(existsSync(join(saved, 'tokenizer.json'))).toBe(true);
    using mlm = await MaskedLanguageModel.load(saved, { device: 'cpu', precision: 'fp32' });
    expect(mlm.headNotice).toBe('');
    // ... that continues training where it stopped (same held-out loss before any step) ...
    const resumed = await untrained({ ...OPTIONS, model: saved });
    expect(resumed.loss).toBeCloseTo(end.loss, 4);
    // ... and is a classifier base: the classification head starts fresh.
    using clf = new Trainer({ model: saved, epochs: 1, device: 'cpu', precision: 'fp32', threads: 2 });
    const c = await clf.train(binaryExamples(32, 1));
    expect(c.headNotice).toMatch(/no classification head: pre_classifier and classifier were initialised fresh/);
  });

  it('LoRA (domain adaptation): only adapters train; adapter and merged checkpoint are written', async () => {
    const start = await untrained({ ...OPTIONS, lora: { r: 8, alpha: 16, targetModules: 'all-linear' } });
    using t = new Trainer({ ...OPTIONS, lora: { r: 8, alpha: 16, targetModules: 'all-linear' }, learningRate: 5e-3 });
    const r = await t.train(TRAIN, { evalExamples: HELD });
    // A random encoder under a frozen random head: LoRA alone moves it less.
    expect((r.finalEvaluation as MaskedLmReport).loss).toBeLessThan(start.loss * 0.9);
    const adapter = tmp('adapter');
    await t.save(adapter);
    const config = JSON.parse(readFileSync(join(adapter, 'adapter_config.json'), 'utf8'));
    expect(config.task_type).toBeNull();
    expect(config.modules_to_save).toEqual([]);
    const keys = Object.keys((await readSafetensors(join(adapter, 'adapter_model.safetensors'))).tensors);
    expect(keys.every((k) => /lora_[AB]\.weight$/.test(k))).toBe(true);
    const merged = tmp('merged');
    await t.saveMerged(merged);
    using mlm = await MaskedLanguageModel.load(merged, { device: 'cpu', precision: 'fp32' });
    expect(mlm.headNotice).toBe('');
  });

  it('from scratch (a config and tokenizer only), with whole-word masking, in bf16', async () => {
    const dir = copyCheckpoint('tiny');
    rmSync(join(dir, 'model.safetensors'));
    await rejectsWith(new Trainer({ ...OPTIONS, model: dir }).train(TRAIN), 'ERR_IO', /has no model\.safetensors: pass mlm: \{ fromScratch: true \}/);
    const options: TrainerOptions = { ...OPTIONS, model: dir, mlm: { fromScratch: true, wholeWordMasking: true }, precision: 'bf16' };
    const start = await untrained(options);
    const { after, trainer } = await heldOut(options);
    trainer.dispose();
    expect(after.loss).toBeLessThan(start.loss * 0.7);
    expect(after.accuracy).toBeGreaterThan(start.accuracy + 0.1);
  });

  it('plain text files are read as documents', async () => {
    const file = join(tmp('text'), 'corpus.txt');
    writeFileSync(file, 'the movie was good .\ni love it .\n\n\nthe film was bad .\n');
    expect(await loadTextFile(file)).toEqual([{ text: 'the movie was good . i love it .' }, { text: 'the film was bad .' }]);
    await rejectsWith(loadTextFile(join(tmpdir(), 'no-such-corpus.txt')), 'ERR_IO', /Cannot read/);
  });
});

describe('MLM abort and resume', () => {
  it('an aborted run resumed from its checkpoint ends with the same weights as an uninterrupted run', async () => {
    const options: TrainerOptions = { ...OPTIONS, epochs: 2, lora: { r: 4, dropout: 0.1 } };
    const whole = tmp('whole');
    {
      using t = new Trainer(options);
      await t.train(TRAIN);
      await t.save(whole);
    }
    const dir = tmp('ckpt');
    {
      using t = new Trainer({ ...options, checkpoints: { dir, every: 7, keep: 1 } });
      const controller = new AbortController();
      t.on('checkpoint', () => controller.abort());
      await rejectsWith(t.train(TRAIN, { signal: controller.signal }), 'ERR_ABORTED', /training was aborted at step 7 of \d+/);
    }
    const resumed = tmp('resumed');
    using t = new Trainer({ ...options, checkpoints: { dir, every: 7, keep: 1 } });
    const steps: number[] = [];
    t.on('progress', (p: { step: number }) => steps.push(p.step));
    await t.train(TRAIN, { resumeFrom: dir });
    expect(steps[0]).toBe(8);
    await t.save(resumed);
    const a = readFileSync(join(whole, 'adapter_model.safetensors'));
    const b = readFileSync(join(resumed, 'adapter_model.safetensors'));
    expect(b.equals(a)).toBe(true);
  });

  it('bad MLM options name the option', () => {
    expect(() => new Trainer({ ...OPTIONS, mlm: { probability: 1.5 } })).toThrow(/Expected a number in \(0, 1\) for options\.mlm\.probability but received number 1\.5/);
    expect(() => new Trainer({ ...OPTIONS, task: 'binary', mlm: {} })).toThrow(/Expected task 'mlm' with options\.mlm/);
    expect(() => new Trainer({ ...OPTIONS, quantization: { type: 'nf4' } })).toThrow(/no options\.quantization with task 'mlm'/);
  });
});
