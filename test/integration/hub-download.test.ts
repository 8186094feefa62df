// fetchModel against a local fake of the hub's resolve endpoint (test/helpers/fake-hub.ts):
// the cache layout on disk, cache hits without requests, commits as revisions, redirects,
// Range resume, checksum and HTTP failures, tokens, offline mode and abort. No network.
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { fetchModel } from '../../lib/index.js';
import { addon } from '../helpers/addon.js';
import { rejectsWith } from '../helpers/errors.js';
import { FakeHub, type FakeRepo, gitBlobSha1, repoFromDir, sha256 } from '../helpers/fake-hub.js';
import { FIXTURES } from '../helpers/golden.js';

const CHECKPOINT = join(FIXTURES, 'tiny', 'checkpoint');
const ADAPTER = join(FIXTURES, 'tiny', 'lora_adapter');
const COMMIT = 'a'.repeat(40);
const OLD_COMMIT = 'b'.repeat(40);
const ID = 'tiny-org/tiny-distilbert';
const REPO_DIR = 'models--tiny-org--tiny-distilbert';

let hub: FakeHub;
let cacheDir: string;
let repo: FakeRepo;
const opts = (extra: Record<string, unknown> = {}) => ({ cacheDir, endpoint: hub.endpoint, ...extra });

beforeEach(async () => {
  repo = repoFromDir(ID, CHECKPOINT, COMMIT);
  hub = await new FakeHub().add(repo).start();
  cacheDir = mkdtempSync(join(tmpdir(), 'lora-node-hub-'));
});

afterEach(async () => {
  await hub.close();
});

const modelSha = () => sha256(repo.files['model.safetensors']!);

describe('fetchModel: a fresh download', () => {
  it('fills the cache with huggingface_hub\'s layout: blobs by etag, relative symlinks, refs/main', async () => {
    const dir = await fetchModel(ID, opts());
    const root = join(cacheDir, REPO_DIR);
    expect(dir).toBe(join(root, 'snapshots', COMMIT));
    // Every file of the checkpoint, byte for byte, through the symlinks.
    for (const [name, data] of Object.entries(repo.files)) expect(readFileSync(join(dir, name)).equals(data)).toBe(true);
    // LFS file: blob named by its sha256; regular files: by their git blob sha1.
    const model = join(dir, 'model.safetensors');
    expect(lstatSync(model).isSymbolicLink()).toBe(true);
    expect(readlinkSync(model)).toBe(`../../blobs/${modelSha()}`);
    expect(readlinkSync(join(dir, 'config.json'))).toBe(`../../blobs/${gitBlobSha1(repo.files['config.json']!)}`);
    expect(readFileSync(join(root, 'refs', 'main'), 'utf8')).toBe(COMMIT);
    const blobs = readdirSync(join(root, 'blobs')).sort();
    expect(blobs).toEqual(
      Object.entries(repo.files)
        .map(([name, data]) => (name === 'model.safetensors' ? sha256(data) : gitBlobSha1(data)))
        .sort(),
    );
    // lora-node.json is absent from this repo: remembered as huggingface_hub does.
    expect(existsSync(join(root, '.no_exist', COMMIT, 'lora-node.json'))).toBe(true);
  });

  it('follows the redirect of LFS files to another host, reading X-Linked-Etag/X-Linked-Size on it', async () => {
    await fetchModel(ID, opts());
    const cdn = hub.requests.filter((r) => r.server === 'cdn');
    expect(cdn.map((r) => `${r.method} ${r.path}`)).toEqual([`GET /blobs/${modelSha()}?expires=soon`]);
    // HEAD first for every file (metadata), GET only for the regular files (LFS goes to the CDN).
    const heads = hub.requests.filter((r) => r.server === 'hub' && r.method === 'HEAD').map((r) => r.path);
    expect(heads[0]).toBe(`/${ID}/resolve/main/config.json`);
    // After the first file, files are asked for at the commit it resolved to.
    expect(heads[1]).toBe(`/${ID}/resolve/${COMMIT}/model.safetensors`);
  });

  it('follows a relative redirect (a renamed repo)', async () => {
    hub.renamed.set('old-org/old-name', ID);
    const dir = await fetchModel('old-org/old-name', opts());
    expect(dir).toBe(join(cacheDir, 'models--old-org--old-name', 'snapshots', COMMIT));
    expect(readFileSync(join(dir, 'vocab.txt')).equals(repo.files['vocab.txt']!)).toBe(true);
    expect(hub.requests.some((r) => r.path.startsWith('/old-org/old-name/') && r.method === 'HEAD')).toBe(true);
  });

  it('an empty file is cached as an empty blob', async () => {
    repo.files['special_tokens_map.json'] = Buffer.alloc(0);
    const dir = await fetchModel(ID, opts());
    expect(readFileSync(join(dir, 'special_tokens_map.json')).length).toBe(0);
    expect(readlinkSync(join(dir, 'special_tokens_map.json'))).toBe(`../../blobs/${gitBlobSha1(Buffer.alloc(0))}`);
  });

  it('downloads a PEFT adapter repo with kind: "adapter"', async () => {
    hub.add(repoFromDir('tiny-org/tiny-adapter', ADAPTER, OLD_COMMIT));
    const dir = await fetchModel('tiny-org/tiny-adapter', opts({ kind: 'adapter' }));
    expect(readdirSync(dir).sort()).toEqual(['adapter_config.json', 'adapter_model.safetensors']);
    expect(readFileSync(join(dir, 'adapter_model.safetensors')).equals(readFileSync(join(ADAPTER, 'adapter_model.safetensors')))).toBe(true);
  });
});

describe('fetchModel: the cache', () => {
  it('a second call answers from the cache without any request', async () => {
    const first = await fetchModel(ID, opts());
    const before = hub.count();
    expect(await fetchModel(ID, opts())).toBe(first);
    expect(hub.count()).toBe(before);
    // refresh asks the hub again (HEADs only: the blobs are there).
    await fetchModel(ID, opts({ refresh: true }));
    const again = hub.requests.slice(before);
    expect(again.length).toBeGreaterThan(0);
    expect(again.every((r) => r.method === 'HEAD')).toBe(true);
  });

  it('a revision that is a commit hash writes no ref, and is answered from the cache next time', async () => {
    const dir = await fetchModel(ID, opts({ revision: COMMIT }));
    expect(dir).toBe(join(cacheDir, REPO_DIR, 'snapshots', COMMIT));
    expect(existsSync(join(cacheDir, REPO_DIR, 'refs'))).toBe(false);
    expect(hub.requests.filter((r) => r.server === 'hub').every((r) => r.path.includes(`/resolve/${COMMIT}/`))).toBe(true);
    const before = hub.count();
    await fetchModel(ID, opts({ revision: COMMIT }));
    expect(hub.count()).toBe(before);
  });

  it('a branch name resolves to its commit and gets its own ref', async () => {
    repo.refs = { 'v1.0': OLD_COMMIT };
    const dir = await fetchModel(ID, opts({ revision: 'v1.0' }));
    expect(dir).toBe(join(cacheDir, REPO_DIR, 'snapshots', OLD_COMMIT));
    expect(readFileSync(join(cacheDir, REPO_DIR, 'refs', 'v1.0'), 'utf8')).toBe(OLD_COMMIT);
  });

  it('reuses a cache laid out by Python\'s huggingface_hub, with no request, online or offline', async () => {
    // As hf_hub_download / transformers leave it: blobs, relative symlinks, refs/main without a newline.
    const root = join(cacheDir, REPO_DIR);
    mkdirSync(join(root, 'blobs'), { recursive: true });
    mkdirSync(join(root, 'snapshots', COMMIT), { recursive: true });
    mkdirSync(join(root, 'refs'), { recursive: true });
    for (const [name, data] of Object.entries(repo.files)) {
      const etag = name === 'model.safetensors' ? sha256(data) : gitBlobSha1(data);
      writeFileSync(join(root, 'blobs', etag), data);
      symlinkSync(`../../blobs/${etag}`, join(root, 'snapshots', COMMIT, name));
    }
    writeFileSync(join(root, 'refs', 'main'), COMMIT);
    expect(await fetchModel(ID, opts())).toBe(join(root, 'snapshots', COMMIT));
    expect(await fetchModel(ID, opts({ offline: true }))).toBe(join(root, 'snapshots', COMMIT));
    expect(hub.count()).toBe(0);
  });

  it('resumes a partial .incomplete blob left by an earlier run with a Range request', async () => {
    const data = repo.files['model.safetensors']!;
    const blobs = join(cacheDir, REPO_DIR, 'blobs');
    mkdirSync(blobs, { recursive: true });
    writeFileSync(join(blobs, `${modelSha()}.incomplete`), data.subarray(0, 1000));
    const dir = await fetchModel(ID, opts());
    expect(readFileSync(join(dir, 'model.safetensors')).equals(data)).toBe(true);
    const cdn = hub.requests.filter((r) => r.server === 'cdn');
    expect(cdn.map((r) => r.range)).toEqual(['bytes=1000-']);
    expect(existsSync(join(blobs, `${modelSha()}.incomplete`))).toBe(false);
  });
});

describe('fetchModel: faults', () => {
  it('resumes with Range when the connection drops midway', async () => {
    hub.cutOnce.add(modelSha());
    const dir = await fetchModel(ID, opts());
    expect(readFileSync(join(dir, 'model.safetensors')).equals(repo.files['model.safetensors']!)).toBe(true);
    const cdn = hub.requests.filter((r) => r.server === 'cdn');
    expect(cdn).toHaveLength(2);
    expect(cdn[0]!.range).toBeUndefined();
    expect(cdn[1]!.range).toMatch(/^bytes=[1-9]\d*-$/);
  });

  it('a connection that goes silent counts as dropped (HF_HUB_DOWNLOAD_TIMEOUT); after the retries, the next run resumes', async () => {
    hub.stall.add(modelSha());
    const previous = process.env.HF_HUB_DOWNLOAD_TIMEOUT;
    process.env.HF_HUB_DOWNLOAD_TIMEOUT = '0.2';
    try {
      await rejectsWith(fetchModel(ID, opts()), 'ERR_DOWNLOAD', /model\.safetensors: the connection kept dropping \(no data for 0\.2 s\) after \d+ of \d+ bytes; run again to resume/);
    } finally {
      if (previous === undefined) delete process.env.HF_HUB_DOWNLOAD_TIMEOUT;
      else process.env.HF_HUB_DOWNLOAD_TIMEOUT = previous;
    }
    // Each try resumed where the last stopped.
    const ranges = hub.requests.filter((r) => r.server === 'cdn').map((r) => Number(r.range?.slice(6, -1) ?? 0));
    expect(ranges.length).toBe(5);
    for (let i = 1; i < ranges.length; i++) expect(ranges[i]).toBeGreaterThan(ranges[i - 1]!);
    hub.stall.clear();
    const dir = await fetchModel(ID, opts());
    expect(readFileSync(join(dir, 'model.safetensors')).equals(repo.files['model.safetensors']!)).toBe(true);
  });

  it('two concurrent fetches of one repo share one download', async () => {
    const [a, b] = await Promise.all([fetchModel(ID, opts()), fetchModel(ID, opts())]);
    expect(a).toBe(b);
    expect(hub.requests.filter((r) => r.server === 'cdn')).toHaveLength(1);
    expect(readFileSync(join(a, 'model.safetensors')).equals(repo.files['model.safetensors']!)).toBe(true);
  });

  it("waits while another process holds huggingface_hub's lock on the blob, then uses the blob it wrote", async () => {
    const sha = modelSha();
    const lock = join(cacheDir, '.locks', REPO_DIR, `${sha}.lock`);
    mkdirSync(join(cacheDir, '.locks', REPO_DIR), { recursive: true });
    const handle = addon.tryLockFile(lock)!; // a second open file: flock treats it as another process
    expect(handle).toBeGreaterThanOrEqual(0);
    const fetching = fetchModel(ID, opts());
    await new Promise((done) => setTimeout(done, 400));
    expect(hub.count('cdn')).toBe(0); // waiting, not downloading
    mkdirSync(join(cacheDir, REPO_DIR, 'blobs'), { recursive: true });
    writeFileSync(join(cacheDir, REPO_DIR, 'blobs', sha), repo.files['model.safetensors']!); // what "the other process" wrote
    addon.unlockFile(handle);
    const dir = await fetching;
    expect(hub.count('cdn')).toBe(0);
    expect(readFileSync(join(dir, 'model.safetensors')).equals(repo.files['model.safetensors']!)).toBe(true);
    expect(addon.tryLockFile(lock)).toBeGreaterThanOrEqual(0); // released after the download
  });

  it('an abort while waiting for the lock is ERR_ABORTED and leaves the lock to its holder', async () => {
    const lock = join(cacheDir, '.locks', REPO_DIR, `${modelSha()}.lock`);
    mkdirSync(join(cacheDir, '.locks', REPO_DIR), { recursive: true });
    const handle = addon.tryLockFile(lock)!;
    const controller = new AbortController();
    const fetching = fetchModel(ID, opts({ signal: controller.signal }));
    setTimeout(() => controller.abort(), 300);
    await rejectsWith(fetching, 'ERR_ABORTED', /aborted/);
    expect(hub.count('cdn')).toBe(0);
    expect(addon.tryLockFile(lock)).toBe(-1); // still ours
    addon.unlockFile(handle);
  });

  it('a checksum mismatch fails, and leaves nothing in snapshots or blobs', async () => {
    hub.corrupt.add(modelSha());
    await rejectsWith(fetchModel(ID, opts()), 'ERR_DOWNLOAD', new RegExp(`model\\.safetensors: checksum mismatch: expected sha256 ${modelSha()}`));
    const root = join(cacheDir, REPO_DIR);
    expect(existsSync(join(root, 'snapshots', COMMIT, 'model.safetensors'))).toBe(false);
    expect(readdirSync(join(root, 'blobs')).filter((b) => b.startsWith(modelSha()))).toEqual([]);
    expect(existsSync(join(root, 'refs', 'main'))).toBe(false);
  });

  it('a repo without model.safetensors fails with ERR_NOT_FOUND and says pytorch_model.bin is not supported', async () => {
    hub.add({ ...repoFromDir('tiny-org/bin-only', CHECKPOINT, COMMIT), lfs: new Set() });
    const binOnly = (hub as unknown as { repos: Map<string, FakeRepo> }).repos.get('tiny-org/bin-only')!;
    delete binOnly.files['model.safetensors'];
    binOnly.files['pytorch_model.bin'] = Buffer.from('not used');
    await rejectsWith(fetchModel('tiny-org/bin-only', opts()), 'ERR_NOT_FOUND', /has no model\.safetensors.*pytorch_model\.bin .*not supported/);
  });

  it('a repo without a tokenizer fails with ERR_NOT_FOUND naming the files looked for', async () => {
    delete repo.files['tokenizer.json'];
    delete repo.files['vocab.txt'];
    await rejectsWith(fetchModel(ID, opts()), 'ERR_NOT_FOUND', /has no tokenizer: expected one of tokenizer\.json, vocab\.txt/);
  });

  it('an unknown revision fails with ERR_NOT_FOUND', async () => {
    await rejectsWith(fetchModel(ID, opts({ revision: 'nope' })), 'ERR_NOT_FOUND', /has no revision "nope"/);
  });

  it('401 fails with ERR_UNAUTHORIZED and says to set HF_TOKEN', async () => {
    await rejectsWith(fetchModel('someone/private-model', opts()), 'ERR_UNAUTHORIZED', /answered 401 .*private or gated; set HF_TOKEN/);
  });

  it('sends HF_TOKEN as a Bearer token to the hub only, never to the CDN', async () => {
    repo.token = 'hf_secret';
    await rejectsWith(fetchModel(ID, opts({ token: 'hf_wrong' })), 'ERR_UNAUTHORIZED', /token in HF_TOKEN was refused/);
    hub.requests.length = 0;
    const previous = process.env.HF_TOKEN;
    process.env.HF_TOKEN = 'hf_secret';
    try {
      await fetchModel(ID, opts());
    } finally {
      if (previous === undefined) delete process.env.HF_TOKEN;
      else process.env.HF_TOKEN = previous;
    }
    const onHub = hub.requests.filter((r) => r.server === 'hub');
    const onCdn = hub.requests.filter((r) => r.server === 'cdn');
    expect(onHub.length).toBeGreaterThan(0);
    expect(onHub.every((r) => r.authorization === 'Bearer hf_secret')).toBe(true);
    expect(onCdn).toHaveLength(1);
    expect(onCdn[0]!.authorization).toBeUndefined();
  });

  it('an endpoint that is not a hub (no X-Repo-Commit) fails clearly', async () => {
    const plain = createServer((_req, res) => res.writeHead(200, { etag: '"x"', 'content-length': '2' }).end('{}'));
    await new Promise<void>((done) => plain.listen(0, '127.0.0.1', done));
    try {
      const endpoint = `http://127.0.0.1:${(plain.address() as AddressInfo).port}`;
      await rejectsWith(fetchModel(ID, { cacheDir, endpoint }), 'ERR_DOWNLOAD', /sent no X-Repo-Commit header .*does not look like a Hugging Face hub/);
    } finally {
      plain.closeAllConnections();
      plain.close();
    }
  });

  it('an unreachable endpoint fails with ERR_DOWNLOAD and mentions offline mode', async () => {
    const port = new URL(hub.endpoint).port;
    await hub.close();
    await rejectsWith(fetchModel(ID, { cacheDir, endpoint: `http://127.0.0.1:${port}` }), 'ERR_DOWNLOAD', /could not reach .*HF_HUB_OFFLINE=1/);
    hub = await new FakeHub().start();
  });
});

describe('fetchModel: offline mode and abort', () => {
  it('offline: a cached revision is served; a missing one is an ERR_OFFLINE naming what is missing', async () => {
    await rejectsWith(fetchModel(ID, opts({ offline: true })), 'ERR_OFFLINE', /offline mode: .* has no revision "main" of tiny-org\/tiny-distilbert .*refs\/main.*lora-node download/);
    expect(hub.count()).toBe(0);
    const dir = await fetchModel(ID, opts());
    const before = hub.count();
    const previous = process.env.HF_HUB_OFFLINE;
    process.env.HF_HUB_OFFLINE = '1';
    try {
      expect(await fetchModel(ID, opts({ refresh: true }))).toBe(dir);
      rmSync(join(dir, 'model.safetensors'));
      await rejectsWith(fetchModel(ID, opts()), 'ERR_OFFLINE', /lacks model\.safetensors/);
    } finally {
      if (previous === undefined) delete process.env.HF_HUB_OFFLINE;
      else process.env.HF_HUB_OFFLINE = previous;
    }
    expect(hub.count()).toBe(before);
  });

  it('an AbortSignal stops the download with ERR_ABORTED; the partial file is resumed next time', async () => {
    hub.stall.add(modelSha());
    const controller = new AbortController();
    const seen: number[] = [];
    const download = fetchModel(ID, opts({
      signal: controller.signal,
      onProgress: (p: { file: string; loaded: number }) => {
        if (p.file !== 'model.safetensors') return;
        seen.push(p.loaded);
        controller.abort();
      },
    }));
    await rejectsWith(download, 'ERR_ABORTED', /download was aborted/);
    const partial = join(cacheDir, REPO_DIR, 'blobs', `${modelSha()}.incomplete`);
    expect(existsSync(partial)).toBe(true);
    const kept = lstatSync(partial).size;
    expect(kept).toBeGreaterThan(0);
    hub.stall.clear();
    const dir = await fetchModel(ID, opts());
    expect(readFileSync(join(dir, 'model.safetensors')).equals(repo.files['model.safetensors']!)).toBe(true);
    expect(hub.requests.filter((r) => r.server === 'cdn').at(-1)!.range).toBe(`bytes=${kept}-`);
  });

  it('an already aborted signal sends no request', async () => {
    await rejectsWith(fetchModel(ID, opts({ signal: AbortSignal.abort() })), 'ERR_ABORTED', /aborted/);
    expect(hub.count()).toBe(0);
  });
});

describe('fetchModel: arguments', () => {
  it.each([
    ['a/b/c'],
    ['-leading'],
    ['double--dash'],
    ['dots..name'],
    ['name.git'],
    ['x'.repeat(97)],
    [''],
  ])('rejects the repo id %j', async (id) => {
    await rejectsWith(fetchModel(id, opts()), 'ERR_INVALID_ARGUMENT', /Expected a hub repo id .* for repoId/);
  });

  it('rejects bad options with the usual wording', async () => {
    await rejectsWith(fetchModel(ID, opts({ revision: 3 })), 'ERR_INVALID_ARGUMENT', /Expected a non-empty string for options\.revision but received number 3/);
    await rejectsWith(fetchModel(ID, { endpoint: 'ftp://x' }), 'ERR_INVALID_ARGUMENT', /Expected an http\(s\) URL/);
    await rejectsWith(fetchModel(ID, opts({ kind: 'dataset' })), 'ERR_INVALID_ARGUMENT', /Expected "model" or "adapter" for options\.kind/);
  });
});
