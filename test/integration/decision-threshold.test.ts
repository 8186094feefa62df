// options.threshold: a binary classifier's decision threshold chosen on the evaluation
// examples for a target (best F1, minimum precision or recall), saved in lora-node.json,
// and applied by Classifier.predict, multi-adapter predict and the CLI.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

import { Classifier, type Example, type TrainResult, Trainer } from '../../lib/index.js';
import type { ClassificationReport } from '../../lib/metrics/index.js';
import { rejectsWith } from '../helpers/errors.js';
import { binaryExamples, multiClassExamples, multiLabelExamples } from '../helpers/synthetic.js';
import { TINY_MODEL, tinyTraining } from '../helpers/training.js';

const RUNTIME = { device: 'cpu', precision: 'fp32' } as const;
const CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli', 'main.js');

/** Every fifth label flipped: on these no threshold separates the classes, so the choice matters. */
function noisy(examples: Example[]): Example[] {
  return examples.map((e, i) => (i % 5 === 0 ? { ...e, label: e.label === 'positive' ? 'negative' : 'positive' } : e));
}

const train = binaryExamples(200, 11);
const held = noisy(binaryExamples(100, 12));
const positives = held.filter((e) => e.label === 'positive').length;

describe('a binary model trained for recall >= 0.95', () => {
  const dir = mkdtempSync(join(tmpdir(), 'lora-node-threshold-'));
  const adapter = join(dir, 'adapter');
  let result: TrainResult;

  beforeAll(async () => {
    using trainer = new Trainer({ ...tinyTraining(5), threshold: { recall: 0.95 } });
    result = await trainer.train(train, { evalExamples: held });
    await trainer.save(adapter);
  }, 60_000);

  it('reports the threshold, reaching the target, with the held-out metrics at that threshold', () => {
    const t = result.decisionThreshold!;
    expect(t).toMatchObject({ target: { recall: 0.95 }, positiveLabel: 'positive', met: true });
    expect(t.recall).toBeGreaterThanOrEqual(0.95);
    const perLabel = (result.finalEvaluation as ClassificationReport).perLabel.positive!;
    expect(perLabel.recall).toBeCloseTo(t.recall, 12);
    expect(perLabel.precision).toBeCloseTo(t.precision, 12);
  });

  it('is saved in lora-node.json and applied by Classifier.predict; options.threshold overrides it', async () => {
    const saved = JSON.parse(readFileSync(join(adapter, 'lora-node.json'), 'utf8'));
    expect(saved.decisionThreshold).toEqual(result.decisionThreshold);
    using clf = await Classifier.load(TINY_MODEL, { adapter, ...RUNTIME });
    expect(clf.decisionThreshold).toEqual(result.decisionThreshold);
    const t = clf.decisionThreshold!.threshold;
    const predictions = await clf.predict(held.map((e) => e.text));
    predictions.forEach((p) => expect(p.label).toBe(p.scores.positive! > t ? 'positive' : 'negative'));
    // Within one example (tied scores of repeated texts, batched differently; see the multi-label test).
    const found = predictions.filter((p, i) => p.label === 'positive' && held[i]!.label === 'positive').length;
    expect(Math.abs(found / positives - result.decisionThreshold!.recall)).toBeLessThanOrEqual(1 / positives + 1e-12);
    // The argmax, for comparison: options.threshold 0.5.
    const plain = await clf.predict(held.map((e) => e.text), { threshold: 0.5 });
    plain.forEach((p) => expect(p.label).toBe(p.scores.positive! > p.scores.negative! ? 'positive' : 'negative'));
    // The model learned (the argmax is right on most of the 80% unflipped labels), and the
    // recall target bought recall the argmax does not have.
    const correct = plain.filter((p, i) => p.label === held[i]!.label).length / held.length;
    expect(correct).toBeGreaterThanOrEqual(0.7);
    const plainFound = plain.filter((p, i) => p.label === 'positive' && held[i]!.label === 'positive').length;
    expect(plainFound / positives).toBeLessThan(result.decisionThreshold!.recall);
  });

  it('multi-adapter predict applies each adapter\'s own threshold', async () => {
    using multi = await Classifier.load(TINY_MODEL, { adapters: { fraud: adapter }, ...RUNTIME });
    using single = await Classifier.load(TINY_MODEL, { adapter, ...RUNTIME });
    const texts = held.slice(0, 20).map((e) => e.text);
    const [a, b] = [await multi.predict(texts), await single.predict(texts)];
    expect(a.map((p) => p.fraud!.label)).toEqual(b.map((p) => p.label));
  });

  it('the CLI: train --threshold recall=0.95 saves it; predict prints it and --threshold overrides it', () => {
    const csv = (file: string, rows: Example[]) => {
      writeFileSync(file, ['text,label', ...rows.map((e) => `"${e.text}",${e.label}`)].join('\n') + '\n');
      return file;
    };
    const out = join(dir, 'cli-adapter');
    const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000 });
    const trained = run('train', '--model', TINY_MODEL, '--data', csv(join(dir, 'train.csv'), train), '--eval', csv(join(dir, 'eval.csv'), held),
      '--out', out, '--threshold', 'recall=0.95', '--epochs', '5', '--learning-rate', '3e-3', '--lora-r', '8', '--lora-alpha', '16',
      '--target-modules', 'all-linear', '--seed', '1', '--threads', '2', '--device', 'cpu', '--precision', 'fp32');
    expect(trained.status, trained.stderr).toBe(0);
    expect(trained.stdout).toMatch(/decision threshold for positive: P > 0\.\d{4}, chosen for recall >= 0\.95: precision 0\.\d{4}, recall (0\.9[5-9]|1\.0)\d*/);
    const predicted = run('predict', '--model', TINY_MODEL, '--adapter', out, '--device', 'cpu', '--precision', 'fp32', 'the movie was good , it is good');
    expect(predicted.stdout).toMatch(/decision threshold: positive when its probability > 0\.\d{4} \(chosen in training for recall >= 0\.95\)/);
    const evaluated = run('eval', '--model', TINY_MODEL, '--adapter', out, '--data', join(dir, 'eval.csv'), '--device', 'cpu', '--precision', 'fp32', '--json');
    const report = JSON.parse(evaluated.stdout);
    expect(report.decisionThreshold).toEqual(JSON.parse(readFileSync(join(out, 'lora-node.json'), 'utf8')).decisionThreshold);
    // eval measures at the saved threshold (within one example: see the multi-label test)
    expect(Math.abs(report.report.perLabel.positive.recall - report.decisionThreshold.recall)).toBeLessThanOrEqual(1 / positives + 1e-12);
    const overridden = run('predict', '--model', TINY_MODEL, '--adapter', out, '--threshold', '0.999', '--json', 'the movie was good , it is good');
    const line = JSON.parse(overridden.stdout);
    expect(line.label).toBe(line.scores.positive > 0.999 ? 'positive' : 'negative');
    expect(run('train', '--model', TINY_MODEL, '--data', join(dir, 'train.csv'), '--out', out, '--threshold', 'precision').stderr)
      .toMatch(/Expected f1, precision=P or recall=R \(0 < P, R <= 1\) for --threshold but received "precision"/);
    expect(run('train', '--model', TINY_MODEL, '--data', join(dir, 'train.csv'), '--out', out, '--threshold', 'f1').stderr)
      .toMatch(/Expected --eval FILE with --threshold \(it is fitted on the evaluation examples\) but received none \[ERR_INVALID_ARGUMENT\]/);
    const threeLabels = csv(join(dir, 'three.csv'), multiClassExamples(30, 1));
    expect(run('train', '--model', TINY_MODEL, '--data', threeLabels, '--eval', threeLabels, '--out', out, '--threshold', 'f1').stderr)
      .toMatch(/Expected a binary or multi-label task with --threshold but the labels in .*three\.csv make it multi-class \[ERR_INVALID_ARGUMENT\]/);
    expect(run('train', '--model', TINY_MODEL, '--data', threeLabels, '--eval', threeLabels, '--out', out, '--threshold', 'f1', '--task', 'multi-class').stderr)
      .toMatch(/Expected --task binary or multi-label with --threshold .* but received --task multi-class \[ERR_INVALID_ARGUMENT\]/);
  }, 120_000);
});

describe('a multi-label model trained for recall >= 0.9 per label', () => {
  it('chooses each label\'s threshold for the target, reports it, and predicts with it', async () => {
    // Every fourth example loses its last label on the evaluation side: the model cannot be sure.
    const held = multiLabelExamples(120, 22).map((e, i) => (i % 4 === 0 ? { ...e, label: (e.label as string[]).slice(0, -1) } : e));
    const dir = mkdtempSync(join(tmpdir(), 'lora-node-label-thresholds-'));
    using trainer = new Trainer({ ...tinyTraining(5), threshold: { recall: 0.9 } });
    const result = await trainer.train(multiLabelExamples(240, 21), { evalExamples: held });
    await trainer.save(dir);
    const points = result.labelThresholds!;
    expect(Object.keys(points).sort()).toEqual([...result.labels].sort());
    for (const label of result.labels) {
      expect(points[label]!.met, label).toBe(true);
      expect(points[label]!.recall, label).toBeGreaterThanOrEqual(0.9);
    }
    expect(result.thresholds).toEqual(result.labels.map((l) => points[l]!.threshold));
    using clf = await Classifier.load(TINY_MODEL, { adapter: dir, ...RUNTIME });
    expect(clf.thresholds).toEqual(result.thresholds);
    // Each label's recall on the evaluation examples, from the loaded classifier's predictions.
    const predictions = await clf.predict(held.map((e) => e.text));
    // Within one example: the data repeats texts, so scores tie, and evaluation batches texts
    // differently from predict, which moves tied scores by float rounding across a threshold.
    for (const label of result.labels) {
      const truth = held.map((e) => (e.label as string[]).includes(label));
      const positives = truth.filter(Boolean).length;
      const found = predictions.filter((p, i) => truth[i] && p.labels!.includes(label)).length;
      expect(Math.abs(found / positives - points[label]!.recall), label).toBeLessThanOrEqual(1 / positives + 1e-12);
    }
  }, 60_000);
});

describe('options.threshold errors', () => {
  it('needs a binary task and evaluation examples', async () => {
    expect(() => new Trainer({ ...tinyTraining(1), task: 'multi-class', threshold: 'f1' })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringMatching(/Expected task 'binary' or 'multi-label' with options.threshold .* but received task 'multi-class'/) }),
    );
    using inferred = new Trainer({ ...tinyTraining(1), threshold: 'f1' });
    await rejectsWith(inferred.train(multiClassExamples(30, 1), { evalExamples: multiClassExamples(10, 2) }), 'ERR_INVALID_ARGUMENT',
      /Expected a binary or multi-label task with options.threshold but the labels make this a multi-class task/);
    using noEval = new Trainer({ ...tinyTraining(1), threshold: { precision: 0.9 } });
    await rejectsWith(noEval.train(binaryExamples(30, 1)), 'ERR_INVALID_ARGUMENT', /Expected evalExamples to choose options.threshold on but received none/);
  });
});
