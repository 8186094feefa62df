// options.calibrate: a softmax temperature fitted on the evaluation examples, saved in
// lora-node.json and applied by Classifier.predict; the argmax never changes.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

import { Classifier, type Example, type TrainResult, Trainer } from '../../lib/index.js';
import { rejectsWith } from '../helpers/errors.js';
import { binaryExamples, regressionExamples } from '../helpers/synthetic.js';
import { TINY_MODEL, tinyTraining } from '../helpers/training.js';

const RUNTIME = { device: 'cpu', precision: 'fp32' } as const;

/** Every fifth label flipped: a model trained on clean labels is overconfident on these. */
const noisy = (examples: Example[]) => examples.map((e, i) => (i % 5 === 0 ? { ...e, label: e.label === 'positive' ? 'negative' : 'positive' } : e));
const held = noisy(binaryExamples(100, 12));

describe('a calibrated binary model', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lora-node-calibrate-'));
  const adapter = join(dir, 'adapter');
  const merged = join(dir, 'merged');
  let result: TrainResult;

  beforeAll(async () => {
    using trainer = new Trainer({ ...tinyTraining(5), calibrate: true, threshold: 'f1' });
    result = await trainer.train(binaryExamples(200, 11), { evalExamples: held });
    await trainer.save(adapter);
    await trainer.saveMerged(merged);
  }, 60_000);

  it('softens an overconfident model: T > 1 and a lower NLL on the evaluation examples', () => {
    // (ECE is reported too; on 100 examples in 10 bins it is too noisy to assert on.)
    const c = result.calibration!;
    expect(c.temperature).toBeGreaterThan(1);
    expect(c.nllAfter).toBeLessThan(c.nllBefore);
  });

  it('is saved and applied: scores are softmax(logits / T), labels are the uncalibrated argmax', async () => {
    expect(JSON.parse(readFileSync(join(adapter, 'lora-node.json'), 'utf8')).temperature).toBe(result.calibration!.temperature);
    using clf = await Classifier.load(TINY_MODEL, { adapter, ...RUNTIME });
    const T = clf.temperature!;
    expect(T).toBe(result.calibration!.temperature);
    const texts = held.slice(0, 12).map((e) => e.text);
    const predictions = await clf.predict(texts, { threshold: 0.5 }); // 0.5: the argmax, not the saved threshold
    const logits = await clf.logits(clf.encode(texts));
    predictions.forEach((p, i) => {
      const [a, b] = [logits[i * 2]!, logits[i * 2 + 1]!];
      const positive = 1 / (1 + Math.exp((a - b) / T));
      expect(p.scores.positive).toBeCloseTo(positive, 6);
      expect(p.label).toBe(b > a ? 'positive' : 'negative');
    });
  });

  it('a merged checkpoint keeps the temperature and the decision threshold (chosen on calibrated probabilities)', async () => {
    using clf = await Classifier.load(merged, RUNTIME);
    expect(clf.temperature).toBe(result.calibration!.temperature);
    expect(clf.decisionThreshold).toEqual(result.decisionThreshold);
    const texts = held.map((e) => e.text);
    const predictions = await clf.predict(texts);
    const t = clf.decisionThreshold!.threshold;
    predictions.forEach((p) => expect(p.label).toBe(p.scores.positive! > t ? 'positive' : 'negative'));
    // The threshold's reported recall is the recall of these calibrated predictions.
    const positives = held.filter((e) => e.label === 'positive').length;
    const found = predictions.filter((p, i) => p.label === 'positive' && held[i]!.label === 'positive').length;
    // Within one example: repeated texts tie, and predict batches them differently from evaluation.
    expect(Math.abs(found / positives - result.decisionThreshold!.recall)).toBeLessThanOrEqual(1 / positives + 1e-12);
  });
});

describe('lora-node train --calibrate', () => {
  it('prints the temperature and saves it; predict says the model is calibrated', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lora-node-calibrate-cli-'));
    const csv = (name: string, rows: Example[]) => {
      const file = join(dir, name);
      writeFileSync(file, ['text,label', ...rows.map((e) => `"${e.text}",${e.label}`)].join('\n') + '\n');
      return file;
    };
    const cli = join(import.meta.dirname, '..', '..', 'dist', 'cli', 'main.js');
    const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 120_000 });
    const out = join(dir, 'adapter');
    const trained = run('train', '--model', TINY_MODEL, '--data', csv('train.csv', binaryExamples(200, 11)), '--eval', csv('eval.csv', held), '--out', out,
      '--calibrate', '--epochs', '5', '--learning-rate', '3e-3', '--lora-r', '8', '--lora-alpha', '16', '--target-modules', 'all-linear', '--seed', '1', '--device', 'cpu', '--precision', 'fp32');
    expect(trained.status, trained.stderr).toBe(0);
    const printed = /calibrated: temperature (\d+\.\d{4}); on the evaluation examples NLL (\d\.\d{4}) -> (\d\.\d{4}), ECE \d\.\d{4} -> \d\.\d{4}/.exec(trained.stdout);
    expect(printed, trained.stdout).not.toBeNull();
    expect(Number(printed![3])).toBeLessThanOrEqual(Number(printed![2]));
    const saved = JSON.parse(readFileSync(join(out, 'lora-node.json'), 'utf8')).temperature;
    expect(saved.toFixed(4)).toBe(printed![1]);
    const predicted = run('predict', '--model', TINY_MODEL, '--adapter', out, '--device', 'cpu', 'the movie was good , it is good');
    expect(predicted.stdout).toContain(`calibrated: probabilities are softmax(logits / ${saved.toFixed(4)})`);
  }, 120_000);
});

describe('options.calibrate errors', () => {
  it('needs a binary or multi-class task and evaluation examples', async () => {
    expect(() => new Trainer({ ...tinyTraining(1), task: 'regression', calibrate: true })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringMatching(/Expected task 'binary' or 'multi-class' with options.calibrate .* but received task 'regression'/) }),
    );
    expect(() => new Trainer({ ...tinyTraining(1), calibrate: 'yes' as never })).toThrow(/Expected a boolean for options.calibrate but received the string "yes"/);
    using inferred = new Trainer({ ...tinyTraining(1), calibrate: true });
    await rejectsWith(inferred.train(regressionExamples(30, 1), { evalExamples: regressionExamples(10, 2) }), 'ERR_INVALID_ARGUMENT',
      /Expected a binary or multi-class task with options.calibrate but the labels make this a regression task/);
    using noEval = new Trainer({ ...tinyTraining(1), calibrate: true });
    await rejectsWith(noEval.train(binaryExamples(30, 1)), 'ERR_INVALID_ARGUMENT', /Expected evalExamples to fit options.calibrate on but received none/);
  });
});
