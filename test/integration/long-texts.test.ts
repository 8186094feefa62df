// predict(texts, { longTexts }): texts longer than maxLength read in overlapping windows and
// combined. Checked against the windows run one by one through logits().
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Classifier, TextTokenizer } from '../../lib/index.js';
import { FIXTURES, golden } from '../helpers/golden.js';

const RUNTIME = { device: 'cpu', precision: 'fp32', maxLength: 12 } as const;
const LONG = 'I loved the first half of this film , the actors were great and the music was fine , but then it went on and on and the ending was awful and I hated it';

const softmax = (row: Float32Array): number[] => {
  const max = Math.max(...row);
  const e = Array.from(row, (v) => Math.exp(v - max));
  const total = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / total);
};

describe('long texts in windows (binary real-vocab model, maxLength 12)', () => {
  let clf: Classifier;
  let windows: number[][]; // each window's probabilities, from logits() one window at a time
  beforeAll(async () => {
    clf = await Classifier.load(golden('real-vocab').checkpoint, RUNTIME);
    // The reference: the same windows (encodeWindows' rows) through logits(), one by one.
    const tokenizer = await TextTokenizer.fromDirectory(golden('real-vocab').checkpoint);
    const { batch } = tokenizer.encodeWindows([LONG], { maxLength: 12, overlap: 2 });
    windows = [];
    for (let r = 0; r < batch.batchSize; r++) {
      const ids = Array.from(batch.inputIds.subarray(r * batch.seqLen, (r + 1) * batch.seqLen)).filter((_, t) => batch.attentionMask[r * batch.seqLen + t] === 1);
      windows.push(softmax(await clf.logits({ inputIds: Int32Array.from(ids), attentionMask: new Int32Array(ids.length).fill(1), batchSize: 1, seqLen: ids.length })));
    }
  });
  afterAll(() => clf.dispose());

  it('reads several windows', () => {
    expect(windows.length).toBeGreaterThan(3);
  });

  it("'mean' averages the windows' probabilities", async () => {
    const [p] = await clf.predict([LONG], { longTexts: { aggregate: 'mean', overlap: 2 }, batchSize: 3 });
    expect(p!.windows).toBe(windows.length);
    const mean = [0, 1].map((k) => windows.reduce((s, w) => s + w[k]!, 0) / windows.length);
    clf.labels.forEach((label, k) => expect(p!.scores[label]).toBeCloseTo(mean[k]!, 5));
    expect(p!.label).toBe(clf.labels[mean[1]! > 0.5 ? 1 : 0]);
    expect(p!.truncated).toBeUndefined();
  });

  it("'max' takes the highest P(second label) of any window", async () => {
    const [p] = await clf.predict([LONG], { longTexts: { aggregate: 'max', overlap: 2 } });
    const top = Math.max(...windows.map((w) => w[1]!));
    expect(p!.scores[clf.labels[1]!]).toBeCloseTo(top, 5);
    expect(p!.scores[clf.labels[0]!]).toBeCloseTo(1 - top, 5);
  });

  it('a text that fits is one window, with the scores predict() gives it anyway', async () => {
    const [windowed] = await clf.predict(['I loved it'], { longTexts: { aggregate: 'max' } });
    const [plain] = await clf.predict(['I loved it']);
    expect(windowed!.windows).toBe(1);
    clf.labels.forEach((label) => expect(windowed!.scores[label]).toBeCloseTo(plain!.scores[label]!, 6));
  });

  it('checks its options', async () => {
    await expect(clf.predict([LONG], { longTexts: { aggregate: 'median' } as never })).rejects.toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringMatching(/options.longTexts.aggregate/) }),
    );
    await expect(clf.predict([LONG], { longTexts: { aggregate: 'mean', overlap: 10 } })).rejects.toThrow(
      /Expected an integer in \[0, 9\] \(tokens shared by windows of 10 text tokens\) for options.longTexts.overlap but received number 10/,
    );
    await expect(clf.predict([LONG], { longTexts: 'max' as never })).rejects.toThrow(/Expected \{ aggregate: 'mean' \| 'max', overlap\? \} for options.longTexts/);
  });
});

describe('long texts and the task', () => {
  it("'max' is refused for multi-class (use 'mean'); 'mean' works", async () => {
    using multiClass = await Classifier.load(golden('tiny').checkpoint, RUNTIME);
    expect(multiClass.task).toBe('multi-class');
    await expect(multiClass.predict([LONG], { longTexts: { aggregate: 'max' } })).rejects.toThrow(/Expected aggregate 'mean' for a multi-class model/);
    const [p] = await multiClass.predict([LONG], { longTexts: { aggregate: 'mean' } });
    expect(p!.windows).toBeGreaterThan(1);
  });
});

describe('long texts with several adapters on one base', () => {
  it('give each adapter what a single-adapter Classifier gives with the same windows', async () => {
    const adapter = join(FIXTURES, 'tiny', 'lora_adapter');
    using multi = await Classifier.load(golden('tiny').checkpoint, { ...RUNTIME, adapters: { a: adapter, b: adapter } });
    using single = await Classifier.load(golden('tiny').checkpoint, { ...RUNTIME, adapter });
    const texts = [LONG, 'I loved it', `${LONG} ${LONG}`];
    const options = { longTexts: { aggregate: 'mean', overlap: 3 }, batchSize: 4 } as const;
    const [many, one] = [await multi.predict(texts, options), await single.predict(texts, options)];
    many.forEach((record, i) => {
      for (const name of ['a', 'b']) {
        expect(record[name]!.windows).toBe(one[i]!.windows);
        expect(record[name]!.label).toBe(one[i]!.label);
        for (const label of single.labels) expect(record[name]!.scores[label]).toBeCloseTo(one[i]!.scores[label]!, 5);
      }
    });
    expect(one[2]!.windows).toBeGreaterThan(one[0]!.windows!);
  });
});

describe('lora-node predict --long-texts', () => {
  it('prints each text\'s combined prediction with its window count; a bad value names the flag', () => {
    const cli = join(import.meta.dirname, '..', '..', 'dist', 'cli', 'main.js');
    const args = ['predict', '--model', golden('real-vocab').checkpoint, '--device', 'cpu', '--precision', 'fp32', '--max-length', '12'];
    const r = spawnSync(process.execPath, [cli, ...args, '--long-texts', 'max', '--json', LONG, 'I loved it'], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const [long, short] = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(long.windows).toBeGreaterThan(3);
    expect(short.windows).toBe(1);
    // eval --long-texts measures the same combined predictions.
    const csv = join(mkdtempSync(join(tmpdir(), 'lora-node-long-eval-')), 'eval.csv');
    writeFileSync(csv, `text,label\n"${LONG}",POSITIVE\n"I loved it",NEGATIVE\n`);
    const evalArgs = ['eval', '--model', golden('real-vocab').checkpoint, '--device', 'cpu', '--precision', 'fp32', '--max-length', '12', '--data', csv, '--json'];
    const evaluated = spawnSync(process.execPath, [cli, ...evalArgs, '--long-texts', 'max'], { encoding: 'utf8', timeout: 60_000 });
    expect(evaluated.status, evaluated.stderr).toBe(0);
    const right = [long.label === 'POSITIVE', short.label === 'NEGATIVE'].filter(Boolean).length / 2;
    expect(JSON.parse(evaluated.stdout).report.accuracy).toBe(right);
    const bad = spawnSync(process.execPath, [cli, ...args, '--long-texts', 'median', LONG], { encoding: 'utf8', timeout: 60_000 });
    expect(bad.stderr).toMatch(/Expected one of mean, max for --long-texts but received "median" \[ERR_INVALID_ARGUMENT\]/);
  });
});
