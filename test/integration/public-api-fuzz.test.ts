// The public API under hostile arguments: whatever a caller passes, what comes back is a
// LoraNodeError with an ERR_ code (or the caller's own exception, from a getter of theirs),
// never a TypeError from deep inside. Complements test/fuzz/native-surface.mjs one layer up.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import * as L from '../../lib/index.js';
import { golden } from '../helpers/golden.js';

const CK = golden('tiny').checkpoint;
const CALLERS_OWN = new Error('the caller\'s own getter');
const throwing = Object.defineProperty({}, 'anything', { get: () => { throw CALLERS_OWN; }, enumerable: true });
const HOSTILE: unknown[] = [undefined, null, NaN, -1, 0, 1.5, 2 ** 40, '', 'x', true, {}, [], [1], ['a'], () => 1, Symbol('s'), 10n,
  new Float32Array(2), throwing, { model: CK }];
const name = (v: unknown): string =>
  typeof v === 'symbol' ? 'Symbol' : typeof v === 'bigint' ? `${v}n` : v === throwing ? 'throwing getter' : typeof v === 'function' ? 'function'
    : ArrayBuffer.isView(v) ? 'Float32Array' : (JSON.stringify(v) ?? String(v));

const failures: string[] = [];
async function probe(label: string, call: () => unknown): Promise<void> {
  try {
    await call();
  } catch (e) {
    if (e === CALLERS_OWN) return;
    if (e instanceof L.LoraNodeError && /^ERR_[A-Z_]+$/.test(e.code)) return;
    failures.push(`${label}: ${(e as Error)?.constructor?.name} ${String((e as Error)?.message).slice(0, 160)}`);
  }
}

const TRAINER_KEYS = ['model', 'task', 'labels', 'lora', 'epochs', 'batchSize', 'learningRate', 'weightDecay', 'warmupRatio', 'warmupSteps', 'scheduler',
  'maxGradNorm', 'gradientAccumulationSteps', 'maxLength', 'seed', 'classWeights', 'device', 'threads', 'precision', 'evaluation', 'earlyStopping',
  'checkpoints', 'quantization', 'hub', 'threshold', 'calibrate', 'mlm'];
const LORA_KEYS = ['r', 'alpha', 'dropout', 'targetModules', 'bias', 'modulesToSave', 'useRslora', 'init', 'layersToTransform', 'rankPattern', 'alphaPattern'];
const TWO = [{ text: 'a b', label: 'x' }, { text: 'c', label: 'y' }];

describe('the public API with hostile arguments', () => {
  const out = mkdtempSync(join(tmpdir(), 'lora-node-api-fuzz-'));
  let clf: L.Classifier;
  let trainer: L.Trainer;
  // A hostile string can name a hub repo: keep every lookup off the network.
  const saved = { offline: process.env.HF_HUB_OFFLINE, endpoint: process.env.HF_ENDPOINT };
  beforeAll(async () => {
    process.env.HF_HUB_OFFLINE = '1';
    process.env.HF_ENDPOINT = 'http://127.0.0.1:9';
    clf = await L.Classifier.load(CK, { device: 'cpu', precision: 'fp32' });
    trainer = new L.Trainer({ model: CK, epochs: 1, device: 'cpu', precision: 'fp32' });
    await trainer.train(TWO);
  });
  afterAll(() => {
    clf.dispose();
    trainer.dispose();
    for (const [key, value] of [['HF_HUB_OFFLINE', saved.offline], ['HF_ENDPOINT', saved.endpoint]] as const) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  });

  it('answers every call with a coded LoraNodeError', async () => {
    for (const v of HOSTILE) {
      const s = name(v);
      await probe(`new Trainer(${s})`, () => new L.Trainer(v as never));
      for (const k of TRAINER_KEYS) await probe(`new Trainer({ ${k}: ${s} })`, () => new L.Trainer({ model: CK, [k]: v } as never));
      for (const k of LORA_KEYS)
        await probe(`Trainer lora.${k} = ${s}`, async () => {
          using t = new L.Trainer({ model: CK, epochs: 1, lora: { [k]: v } } as never);
          await t.train(TWO);
        });
      await probe(`Classifier.load(${s})`, () => L.Classifier.load(v as never));
      for (const k of ['device', 'precision', 'threads', 'maxLength', 'adapter', 'adapters', 'quantization', 'hub'])
        await probe(`Classifier.load(ck, { ${k}: ${s} })`, async () => (await L.Classifier.load(CK, { [k]: v } as never)).dispose());
      await probe(`Model.load(ck, ${s})`, async () => (await L.Model.load(CK, v as never)).dispose());
      await probe(`loadExamples(${s})`, () => L.loadExamples(v as never));
      await probe(`loadInputs(csv, ${s})`, () => L.loadInputs(join(CK, '..', '..', '..', '..', 'examples', 'risk-messages.csv'), v as never));
      await probe(`new Quantizer(${s})`, () => new L.Quantizer(v as never));
      await probe(`fetchModel(${s})`, () => L.fetchModel(v as never));
      await probe(`fetchModel(id, ${s})`, () => L.fetchModel('org/x', v as never));
      await probe(`initModel(${s})`, () => L.initModel(v as never, v as never));
      await probe(`TextTokenizer.fromDirectory(${s})`, () => L.TextTokenizer.fromDirectory(v as never));
      await probe(`chooseThreshold(${s})`, () => L.chooseThreshold(v as never, v as never, v as never));
      await probe(`calibrate(${s})`, () => L.calibrate(v as never, v as never, v as never));
      await probe(`averagePrecision(${s})`, () => L.averagePrecision(v as never, v as never));
      await probe(`rocAuc(${s})`, () => L.rocAuc(v as never, v as never));
      await probe(`Quantizer.quantizeModel(${s})`, () => L.Quantizer.quantizeModel(v as never, v as never, v as never));
      await probe(`MaskedLanguageModel.load(${s})`, async () => (await L.MaskedLanguageModel.load(v as never)).dispose());
      await probe(`readSafetensors(${s})`, () => L.readSafetensors(v as never));
      await probe(`writeSafetensors(${s})`, () => L.writeSafetensors(v === 'x' ? join(out, 'w') : (v as never), v as never));
      await probe(`loadTextFile(${s})`, () => L.loadTextFile(v as never));
      await probe(`resolveModelSource(${s})`, () => L.resolveModelSource(v as never));
      await probe(`runtimeReport(${s})`, () => L.runtimeReport(v as never));
      await probe(`inferTask(${s})`, () => L.inferTask(v as never));
      await probe(`labelSpace(${s})`, () => L.labelSpace(v as never, v as never));
      await probe(`encodeLabels(${s})`, () => L.encodeLabels(v as never, v as never, v as never));
      await probe(`classificationReport(${s})`, () => L.classificationReport(v as never, v as never, v as never, v as never));
      await probe(`multiLabelReport(${s})`, () => L.multiLabelReport(v as never, v as never, v as never, v as never));
      await probe(`regressionReport(${s})`, () => L.regressionReport(v as never, v as never));
      await probe(`metricValue(${s})`, () => L.metricValue(v as never, v as never));
      await probe(`expectedCalibrationError(${s})`, () => L.expectedCalibrationError(v as never, v as never, v as never));
      await probe(`clf.predict(${s})`, () => clf.predict(v as never));
      await probe(`clf.predict([t], ${s})`, () => clf.predict(['text'], v as never));
      for (const k of ['batchSize', 'threshold', 'features']) await probe(`clf.predict([t], { ${k}: ${s} })`, () => clf.predict(['text'], { [k]: v } as never));
      await probe(`clf.logits(${s})`, () => clf.logits(v as never));
      await probe(`clf.encode(${s})`, () => clf.encode(v as never));
      await probe(`trainer.train(${s})`, () => trainer.train(v as never));
      await probe(`trainer.train([{ text: ${s} }])`, () => trainer.train([{ text: v, label: 'a' }, { text: 'b', label: 'b' }] as never));
      await probe(`trainer.train([{ label: ${s} }])`, () => trainer.train([{ text: 'a', label: v }, { text: 'b', label: 'b' }] as never));
      await probe(`trainer.train(ok, ${s})`, () => trainer.train(TWO, v as never));
      await probe(`trainer.save(${s})`, () => trainer.save(v === 'x' ? join(out, 'x') : (v as never)));
      await probe(`trainer.saveMerged(${s})`, () => trainer.saveMerged(v === 'x' ? join(out, 'y') : (v as never)));
    }
    expect(failures).toEqual([]);
  }, 120_000);
});
