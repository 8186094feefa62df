// Hub repo ids wherever a checkpoint folder is accepted (Classifier.load, Model.load,
// Trainer, adapters), and `lora-node download`, against the local fake hub. No network.
// (The CLI test runs dist/, which `npm test` compiles first.)
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { Classifier, Model, Trainer, resolveModelSource } from '../../lib/index.js';
import { FakeHub, repoFromDir } from '../helpers/fake-hub.js';
import { golden } from '../helpers/golden.js';
import { binaryExamples } from '../helpers/synthetic.js';

const g = golden('tiny');
const ADAPTER = join(g.checkpoint, '..', 'lora_adapter');
const ID = 'tiny-org/tiny-distilbert';
const ADAPTER_ID = 'tiny-org/tiny-adapter';
const COMMIT = 'c'.repeat(40);
const ADAPTER_COMMIT = 'd'.repeat(40);
const CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli', 'main.js');
const RUNTIME = { device: 'cpu', precision: 'fp32', threads: 1 } as const;
const [batchSize, seqLen] = g.shape('padded.input_ids') as [number, number];
const batch = { inputIds: g.int32('padded.input_ids'), attentionMask: g.int32('padded.attention_mask'), batchSize, seqLen };

let hub: FakeHub;
let cacheDir: string;
const saved = { HF_ENDPOINT: process.env.HF_ENDPOINT, HF_HUB_CACHE: process.env.HF_HUB_CACHE };

beforeEach(async () => {
  hub = await new FakeHub().add(repoFromDir(ID, g.checkpoint, COMMIT)).add(repoFromDir(ADAPTER_ID, ADAPTER, ADAPTER_COMMIT)).start();
  cacheDir = mkdtempSync(join(tmpdir(), 'lora-node-hub-load-'));
  // As a user would: the endpoint and the cache from the environment.
  process.env.HF_ENDPOINT = hub.endpoint;
  process.env.HF_HUB_CACHE = cacheDir;
});

afterEach(async () => {
  for (const [key, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
  await hub.close();
});

describe('hub repo ids where checkpoint folders are accepted', () => {
  it('Classifier.load(repoId) downloads once and gives the logits of the local folder', async () => {
    using local = await Classifier.load(g.checkpoint, RUNTIME);
    using fromHub = await Classifier.load(ID, RUNTIME);
    expect(await fromHub.logits(batch)).toEqual(await local.logits(batch));
    expect(fromHub.labels).toEqual(local.labels);
    expect(await fromHub.predict(['hello world'])).toEqual(await local.predict(['hello world']));
    const before = hub.count();
    using again = await Classifier.load(ID, { ...RUNTIME, hub: { offline: true } });
    expect(again.labels).toEqual(local.labels);
    expect(hub.count()).toBe(before);
  });

  it('a multi-adapter Classifier takes a base and adapters by repo id', async () => {
    using local = await Classifier.load(g.checkpoint, { ...RUNTIME, adapters: { a: ADAPTER } });
    using fromHub = await Classifier.load(ID, { ...RUNTIME, adapters: { a: ADAPTER_ID } });
    await fromHub.addAdapter('b', ADAPTER_ID);
    const [fromHubPredictions, localPredictions] = [await fromHub.predict(['hello world']), await local.predict(['hello world'])];
    // Two adapters run as one batched computation and one adapter alone: libtorch 2.x
    // may round those differently in the last bits, so scores agree within 1e-6.
    const expected = localPredictions[0]!.a!;
    for (const name of ['a', 'b']) {
      const got = fromHubPredictions[0]![name]!;
      expect(got.label).toBe(expected.label);
      for (const [label, score] of Object.entries(expected.scores)) expect(Math.abs(got.scores[label]! - score)).toBeLessThan(1e-6);
    }
  });

  it('options.hub overrides the environment (cacheDir, revision)', async () => {
    const other = mkdtempSync(join(tmpdir(), 'lora-node-hub-other-'));
    using clf = await Classifier.load(ID, { ...RUNTIME, hub: { cacheDir: other, revision: COMMIT } });
    expect(existsSync(join(other, 'models--tiny-org--tiny-distilbert', 'snapshots', COMMIT, 'config.json'))).toBe(true);
    expect(existsSync(join(cacheDir, 'models--tiny-org--tiny-distilbert'))).toBe(false);
    expect(clf.labels.length).toBeGreaterThan(0);
  });

  it('an adapter given as a repo id is fetched and applied like the local adapter folder', async () => {
    using local = await Classifier.load(g.checkpoint, { ...RUNTIME, adapter: ADAPTER });
    // hub.revision is the model's; the adapter has its own (adapterRevision, default main).
    using fromHub = await Classifier.load(ID, { ...RUNTIME, adapter: ADAPTER_ID, hub: { revision: COMMIT, adapterRevision: ADAPTER_COMMIT } });
    expect(existsSync(join(cacheDir, 'models--tiny-org--tiny-adapter', 'snapshots', ADAPTER_COMMIT, 'adapter_config.json'))).toBe(true);
    expect(await fromHub.logits(batch)).toEqual(await local.logits(batch));
    // The adapter changes the logits, so the comparison above says something.
    using base = await Classifier.load(g.checkpoint, RUNTIME);
    expect(await fromHub.logits(batch)).not.toEqual(await base.logits(batch));
  });

  it('Model.load(repoId) saves adapters with the repo id as base_model_name_or_path', async () => {
    using model = await Model.load(ID, { ...RUNTIME, lora: { r: 2 } });
    const out = mkdtempSync(join(tmpdir(), 'lora-node-hub-adapter-'));
    await model.saveAdapter(out);
    expect(JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8')).base_model_name_or_path).toBe(ID);
  });

  it('Trainer({ model: repoId }) trains on the fetched checkpoint and names it in the adapter', async () => {
    using trainer = new Trainer({ model: ID, ...RUNTIME, epochs: 1, batchSize: 8, maxLength: 16, lora: { r: 2 } });
    const result = await trainer.train(binaryExamples(16, 3));
    expect(result.task).toBe('binary');
    const out = mkdtempSync(join(tmpdir(), 'lora-node-hub-trained-'));
    await trainer.save(out);
    expect(JSON.parse(readFileSync(join(out, 'adapter_config.json'), 'utf8')).base_model_name_or_path).toBe(ID);
  });

  it('a local folder wins over a repo id of the same name; paths are never sent to the hub', async () => {
    const name = `hub-local-${process.pid}`;
    mkdirSync(name);
    try {
      expect(await resolveModelSource(name)).toBe(name);
      expect(await resolveModelSource('/no/such/folder')).toBe('/no/such/folder');
      expect(await resolveModelSource('./relative/missing')).toBe('./relative/missing');
      expect(hub.count()).toBe(0);
    } finally {
      rmSync(name, { recursive: true });
    }
  });

  it('a missing repo id fails with the hub\'s answer', async () => {
    await expect(Classifier.load('nobody/missing', RUNTIME)).rejects.toMatchObject({
      code: 'ERR_UNAUTHORIZED',
      message: expect.stringMatching(/^"nobody\/missing" is not a local folder, so it was taken as a hub repo id: .*HF_TOKEN/),
    });
  });
});

describe('lora-node download', () => {
  const cli = (...args: string[]) =>
    promisify(execFile)(process.execPath, [CLI, ...args], { env: { ...process.env }, timeout: 60_000 }).then(
      ({ stdout, stderr }) => ({ status: 0, stdout, stderr }),
      (error: { code: number; stdout: string; stderr: string }) => ({ status: error.code, stdout: error.stdout, stderr: error.stderr }),
    );

  it('prints the snapshot folder on stdout and progress lines on stderr', async () => {
    const result = await cli('download', ID);
    expect(result.stderr).toMatch(/^download model\.safetensors: .* \(100%\) done$/m);
    expect(result.status).toBe(0);
    expect(result.stdout.trim()).toBe(join(cacheDir, 'models--tiny-org--tiny-distilbert', 'snapshots', COMMIT));
    const offline = await cli('download', ID, '--offline', '--json');
    expect(JSON.parse(offline.stdout)).toMatchObject({ type: 'download', repoId: ID, path: result.stdout.trim() });
  });

  it('offline with an empty cache exits 1 with ERR_OFFLINE; a bad repo id exits 1 with ERR_INVALID_ARGUMENT', async () => {
    const result = await cli('download', ID, '--offline', '--cache-dir', mkdtempSync(join(tmpdir(), 'lora-node-empty-')));
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/offline mode: .*lora-node download tiny-org\/tiny-distilbert.* \[ERR_OFFLINE\]/);
    const bad = await cli('download', 'a/b/c');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/Expected a hub repo id .* \[ERR_INVALID_ARGUMENT\]/);
    expect(hub.count()).toBe(0);
  });
});
