// Trainer end to end on the tiny fixture: learning on the four tasks,
// determinism, saved adapters and merged checkpoints, abort, kill -9 and
// resume, and bad data. (Runs dist/ for the child processes: npm test builds it.)
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { Classifier, Model, type TrainProgress, Trainer, type TrainerOptions, readSafetensors } from '../../lib/index.js';
import { maxAbsDiff } from '../helpers/golden.js';
import { binaryExamples, multiClassExamples, multiLabelExamples, regressionExamples } from '../helpers/synthetic.js';
import { rejectsWith } from '../helpers/errors.js';
import { TINY_MODEL, tinyTraining } from '../helpers/training.js';

const MODEL = TINY_MODEL;
const BASE: TrainerOptions = tinyTraining(5);
const tmp = (name: string) => mkdtempSync(join(tmpdir(), `lora-node-${name}-`));


describe('learning: each task clearly beats chance on held-out data', () => {
  it('binary (chance 0.5)', async () => {
    using t = new Trainer({ ...BASE });
    const r = await t.train(binaryExamples(240, 1), { evalExamples: binaryExamples(80, 2) });
    expect(r.task).toBe('binary');
    expect(r.finalEvaluation!.kind).toBe('classification');
    expect((r.finalEvaluation as { accuracy: number }).accuracy).toBeGreaterThanOrEqual(0.85);
  });

  it('multi-class (chance 1/3)', async () => {
    using t = new Trainer({ ...BASE });
    const r = await t.train(multiClassExamples(240, 1), { evalExamples: multiClassExamples(80, 2) });
    expect(r.task).toBe('multi-class');
    expect(r.labels).toEqual(['cinema', 'performance', 'writing']);
    expect((r.finalEvaluation as { accuracy: number }).accuracy).toBeGreaterThanOrEqual(0.7);
  });

  it('multi-label (micro F1; thresholds tuned and saved)', async () => {
    using t = new Trainer({ ...BASE });
    const r = await t.train(multiLabelExamples(240, 1), { evalExamples: multiLabelExamples(80, 2) });
    expect(r.task).toBe('multi-label');
    expect((r.finalEvaluation as { micro: { f1: number } }).micro.f1).toBeGreaterThanOrEqual(0.7);
    expect(r.thresholds).toHaveLength(3);
    const dir = tmp('ml-adapter');
    await t.save(dir);
    expect(JSON.parse(readFileSync(join(dir, 'lora-node.json'), 'utf8')).thresholds).toEqual(r.thresholds);
    using clf = await Classifier.load(MODEL, { adapter: dir, device: 'cpu', precision: 'fp32' });
    expect(clf.task).toBe('multi-label');
    expect(clf.thresholds).toEqual(r.thresholds);
  });

  it('regression (R² well above 0, the mean predictor)', async () => {
    using t = new Trainer({ ...BASE });
    const r = await t.train(regressionExamples(240, 1), { evalExamples: regressionExamples(80, 2) });
    expect(r.task).toBe('regression');
    expect((r.finalEvaluation as { r2: number }).r2).toBeGreaterThan(0.2);
  });
});

describe('training behaviour', () => {
  it('the same seed and data give the same loss trajectory; progress events carry the fields', async () => {
    const run = async () => {
      using t = new Trainer({ ...BASE, epochs: 2, lora: { r: 4, dropout: 0.1 } });
      const events: TrainProgress[] = [];
      t.on('progress', (p: TrainProgress) => events.push(p));
      await t.train(binaryExamples(64, 3));
      return events;
    };
    const first = await run();
    const second = await run();
    expect(first.map((e) => e.loss)).toEqual(second.map((e) => e.loss));
    expect(first).toHaveLength(8);
    expect(first.map((e) => e.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    for (const e of first) {
      expect(e.totalSteps).toBe(8);
      expect(Number.isFinite(e.loss) && Number.isFinite(e.learningRate) && e.samplesPerSecond > 0).toBe(true);
    }
    expect(first[7]!.eta).toBe(0);
  });

  it('the saved adapter and merged checkpoint reproduce the trained model through Classifier and Model', async () => {
    using t = new Trainer({ ...BASE, epochs: 2 });
    await t.train(multiClassExamples(96, 4));
    const adapter = tmp('adapter');
    const merged = tmp('merged');
    await t.save(adapter);
    await t.saveMerged(merged);
    const weights = await readSafetensors(join(adapter, 'adapter_model.safetensors'));
    const keys = Object.keys(weights.tensors);
    expect(keys).toHaveLength(2 * 12 + 4); // A and B on 6 linears × 2 layers, plus the head
    expect(keys.every((k) => k.startsWith('base_model.model.'))).toBe(true);
    expect(weights.metadata).toEqual({ format: 'pt' });
    using viaAdapter = await Classifier.load(MODEL, { adapter, device: 'cpu', precision: 'fp32' });
    using viaMerged = await Classifier.load(merged, { device: 'cpu', precision: 'fp32' });
    using viaModel = await Model.load(MODEL, { adapter, device: 'cpu', precision: 'fp32' });
    expect(viaMerged.labels).toEqual(['cinema', 'performance', 'writing']);
    const batch = viaAdapter.encode(multiClassExamples(20, 9).map((e) => e.text));
    const a = await viaAdapter.logits(batch);
    expect(maxAbsDiff(a, await viaMerged.logits(batch))).toBeLessThan(1e-5);
    expect(maxAbsDiff(a, (await viaModel.forward(batch)).logits)).toBe(0);
  });

  it('evaluation keeps the best weights: the final metric is the best one seen', async () => {
    using t = new Trainer({ ...BASE, epochs: 4, evaluation: { every: 3, metric: 'loss' } });
    const r = await t.train(binaryExamples(96, 6), { evalExamples: binaryExamples(40, 7) });
    expect(r.evaluations.length).toBeGreaterThanOrEqual(4);
    const bestLoss = Math.min(...r.evaluations.map((e) => e.value));
    expect(r.best!.value).toBe(bestLoss);
    expect(r.finalEvaluation!.loss).toBeCloseTo(bestLoss, 6);
  });

  it('early stopping stops after `patience` evaluations without improvement', async () => {
    // A learning rate of 0 cannot improve anything after the first evaluation.
    using t = new Trainer({ ...BASE, epochs: 10, learningRate: 1e-12, warmupSteps: 0, warmupRatio: 0, earlyStopping: { patience: 2, metric: 'loss', minDelta: 1e-3 } });
    const r = await t.train(binaryExamples(32, 6), { evalExamples: binaryExamples(16, 7) });
    expect(r.stoppedEarly).toBe(true);
    expect(r.evaluations).toHaveLength(3);
    expect(r.steps).toBe(6);
  });

  it('an AbortSignal stops at the next step with ERR_ABORTED; written checkpoints stay complete', async () => {
    const dir = tmp('abort');
    using t = new Trainer({ ...BASE, epochs: 50, checkpoints: { dir, every: 2, keep: 2 } });
    const controller = new AbortController();
    t.on('checkpoint', () => controller.abort());
    await rejectsWith(t.train(binaryExamples(64, 1), { signal: controller.signal }), 'ERR_ABORTED', /training was aborted at step \d+ of 200/);
    expect(existsSync(join(dir, 'checkpoint-2', 'adapter_model.safetensors'))).toBe(true);
    using again = await Model.load(MODEL, { adapter: join(dir, 'checkpoint-2'), device: 'cpu', precision: 'fp32' });
    expect(again.labels).toEqual(['negative', 'positive']);
    await rejectsWith(t.train(binaryExamples(64, 1), { signal: AbortSignal.abort() }), 'ERR_ABORTED', /aborted/);
  });
});

function runChild(env: Record<string, string>, killAtLine?: string): Promise<{ code: number | null; signal: string | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(import.meta.dirname, 'train-child.mjs')], { env: { ...process.env, ...env } });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (killAtLine && out.split('\n').includes(killAtLine)) child.kill('SIGKILL');
    });
    child.stderr.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('exit', (code, signal) => resolve({ code, signal, out }));
  });
}

describe('kill -9 and resume', () => {
  it('a run killed mid-training and resumed writes a byte-identical adapter', async () => {
    const data = join(tmp('data'), 'train.jsonl');
    writeFileSync(data, binaryExamples(64, 5).map((e) => JSON.stringify(e)).join('\n') + '\n');
    const whole = tmp('whole');
    const plain = await runChild({ MODEL, DATA: data, OUT: whole });
    expect(plain.out).toContain('done');

    const checkpoints = tmp('ckpt');
    const resumed = tmp('resumed');
    // Killed while its JS thread is blocked at step 7 (the last checkpoint is step 6).
    const killed = await runChild({ MODEL, DATA: data, OUT: resumed, CHECKPOINTS: checkpoints, PAUSE_AT: '7' }, 'step 7');
    expect(killed.signal).toBe('SIGKILL');
    expect(existsSync(join(resumed, 'adapter_model.safetensors'))).toBe(false);
    expect(existsSync(join(checkpoints, 'checkpoint-6'))).toBe(true);

    const finish = await runChild({ MODEL, DATA: data, OUT: resumed, CHECKPOINTS: checkpoints, RESUME: checkpoints });
    expect(finish.out).toContain('done');
    expect(finish.out.split('\n')[0]).toBe('step 7');
    const a = readFileSync(join(whole, 'adapter_model.safetensors'));
    const b = readFileSync(join(resumed, 'adapter_model.safetensors'));
    expect(b.equals(a)).toBe(true);
  });
});

describe('bad data', () => {
  const t = () => new Trainer({ ...BASE, epochs: 1 });
  it.each([
    ['an empty text', [{ text: '  ', label: 'a' }, { text: 'x', label: 'b' }], /trainExamples\[0\]: Expected a non-empty string for text/],
    ['a missing label', [{ text: 'good' }, { text: 'bad', label: 'b' }], /trainExamples\[0\]: Expected a label/],
    ['one class only', [{ text: 'good', label: 'a' }, { text: 'bad', label: 'a' }], /needs at least 2 labels but the data has only \["a"\]/],
  ])('%s', async (_, examples, message) => {
    await rejectsWith(t().train(examples as never), 'ERR_DATA', message);
  });

  it('a NaN regression target', async () => {
    using trainer = new Trainer({ ...BASE, task: 'regression', epochs: 1 });
    await rejectsWith(trainer.train([{ text: 'good', label: 0.5 }, { text: 'bad', label: NaN }]), 'ERR_DATA', /examples\[1\]: Expected a finite number/);
  });

  it('an eval label the training data does not have', async () => {
    using trainer = t();
    await rejectsWith(
      trainer.train(binaryExamples(16, 1), { evalExamples: [{ text: 'good', label: 'neutral' }] }),
      'ERR_DATA',
      /unknown label "neutral"; known labels: .*negative.*positive/,
    );
  });

  it('bad options name the option', () => {
    expect(() => new Trainer({ ...BASE, epochs: 0 })).toThrow(/Expected a positive integer for options\.epochs but received number 0/);
    expect(() => new Trainer({ ...BASE, scheduler: 'step' as never })).toThrow(/Expected one of 'linear', 'cosine', 'constant' for options\.scheduler/);
    expect(() => new Trainer({ model: '' })).toThrow(/Expected a non-empty string for options\.model/);
  });

  it('save() before train() explains', async () => {
    await expect(t().save(tmp('early'))).rejects.toThrow(/call train\(\) before save\(\)/);
  });
});

describe('QLoRA training', () => {
  it('reduces the loss and lands within a small margin of the full-precision LoRA run', async () => {
    const run = async (quantization?: { type: 'nf4' }) => {
      using t = new Trainer({ ...BASE, ...(quantization ? { quantization } : {}) });
      const r = await t.train(binaryExamples(240, 1), { evalExamples: binaryExamples(80, 2) });
      return { first: r.history[0]!.loss, last: r.loss, accuracy: (r.finalEvaluation as { accuracy: number }).accuracy };
    };
    const lora = await run();
    const qlora = await run({ type: 'nf4' });
    expect(qlora.last).toBeLessThan(qlora.first * 0.8);
    expect(qlora.accuracy).toBeGreaterThanOrEqual(0.85);
    expect(Math.abs(qlora.accuracy - lora.accuracy)).toBeLessThanOrEqual(0.1);
  });
});

describe('the JavaScript thread during training', () => {
  it('stays free: timers keep firing while the native loop trains', async () => {
    // Loading libtorch (once per process, ~0.3 s) is synchronous, as every native module load is.
    (await import('../../lib/native/loader.js')).loadAddon();
    using t = new Trainer({ ...BASE, epochs: 6, batchSize: 8, classWeights: 'balanced' });
    const ticks: number[] = [];
    const timer = setInterval(() => ticks.push(performance.now()), 5);
    const started = performance.now();
    const r = await t.train(binaryExamples(240, 1));
    const elapsed = performance.now() - started;
    clearInterval(timer);
    expect(r.steps).toBe(180);
    expect(elapsed).toBeGreaterThan(200);
    const gaps = ticks.slice(1).map((v, i) => v - ticks[i]!);
    expect(ticks.length).toBeGreaterThan(10);
    // A loop on the JS thread would show one gap as long as the training.
    expect(Math.max(...gaps)).toBeLessThan(elapsed / 4);
  });
});

describe('evaluation data that leaks from training', () => {
  it('is reported as a notice with the count (texts compared after trimming)', async () => {
    const train = binaryExamples(40, 1);
    const unique = Array.from({ length: 5 }, (_, i) => ({ text: `a text seen only here number ${i}`, label: i % 2 ? 'positive' : 'negative' }));
    const leaked = train.slice(0, 5).map((e) => ({ ...e, text: `  ${e.text} ` }));
    const notices: string[] = [];
    using t = new Trainer({ ...BASE, epochs: 1 });
    t.on('notice', (n: string) => notices.push(n));
    await t.train(train, { evalExamples: [...leaked, ...unique] });
    expect(notices.filter((n) => /evaluation texts also appear/.test(n))).toEqual([
      '5 of 10 evaluation texts also appear in the training examples: held-out metrics will read too high',
    ]);
    notices.length = 0;
    await t.train(train, { evalExamples: unique });
    expect(notices.some((n) => /evaluation texts also appear/.test(n))).toBe(false);
  });
});
