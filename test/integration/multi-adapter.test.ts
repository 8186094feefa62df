// One base, many adapters: each adapter's results from the shared, stacked
// pass equal those of a Classifier carrying that adapter alone; adapters come
// and go while predictions run; bad adapters give coded errors.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Classifier, MultiAdapterClassifier } from '../../lib/index.js';
import { caught, rejectsWith } from '../helpers/errors.js';
import { golden, maxAbs, maxAbsDiff } from '../helpers/golden.js';
import { type RandomAdapterOptions, writeRandomAdapter } from '../helpers/random-adapter.js';

const BASE = golden('tiny').checkpoint;
const FIXTURE_ADAPTER = join(golden('tiny').checkpoint, '..', 'lora_adapter');
const TEXTS = [
  'the movie was great , it is great',
  'bad',
  'the plot was boring and the acting was the worst thing i have seen in a long while',
  'fun film',
  'i love this story',
];
const root = mkdtempSync(join(tmpdir(), 'lora-node-multi-'));
const dirs: Record<string, string> = {};

// Adapters that differ in targets, layers, ranks, labels, tasks and biases.
const ADAPTERS: Record<string, RandomAdapterOptions> = {
  // Only layer 1: layer 0 is shared by every adapter below that leaves it alone.
  spam: { lora: { targetModules: ['out_lin', 'lin1'], layersToTransform: [1], r: 2 }, labels: ['ham', 'spam'], task: 'binary', seed: 2 },
  abuse: {
    lora: { targetModules: 'all-linear', r: 8, alpha: 16, rankPattern: { lin2: 3 } },
    labels: ['insult', 'threat', 'slur', 'other'],
    task: 'multi-label',
    thresholds: [0.4, 0.5, 0.6, 0.7],
    seed: 3,
  },
  score: {
    lora: { targetModules: ['k_lin'], layersToTransform: [1], r: 4, bias: 'lora_only', useRslora: true },
    biases: ['distilbert.transformer.layer.1.attention.k_lin'],
    labels: ['risk'],
    task: 'regression',
    seed: 4,
  },
};

const fp32 = { device: 'cpu', precision: 'fp32', threads: 2 } as const;

beforeAll(async () => {
  dirs.fraud = FIXTURE_ADAPTER; // trained with PEFT: q_lin + v_lin, r 4, the base's 3 labels
  for (const [name, o] of Object.entries(ADAPTERS)) dirs[name] = await writeRandomAdapter(join(root, name), BASE, o);
});

/** Logits of one adapter through its own single-adapter Classifier. */
async function singleLogits(adapter: string, texts: string[], precision: 'fp32' | 'bf16' = 'fp32') {
  using clf = await Classifier.load(BASE, { ...fp32, precision, adapter: dirs[adapter] });
  return { logits: await clf.logits(clf.encode(texts)), predictions: await clf.predict(texts) };
}

describe('MultiAdapterClassifier', () => {
  let multi: MultiAdapterClassifier;
  const reference: Record<string, Awaited<ReturnType<typeof singleLogits>>> = {};

  beforeAll(async () => {
    for (const name of ['fraud', 'spam', 'abuse', 'score']) reference[name] = await singleLogits(name, TEXTS);
    multi = await Classifier.load(BASE, { ...fp32, adapters: { fraud: dirs.fraud!, spam: dirs.spam!, abuse: dirs.abuse!, score: dirs.score! } });
  });
  afterAll(() => multi?.dispose());

  it('gives each adapter the logits of a Classifier carrying it alone (fp32, ≤ 1e-5)', async () => {
    expect(multi).toBeInstanceOf(MultiAdapterClassifier);
    expect(multi.adapters.map((a) => a.name)).toEqual(['fraud', 'spam', 'abuse', 'score']);
    const logits = await multi.logits(multi.encode(TEXTS));
    for (const name of ['fraud', 'spam', 'abuse', 'score']) {
      const expected = reference[name]!.logits;
      expect(logits[name]!.length, name).toBe(expected.length);
      expect(maxAbs(expected), `${name} logits are not trivial`).toBeGreaterThan(0.05);
      expect(maxAbsDiff(logits[name]!, expected), name).toBeLessThanOrEqual(1e-5);
    }
  });

  it('gives the same logits when a batch is stacked in several slices (texts × adapters × tokens > 4096)', async () => {
    const long = Array.from({ length: 32 }, (_, i) => `${TEXTS.join(' , ')} ${TEXTS[i % TEXTS.length]}`);
    const batch = multi.encode(long);
    expect(batch.batchSize * batch.seqLen * 4).toBeGreaterThan(2 * 4096); // at least three slices
    const logits = await multi.logits(batch);
    for (const name of ['fraud', 'abuse']) {
      using single = await Classifier.load(BASE, { ...fp32, adapter: dirs[name] });
      expect(maxAbsDiff(logits[name]!, await single.logits(batch)), name).toBeLessThanOrEqual(1e-5);
    }
  });

  it('predicts per text a record by adapter, with its own labels, task and thresholds', async () => {
    const predictions = await multi.predict(TEXTS, { batchSize: 2 });
    expect(predictions).toHaveLength(TEXTS.length);
    predictions.forEach((p, i) => {
      expect(Object.keys(p)).toEqual(['fraud', 'spam', 'abuse', 'score']);
      for (const name of Object.keys(p)) {
        const single = reference[name]!.predictions[i]!;
        expect(p[name]!.label, `${name} text ${i}`).toBe(single.label);
        expect(Object.keys(p[name]!.scores)).toEqual(Object.keys(single.scores));
        for (const [label, score] of Object.entries(single.scores)) expect(p[name]!.scores[label]).toBeCloseTo(score, 5);
        expect(p[name]!.labels).toEqual(single.labels); // multi-label: the tuned thresholds of lora-node.json
      }
    });
    expect(multi.adapters.find((a) => a.name === 'abuse')!.thresholds).toEqual([0.4, 0.5, 0.6, 0.7]);
    expect(predictions[0]!.score!.scores).toHaveProperty('risk');
  });

  it('runs the layers no adapter touches once, and counts each adapter’s own bytes', async () => {
    expect(multi.sharedLayers).toBe(0); // fraud and abuse adapt layer 0
    using partial = await Classifier.load(BASE, { ...fp32, adapters: { spam: dirs.spam!, score: dirs.score! } });
    expect(partial.sharedLayers).toBe(1);
    const logits = await partial.logits(partial.encode(TEXTS));
    expect(maxAbsDiff(logits.spam!, reference.spam!.logits)).toBeLessThanOrEqual(1e-5);
    expect(maxAbsDiff(logits.score!, reference.score!.logits)).toBeLessThanOrEqual(1e-5);
    const bytes = partial.adapterBytes();
    // spam: r 2 on out_lin [32,32] and lin1 [64,32], plus its head (32·32 + 32 + 2·32 + 2) in fp32.
    expect(bytes.spam).toBe(4 * (2 * 32 + 32 * 2 + 2 * 32 + 64 * 2 + 32 * 32 + 32 + 2 * 32 + 2));
  });

  it('matches single-adapter Classifiers on a 4-bit (QLoRA) base', async () => {
    const quantization = { type: 'nf4', blockSize: 32 } as const;
    using q = await Classifier.load(BASE, { ...fp32, quantization, adapters: { fraud: dirs.fraud!, score: dirs.score! } });
    const logits = await q.logits(q.encode(TEXTS));
    for (const name of ['fraud', 'score']) {
      using single = await Classifier.load(BASE, { ...fp32, quantization, adapter: dirs[name] });
      expect(maxAbsDiff(logits[name]!, await single.logits(single.encode(TEXTS))), name).toBeLessThanOrEqual(1e-5);
    }
  });

  it('matches single-adapter Classifiers in bf16 too (looser: bf16 rounding)', async () => {
    using bf16 = await Classifier.load(BASE, { ...fp32, precision: 'bf16', adapters: { fraud: dirs.fraud!, spam: dirs.spam! } });
    expect(bf16.precision).toBe('bf16');
    const logits = await bf16.logits(bf16.encode(TEXTS));
    for (const name of ['fraud', 'spam']) {
      const { logits: expected } = await singleLogits(name, TEXTS, 'bf16');
      expect(maxAbsDiff(logits[name]!, expected), name).toBeLessThanOrEqual(2e-2);
    }
  });
});

describe('adding and removing adapters', () => {
  it('keeps a running predict on the adapters it started with', async () => {
    using multi = await Classifier.load(BASE, { ...fp32, adapters: { fraud: dirs.fraud!, spam: dirs.spam! } });
    const texts = Array.from({ length: 24 }, (_, i) => TEXTS[i % TEXTS.length]!);
    const running = multi.predict(texts, { batchSize: 1 }); // 24 forwards, queued one after another
    multi.removeAdapter('fraud');
    const adding = multi.addAdapter('abuse', dirs.abuse!);
    const predictions = await running;
    await adding;
    for (const p of predictions) expect(Object.keys(p)).toEqual(['fraud', 'spam']);
    const fraud = await singleLogits('fraud', texts);
    predictions.forEach((p, i) => expect(p.fraud!.label).toBe(fraud.predictions[i]!.label));
    // Later calls see the new set.
    expect(multi.adapters.map((a) => a.name)).toEqual(['spam', 'abuse']);
    const after = await multi.predict(TEXTS.slice(0, 2));
    expect(Object.keys(after[0]!)).toEqual(['spam', 'abuse']);
    expect(Object.keys(multi.adapterBytes())).toEqual(['spam', 'abuse']);
  });

  it('predicts empty records with no adapter, and takes adapters back', async () => {
    using multi = await Classifier.load(BASE, { ...fp32, adapters: {} });
    expect(await multi.predict(['a', 'b'])).toEqual([{}, {}]);
    await multi.addAdapter('spam', dirs.spam!);
    multi.removeAdapter('spam');
    await multi.addAdapter('spam', dirs.spam!);
    const logits = await multi.logits(multi.encode(TEXTS));
    expect(maxAbsDiff(logits.spam!, (await singleLogits('spam', TEXTS)).logits)).toBeLessThanOrEqual(1e-5);
  });

  it('survives dispose() while a predict runs', async () => {
    const multi = await Classifier.load(BASE, { ...fp32, adapters: { spam: dirs.spam! } });
    const running = multi.predict(TEXTS, { batchSize: 1 });
    multi.dispose();
    multi.dispose();
    await rejectsWith(running, 'ERR_DISPOSED', /after dispose/);
    expect(caught(() => multi.removeAdapter('spam')).code).toBe('ERR_DISPOSED');
  });
});

describe('errors', () => {
  let multi: MultiAdapterClassifier;
  beforeAll(async () => {
    multi = await Classifier.load(BASE, { ...fp32, adapters: { spam: dirs.spam! } });
  });
  afterAll(() => multi?.dispose());

  it('an unknown name on remove', () => {
    const e = caught(() => multi.removeAdapter('fraud'));
    expect(e.code).toBe('ERR_INVALID_ARGUMENT');
    expect(e.message).toMatch(/Expected the name of a loaded adapter \("spam"\) but received "fraud"/);
  });

  it('a duplicate name, also while the first is still loading', async () => {
    await rejectsWith(multi.addAdapter('spam', dirs.abuse!), 'ERR_INVALID_ARGUMENT', /Expected a new adapter name for name but received the string "spam"/);
    const first = multi.addAdapter('twice', dirs.abuse!);
    await rejectsWith(multi.addAdapter('twice', dirs.abuse!), 'ERR_INVALID_ARGUMENT', /new adapter name/);
    await first;
    multi.removeAdapter('twice');
  });

  it('an adapter trained on a base of another shape', async () => {
    const other = join(golden('real-vocab').checkpoint, '..', 'lora_adapter'); // dim 48, not 32
    await rejectsWith(
      multi.addAdapter('other', other),
      'ERR_SHAPE',
      /pre_classifier\.bias" has shape \[48\] but the base model expects \[32\] \(was the adapter trained on another base model\?\)/,
    );
    const deep = await writeRandomAdapter(join(root, 'deep'), golden('small-multilabel').checkpoint, { labels: ['a', 'b', 'c'], saveHead: false, seed: 5 });
    await rejectsWith(multi.addAdapter('deep', deep), 'ERR_SHAPE', /adapts distilbert\.transformer\.layer\.2\.attention\.q_lin, which the base model does not have/);
    const wide = await writeRandomAdapter(join(root, 'wide'), golden('small-multilabel').checkpoint, {
      lora: { layersToTransform: [0] },
      labels: ['a', 'b', 'c'],
      saveHead: false, // the base's head serves: the LoRA matrices' shapes are what differ
      seed: 5,
    });
    await rejectsWith(multi.addAdapter('wide', wide), 'ERR_SHAPE', /lora_A\.weight" has shape \[8, 64\] but rank 8 on the base's distilbert\.transformer\.layer\.0\.attention\.q_lin expects \[8, 32\]/);
    expect(multi.adapters.map((a) => a.name)).toEqual(['spam']);
  });

  it('a head whose size disagrees with the labels', async () => {
    const dir = await writeRandomAdapter(join(root, 'head-rows'), BASE, { labels: ['a', 'b'], headRows: 3, seed: 6 });
    await rejectsWith(multi.addAdapter('rows', dir), 'ERR_SHAPE', /classifier\.weight" has shape \[3, 32\] but a head for the adapter's 2 labels \(lora-node\.json, else the base's config\.json\) expects \[2, 32\]$/);
  });

  it('tensors that only a full model can take, and missing ones', async () => {
    const norm = await writeRandomAdapter(join(root, 'norm'), BASE, {
      labels: ['a', 'b'],
      extra: { 'base_model.model.distilbert.transformer.layer.0.sa_layer_norm.bias': [32] },
      seed: 7,
    });
    await rejectsWith(multi.addAdapter('norm', norm), 'ERR_CONFIG', /replaces the base parameter distilbert\.transformer\.layer\.0\.sa_layer_norm\.bias/);
    const missing = await writeRandomAdapter(join(root, 'missing'), BASE, {
      labels: ['a', 'b'],
      omit: ['base_model.model.distilbert.transformer.layer.1.attention.v_lin.lora_B.weight'],
      seed: 8,
    });
    await rejectsWith(multi.addAdapter('missing', missing), 'ERR_MISSING_TENSOR', /has no "base_model\.model\.distilbert\.transformer\.layer\.1\.attention\.v_lin\.lora_B\.weight"/);
  });

  it('no head of its own, and labels the base head cannot give', async () => {
    const headless = await writeRandomAdapter(join(root, 'headless'), BASE, { labels: ['a', 'b'], saveHead: false, seed: 9 });
    await rejectsWith(multi.addAdapter('headless', headless), 'ERR_SHAPE', /saves no classifier and the base model's has 3 outputs, not the adapter's 2 labels/);
  });

  it('warns when the adapter names another base folder (shapes decide, names only warn)', async () => {
    const dir = await writeRandomAdapter(join(root, 'renamed'), BASE, { labels: ['a', 'b'], seed: 10 });
    const file = join(dir, 'adapter_config.json');
    writeFileSync(file, readFileSync(file, 'utf8').replace('"base_model_name_or_path": "checkpoint"', '"base_model_name_or_path": "models/other-base"'));
    const warned = new Promise<Error>((resolve) => process.once('warning', resolve));
    await multi.addAdapter('renamed', dir);
    const warning = (await warned) as Error & { code?: string };
    expect(warning.code).toBe('LORA_NODE_ADAPTER_BASE');
    expect(warning.message).toMatch(/was trained on "models\/other-base"/);
    multi.removeAdapter('renamed');
  });

  it('bad options and names', async () => {
    await rejectsWith(Classifier.load(BASE, { ...fp32, adapters: 'x' as never }), 'ERR_INVALID_ARGUMENT', /Expected an object of adapter name -> adapter folder for options.adapters/);
    await rejectsWith(Classifier.load(BASE, { ...fp32, adapters: { a: '' } }), 'ERR_INVALID_ARGUMENT', /options\.adapters\["a"\]/);
    await rejectsWith(Classifier.load(BASE, { ...fp32, adapters: { a: join(root, 'nope') } }), 'ERR_CONFIG', /adapter_config\.json/);
    await rejectsWith(multi.addAdapter('', dirs.spam!), 'ERR_INVALID_ARGUMENT', /non-empty string for name/);
    expect(caught(() => multi.removeAdapter(3 as never)).code).toBe('ERR_INVALID_ARGUMENT');
  });
});

describe('lora-node predict --adapter NAME=DIR (dist/, built by npm test)', () => {
  const CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli', 'main.js');
  const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });

  it('prints one record per text with every adapter, equal to the library', async () => {
    const texts = TEXTS.slice(0, 3);
    const result = run('predict', '--model', BASE, '--device', 'cpu', '--precision', 'fp32', '--json', '--adapter', `fraud=${dirs.fraud}`, '--adapter', `spam=${dirs.spam}`, ...texts);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const lines = result.stdout.trim().split('\n').map((l) => JSON.parse(l));
    using multi = await Classifier.load(BASE, { ...fp32, adapters: { fraud: dirs.fraud!, spam: dirs.spam! } });
    const expected = await multi.predict(texts);
    lines.forEach((line, i) => {
      expect(line.text).toBe(texts[i]);
      expect(Object.keys(line.predictions)).toEqual(['fraud', 'spam']);
      for (const name of ['fraud', 'spam']) {
        expect(line.predictions[name].label).toBe(expected[i]![name]!.label);
        expect(line.predictions[name].score).toBeCloseTo(expected[i]![name]!.score, 6);
      }
    });
  });

  it('rejects a mix of named and plain adapters, and a name given twice', () => {
    const mixed = run('predict', '--model', BASE, '--adapter', `a=${dirs.spam}`, '--adapter', dirs.spam!, 'x');
    expect(mixed.status).toBe(1);
    expect(mixed.stderr).toMatch(/Expected --adapter NAME=DIR for each of several adapters but received ".*spam" \[ERR_INVALID_ARGUMENT\]/);
    const twice = run('predict', '--model', BASE, '--adapter', `a=${dirs.spam}`, '--adapter', `a=${dirs.fraud}`, 'x');
    expect(twice.stderr).toMatch(/Expected each --adapter name once but received "a" twice/);
  });
});
