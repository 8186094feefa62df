// The risk shapes end to end on the tiny fixture: tabular features fused
// beside the text, and ordinal severity (CORAL). Each learns on synthetic
// data where it should beat the plain model, and Trainer.save ->
// Classifier.load predicts exactly as the trainer's in-memory model.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

import { Classifier, type Example, type Prediction, Trainer, type TrainerOptions, readSafetensors, writeSafetensors } from '../../lib/index.js';
import { loadAddon } from '../../lib/native/loader.js';
import { openModel } from '../../lib/native/open-model.js';
import { encodeFeatures, featureRows, range } from '../../lib/features/encode.js';
import type { FeatureSchema } from '../../lib/features/schema.js';
import type { NativeModelHandle } from '../../lib/native/types.js';
import { type Task, predictionFromLogits } from '../../lib/task.js';
import { TextTokenizer } from '../../lib/tokenizer.js';
import { rejectsWith } from '../helpers/errors.js';
import { TINY_MODEL, tinyTraining } from '../helpers/training.js';
import { SEVERITIES, fusedExamples, severityExamples, withoutFeatures } from '../helpers/risk-synthetic.js';

const MODEL = TINY_MODEL;
const BASE: TrainerOptions = tinyTraining(10);
const RUNTIME = { device: 'cpu', precision: 'fp32' } as const;
const tmp = (name: string) => mkdtempSync(join(tmpdir(), `lora-node-risk-${name}-`));
const accuracy = (t: { finalEvaluation?: unknown }) => (t.finalEvaluation as { accuracy: number }).accuracy;

/** Predictions of the trainer's in-memory model (its native handle), batch by batch as Classifier does. */
async function inMemoryPredictions(trainer: Trainer, examples: Example[], labels: string[], task: Task, schema?: FeatureSchema): Promise<Prediction[]> {
  const handle = (trainer as unknown as { handle: NativeModelHandle }).handle;
  const tokenizer = await TextTokenizer.fromDirectory(MODEL, { maxLength: 128 });
  const batch = tokenizer.encodeBatch(examples.map((e) => e.text), { maxLength: 128 });
  const features = schema && featureRows(encodeFeatures(schema, examples.map((e) => e.features), 'x', 'ERR_INVALID_ARGUMENT'), range(0, examples.length));
  const { logits } = await handle.forward(batch.inputIds, batch.attentionMask, batch.batchSize, batch.seqLen, features ?? {});
  const width = logits.length / examples.length;
  return examples.map((_, i) => predictionFromLogits(logits.subarray(i * width, (i + 1) * width), labels, task, 0.5));
}

function expectSamePredictions(a: Prediction[], b: Prediction[]): void {
  expect(a.map((p) => p.label)).toEqual(b.map((p) => p.label));
  let worst = 0;
  a.forEach((p, i) => {
    for (const [label, score] of Object.entries(p.scores)) worst = Math.max(worst, Math.abs(score - b[i]!.scores[label]!));
    if (p.severity !== undefined) worst = Math.max(worst, Math.abs(p.severity - b[i]!.severity!));
  });
  expect(worst).toBeLessThan(1e-5);
}

describe('tabular features beside the text', () => {
  const train = fusedExamples(240, 1);
  const held = fusedExamples(120, 2);
  const probe = fusedExamples(24, 3);
  let fused: Trainer;
  let fusedAccuracy: number;
  let schema: FeatureSchema;
  const adapter = tmp('features-adapter');
  const merged = tmp('features-merged');

  beforeAll(async () => {
    fused = new Trainer(BASE);
    fusedAccuracy = accuracy(await fused.train(train, { evalExamples: held }));
    await fused.save(adapter);
    await fused.saveMerged(merged);
    schema = JSON.parse(readFileSync(join(adapter, 'lora-node.json'), 'utf8')).features;
  }, 60_000);

  it('the fused model clearly beats text alone on held-out data (same data, seed and settings)', async () => {
    using textOnly = new Trainer(BASE);
    const textAccuracy = accuracy(await textOnly.train(withoutFeatures(train), { evalExamples: withoutFeatures(held) }));
    // Text alone can reach about 2/3 here (see fusedExamples); text and features together, 1.
    expect(textAccuracy).toBeLessThan(0.8);
    expect(fusedAccuracy).toBeGreaterThanOrEqual(0.85);
    expect(fusedAccuracy - textAccuracy).toBeGreaterThanOrEqual(0.15);
  });

  it('saves the statistics and categories in lora-node.json, the fused head in its own file; the PEFT file stays PEFT', async () => {
    expect(schema.numeric).toEqual([{ name: 'amount', mean: expect.any(Number), std: expect.any(Number) }]);
    expect(schema.categorical).toEqual([{ name: 'channel', categories: ['app', 'sms', 'web'], embeddingDim: 4 }]);
    const peft = Object.keys((await readSafetensors(join(adapter, 'adapter_model.safetensors'))).tensors);
    expect(peft.every((k) => k.startsWith('base_model.model.'))).toBe(true);
    const head = await readSafetensors(join(adapter, 'lora_node_head.safetensors'));
    expect(Object.fromEntries(Object.entries(head.tensors).map(([k, t]) => [k, t.shape]))).toEqual({
      'lora_node.features.embeddings.0.weight': [4, 4], // 3 channels + the unknown bucket, width 4
      'lora_node.features.mix.weight': [32, 32 + 2 + 4], // [hidden, C + 2·Fnum + embedding]
      'lora_node.features.mix.bias': [32],
      'lora_node.features.out.weight': [2, 32],
      'lora_node.features.out.bias': [2],
    });
    expect(existsSync(join(merged, 'lora_node_head.safetensors'))).toBe(true);
  });

  it('Classifier.load (adapter or merged checkpoint) predicts as the in-memory model, to 1e-5', async () => {
    const expected = await inMemoryPredictions(fused, probe, ['risky', 'safe'], 'binary', schema);
    for (const [dir, options] of [[MODEL, { adapter }], [merged, {}]] as const) {
      using clf = await Classifier.load(dir, { ...RUNTIME, ...options });
      expect(clf.features).toEqual(schema);
      const got = await clf.predict(probe.map((e) => e.text), { features: probe.map((e) => e.features!), batchSize: 5 });
      expectSamePredictions(got, expected);
      // logits() takes the same features; the first text's probabilities match predict()'s
      const one = await clf.logits(clf.encode([probe[0]!.text]), { features: [probe[0]!.features!] });
      const softmax = [Math.exp(one[0]!), Math.exp(one[1]!)];
      expect(softmax[0]! / (softmax[0]! + softmax[1]!)).toBeCloseTo(got[0]!.scores.risky!, 5);
    }
  });

  it('prediction rules: missing, extra or non-finite features are errors naming the feature; unseen categories use the unknown bucket', async () => {
    using clf = await Classifier.load(MODEL, { ...RUNTIME, adapter });
    const text = ['the movie was bad'];
    await rejectsWith(clf.predict(text), 'ERR_INVALID_ARGUMENT', /Expected an array of 1 feature objects \(one per text, with amount, channel\) for options\.features but received undefined/);
    await rejectsWith(clf.predict(text, { features: [{ amount: 5 }] }), 'ERR_INVALID_ARGUMENT', /options\.features\[0\]: feature "channel" is missing/);
    await rejectsWith(clf.predict(text, { features: [{ amount: 5, channel: 'web', country: 'fr' }] }), 'ERR_INVALID_ARGUMENT', /unknown feature "country"/);
    await rejectsWith(clf.predict(text, { features: [{ amount: NaN, channel: 'web' }] }), 'ERR_INVALID_ARGUMENT', /numeric feature "amount" but received number NaN/);
    const [unseen] = await clf.predict(text, { features: [{ amount: 150, channel: 'fax' }] });
    const [unknown] = await clf.predict(text, { features: [{ amount: 150, channel: null }] });
    expect(unseen).toEqual(unknown); // both id 0
    const [missing] = await clf.predict(text, { features: [{ amount: null, channel: 'web' }] });
    expect(Number.isFinite(missing!.score)).toBe(true);
  });

  it('a feature adapter among several adapters is refused with ERR_CONFIG, pointing to a single-adapter Classifier', async () => {
    await rejectsWith(Classifier.load(MODEL, { ...RUNTIME, adapters: { risk: adapter } }), 'ERR_CONFIG', /single-adapter Classifier/);
  });

  it('the native side checks again: wrong widths and non-finite values are rejected, features on a text model too', async () => {
    const handle = (fused as unknown as { handle: NativeModelHandle }).handle;
    const ids = Int32Array.from([2, 10, 3]);
    const mask = Int32Array.from([1, 1, 1]);
    await rejectsWith(handle.forward(ids, mask, 1, 3, { categoricalFeatures: Int32Array.from([1]) }), 'ERR_INVALID_ARGUMENT', /Expected numeric features \(2 values per example\)/);
    await rejectsWith(handle.forward(ids, mask, 1, 3, { numericFeatures: Float32Array.from([0, 0, 0]), categoricalFeatures: Int32Array.from([1]) }), 'ERR_INVALID_ARGUMENT', /shape \[1, 2\] but received \[1, 3\]/);
    await rejectsWith(handle.forward(ids, mask, 1, 3, { numericFeatures: Float32Array.from([NaN, 0]), categoricalFeatures: Int32Array.from([1]) }), 'ERR_INVALID_ARGUMENT', /finite numeric features/);
    await rejectsWith(handle.forward(ids, mask, 1, 3, { numericFeatures: Float32Array.from([0, 0]), categoricalFeatures: Int32Array.from([4]) }), 'ERR_INVALID_ARGUMENT', /category ids in \[0, 4\)/);
    using textModel = await Classifier.load(MODEL, { ...RUNTIME });
    await rejectsWith(textModel.predict(['hi'], { features: [{ a: 1 }] }), 'ERR_INVALID_ARGUMENT', /this model was trained on text alone/);
  });

  it('evaluation examples must carry the same features (ERR_DATA)', async () => {
    using t = new Trainer({ ...BASE, epochs: 1 });
    await rejectsWith(t.train(train.slice(0, 32), { evalExamples: withoutFeatures(held.slice(0, 4)) }), 'ERR_DATA', /evalExamples\[0\]: Expected features \{ amount, channel \}|evalExamples\[0\]: .*features/);
    await rejectsWith(t.train(withoutFeatures(train.slice(0, 32)), { evalExamples: held.slice(0, 4) }), 'ERR_DATA', /evalExamples\[0\] has features but the training examples have none/);
  });
});

describe('the native risk head checks its spec, inputs and files', () => {
  it('rejects bad specs, a second head, features on a text model, and files that do not fit', async () => {
    const addon = loadAddon();
    const { handle } = await openModel(MODEL, { device: 'cpu', precision: 'fp32', lora: {}, labels: ['a', 'b'], task: 'binary', initMissingHead: true });
    try {
      const ids = Int32Array.from([2, 10, 3]);
      const mask = Int32Array.from([1, 1, 1]);
      await rejectsWith(handle.forward(ids, mask, 1, 3, { numericFeatures: Float32Array.from([0, 1]) }), 'ERR_INVALID_ARGUMENT', /Expected no features: this model was trained on text alone/);
      const spec = { numericWidth: 2, categories: [3], embeddingDims: [2], ordinalClasses: 0 };
      expect(() => addon.attachRiskHead(handle, { ...spec, numericWidth: 3 }, 1)).toThrow(/Expected an even numericWidth/);
      expect(() => addon.attachRiskHead(handle, { ...spec, embeddingDims: [] }, 1)).toThrow(/one embedding width per categorical feature/);
      expect(() => addon.attachRiskHead(handle, { ...spec, ordinalClasses: 3 }, 1)).toThrow(/one-output classifier \(the ordinal score\)/);
      expect(() => addon.attachRiskHead(handle, { numericWidth: 0, categories: [], embeddingDims: [], ordinalClasses: 1 }, 1)).toThrow(/ordinalClasses >= 2/);
      addon.attachRiskHead(handle, spec, 1);
      expect(handle.trainableNames().filter((n) => n.startsWith('lora_node.'))).toEqual([
        'lora_node.features.embeddings.0.weight', 'lora_node.features.mix.weight', 'lora_node.features.mix.bias',
        'lora_node.features.out.weight', 'lora_node.features.out.bias',
      ]);
      expect(() => addon.attachRiskHead(handle, spec, 1)).toThrow(/already has one/);
      const dir = tmp('head-files');
      await writeSafetensors(join(dir, 'wrong-shape.safetensors'), { 'lora_node.features.out.bias': { dtype: 'F32', shape: [3], data: new Float32Array(3) } });
      await rejectsWith(addon.loadRiskHead(handle, join(dir, 'wrong-shape.safetensors')), 'ERR_SHAPE', /"lora_node\.features\.out\.bias" has shape \[3\] but the risk head expects \[2\]/);
      await writeSafetensors(join(dir, 'partial.safetensors'), { 'lora_node.features.out.bias': { dtype: 'F32', shape: [2], data: new Float32Array(2) } });
      await rejectsWith(addon.loadRiskHead(handle, join(dir, 'partial.safetensors')), 'ERR_MISSING_TENSOR', /the risk head has no "lora_node\.features/);
      await writeSafetensors(join(dir, 'extra.safetensors'), { 'lora_node.other': { dtype: 'F32', shape: [1], data: new Float32Array(1) } });
      await rejectsWith(addon.loadRiskHead(handle, join(dir, 'extra.safetensors')), 'ERR_CONFIG', /"lora_node\.other" names no parameter of this risk head/);
    } finally {
      handle.dispose();
    }
  });

  it('an adapter whose lora-node.json describes features but whose head file is missing fails to load, naming the file', async () => {
    using t = new Trainer({ ...BASE, epochs: 1 });
    await t.train(fusedExamples(32, 7));
    const dir = tmp('no-head');
    await t.save(dir);
    rmSync(join(dir, 'lora_node_head.safetensors'));
    await rejectsWith(Classifier.load(MODEL, { ...RUNTIME, adapter: dir }), 'ERR_MISSING_TENSOR', /describes features but lora_node_head\.safetensors is missing/);
  });
});

describe('ordinal severity (CORAL)', () => {
  it('has a lower MAE in classes than a multi-class model on the same data and seed', async () => {
    const train = severityExamples(240, 1);
    const held = severityExamples(120, 2);
    // Compared over three seeds: a single seed can land on a tie (a multi-class run that happens to learn the order).
    const means = { ordinal: 0, 'multi-class': 0 };
    for (const seed of [1, 2, 3]) {
      const mae = async (task: Task): Promise<number> => {
        using t = new Trainer({ ...BASE, seed, task, labels: SEVERITIES });
        const r = await t.train(train, { evalExamples: held });
        const cm = (r.finalEvaluation as { confusionMatrix: number[][] }).confusionMatrix;
        let sum = 0;
        cm.forEach((row, i) => row.forEach((count, j) => (sum += count * Math.abs(i - j))));
        if (task === 'ordinal') expect((r.finalEvaluation as { ordinal: { mae: number } }).ordinal.mae).toBeCloseTo(sum / held.length, 12);
        return sum / held.length;
      };
      const ordinal = await mae('ordinal');
      const multiClass = await mae('multi-class');
      expect(ordinal, `seed ${seed}`).toBeLessThanOrEqual(multiClass);
      expect(ordinal, `seed ${seed}`).toBeLessThan(0.4);
      means.ordinal += ordinal / 3;
      means['multi-class'] += multiClass / 3;
    }
    expect(means.ordinal).toBeLessThan(means['multi-class'] - 0.1);
  }, 120_000);

  describe('a trained ordinal model', () => {
    const train = severityExamples(160, 4);
    const probe = severityExamples(24, 5);
    let trainer: Trainer;
    const adapter = tmp('ordinal-adapter');
    const merged = tmp('ordinal-merged');

    beforeAll(async () => {
      trainer = new Trainer({ ...BASE, epochs: 3, task: 'ordinal', labels: SEVERITIES });
      await trainer.train(train, { evalExamples: probe });
      await trainer.save(adapter);
      await trainer.saveMerged(merged);
    }, 60_000);

    it('the native loss is coral_pytorch\'s coral_loss of its logits (mean over the batch of the summed BCE)', async () => {
      const handle = (trainer as unknown as { handle: NativeModelHandle }).handle;
      const tokenizer = await TextTokenizer.fromDirectory(MODEL, { maxLength: 128 });
      const batch = tokenizer.encodeBatch(probe.map((e) => e.text), { maxLength: 128 });
      const labels = Int32Array.from(probe, (e) => SEVERITIES.indexOf(e.label as string));
      const out = await handle.forward(batch.inputIds, batch.attentionMask, batch.batchSize, batch.seqLen, { labels, lossKind: 'ordinal' });
      expect(out.logits.length).toBe(probe.length * 3);
      const logSigmoid = (x: number) => -Math.log1p(Math.exp(-x));
      let total = 0;
      labels.forEach((y, i) => {
        for (let k = 0; k < 3; k++) {
          const z = out.logits[i * 3 + k]!;
          const level = y > k ? 1 : 0;
          total -= logSigmoid(z) * level + (logSigmoid(z) - z) * (1 - level); // coral_pytorch.losses.coral_loss
        }
      });
      expect(out.loss!).toBeCloseTo(total / labels.length, 5);
    });

    it('saves a one-output score head (PEFT, config.json) and K-1 thresholds in lora_node_head.safetensors', async () => {
      const peft = await readSafetensors(join(adapter, 'adapter_model.safetensors'));
      expect(peft.tensors['base_model.model.classifier.weight']!.shape).toEqual([1, 32]);
      const head = await readSafetensors(join(adapter, 'lora_node_head.safetensors'));
      expect(Object.keys(head.tensors)).toEqual(['lora_node.ordinal.thresholds']);
      expect(head.tensors['lora_node.ordinal.thresholds']!.shape).toEqual([3]);
      const meta = JSON.parse(readFileSync(join(adapter, 'lora-node.json'), 'utf8'));
      expect([meta.task, meta.labels]).toEqual(['ordinal', SEVERITIES]);
      const config = JSON.parse(readFileSync(join(merged, 'config.json'), 'utf8'));
      expect([config.id2label, config.problem_type]).toEqual([{ 0: 'ordinal_score' }, 'regression']);
    });

    it('Classifier.load (adapter or merged checkpoint) predicts class, probabilities and severity as the in-memory model, to 1e-5', async () => {
      const expected = await inMemoryPredictions(trainer, probe, SEVERITIES, 'ordinal');
      for (const [dir, options] of [[MODEL, { adapter }], [merged, {}]] as const) {
        using clf = await Classifier.load(dir, { ...RUNTIME, ...options });
        expect([clf.task, clf.labels]).toEqual(['ordinal', SEVERITIES]);
        const got = await clf.predict(probe.map((e) => e.text), { batchSize: 7 });
        expectSamePredictions(got, expected);
        for (const p of got) {
          expect(p.severity!).toBeGreaterThanOrEqual(0);
          expect(p.severity!).toBeLessThanOrEqual(3);
          expect(Object.values(p.scores).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
        }
      }
    });
  });

  it('an ordinal task needs labels in order unless they are integers', async () => {
    using t = new Trainer({ ...BASE, epochs: 1, task: 'ordinal' });
    await rejectsWith(t.train(severityExamples(16, 1)), 'ERR_DATA', /an ordinal task needs options\.labels in order/);
  });
});

describe('features and ordinal together', () => {
  const train: Example[] = severityExamples(64, 6).map((e, i) => ({ ...e, features: { amount: i % 7 === 0 ? null : (i * 37) % 100, channel: ['web', 'sms'][i % 2]! } }));

  it('full fine-tuning saves a complete checkpoint that Classifier.load predicts with as the in-memory model, to 1e-5', async () => {
    using t = new Trainer({ ...BASE, epochs: 2, lora: false, learningRate: 1e-3, task: 'ordinal', labels: SEVERITIES });
    await t.train(train);
    const out = tmp('full');
    await t.save(out);
    const schema = JSON.parse(readFileSync(join(out, 'lora-node.json'), 'utf8')).features as FeatureSchema;
    const probe = train.slice(0, 12);
    const expected = await inMemoryPredictions(t, probe, SEVERITIES, 'ordinal', schema);
    using clf = await Classifier.load(out, RUNTIME);
    expect([clf.task, clf.labels, clf.features]).toEqual(['ordinal', SEVERITIES, schema]);
    expectSamePredictions(await clf.predict(probe.map((e) => e.text), { features: probe.map((e) => e.features!) }), expected);
    const state = Object.keys((await readSafetensors(join(out, 'model.safetensors'))).tensors);
    expect(state.some((k) => k.startsWith('lora_node.'))).toBe(false);
  });

  it('a run resumed from a mid-training checkpoint writes the same risk head as an uninterrupted one', async () => {
    const options: TrainerOptions = { ...BASE, epochs: 3, task: 'ordinal', labels: SEVERITIES };
    const whole = tmp('whole');
    const checkpoints = tmp('ckpt');
    {
      using t = new Trainer({ ...options, checkpoints: { dir: checkpoints, every: 'epoch', keep: 3 } });
      await t.train(train);
      await t.save(whole);
    }
    expect(existsSync(join(checkpoints, 'checkpoint-4', 'lora_node_head.safetensors'))).toBe(true);
    const resumed = tmp('resumed');
    {
      using t = new Trainer({ ...options, checkpoints: { dir: tmp('ckpt2'), every: 'epoch', keep: 3 } });
      await t.train(train, { resumeFrom: join(checkpoints, 'checkpoint-4') });
      await t.save(resumed);
    }
    for (const file of ['lora_node_head.safetensors', 'adapter_model.safetensors'])
      expect(readFileSync(join(resumed, file)).equals(readFileSync(join(whole, file))), file).toBe(true);
    const head = await readSafetensors(join(whole, 'lora_node_head.safetensors'));
    expect(Object.keys(head.tensors).sort()).toEqual([
      'lora_node.features.embeddings.0.weight', 'lora_node.features.mix.bias', 'lora_node.features.mix.weight',
      'lora_node.features.out.bias', 'lora_node.features.out.weight', 'lora_node.ordinal.thresholds',
    ]);
  });
});
