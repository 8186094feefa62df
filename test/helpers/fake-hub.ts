// A local stand-in for the Hugging Face hub's resolve endpoint, on 127.0.0.1:
// HEAD/GET /<repo>/resolve/<revision>/<file> answer as huggingface.co does
// (X-Repo-Commit; ETag = git blob sha1 for regular files; LFS files redirect with
// 302 to a "CDN" on another port, with X-Linked-Etag = sha256 and X-Linked-Size;
// X-Error-Code on 401/404), and the CDN serves Range requests. Faults on demand:
// a body cut midway once, a corrupt body, a stalled body, a renamed repo.
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

export interface FakeRepo {
  id: string;
  commit: string;
  /** Other branch or tag names → commit (main is always the repo's commit). */
  refs?: Record<string, string>;
  files: Record<string, Buffer>;
  /** Files served like git-lfs files (redirect to the CDN, sha256 etag). */
  lfs: Set<string>;
  /** Answer 401 unless this Bearer token is sent. */
  token?: string;
}

export interface LoggedRequest {
  server: 'hub' | 'cdn';
  method: string;
  path: string;
  authorization: string | undefined;
  range: string | undefined;
}

export const gitBlobSha1 = (data: Buffer) => createHash('sha1').update(`blob ${data.length}\0`).update(data).digest('hex');
export const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** The files of a checkpoint folder, as a repo. */
export function repoFromDir(id: string, dir: string, commit: string, lfs = ['model.safetensors', 'adapter_model.safetensors']): FakeRepo {
  const files: Record<string, Buffer> = {};
  for (const name of readdirSync(dir)) files[name] = readFileSync(join(dir, name));
  return { id, commit, files, lfs: new Set(lfs.filter((f) => f in files)) };
}

export class FakeHub {
  readonly requests: LoggedRequest[] = [];
  /** sha256s whose first CDN GET is cut after half the bytes. */
  readonly cutOnce = new Set<string>();
  /** sha256s served with one byte flipped (same length). */
  readonly corrupt = new Set<string>();
  /** sha256s whose CDN body stops after half the bytes and then hangs. */
  readonly stall = new Set<string>();
  /** Old repo id → new one: answered with a relative 307, as for a renamed repo. */
  readonly renamed = new Map<string, string>();
  private readonly repos = new Map<string, FakeRepo>();
  private readonly blobs = new Map<string, Buffer>();
  private hub: Server | undefined;
  private cdn: Server | undefined;

  add(repo: FakeRepo): this {
    this.repos.set(repo.id, repo);
    for (const file of repo.lfs) this.blobs.set(sha256(repo.files[file]!), repo.files[file]!);
    return this;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${(this.hub!.address() as AddressInfo).port}`;
  }

  get cdnOrigin(): string {
    return `http://127.0.0.1:${(this.cdn!.address() as AddressInfo).port}`;
  }

  count(server?: 'hub' | 'cdn'): number {
    return this.requests.filter((r) => server === undefined || r.server === server).length;
  }

  async start(): Promise<this> {
    this.hub = createServer((req, res) => this.serveHub(req, res));
    this.cdn = createServer((req, res) => this.serveCdn(req, res));
    await Promise.all([this.hub, this.cdn].map((s) => new Promise<void>((done) => s.listen(0, '127.0.0.1', done))));
    return this;
  }

  async close(): Promise<void> {
    for (const server of [this.hub, this.cdn]) {
      if (!server) continue;
      server.closeAllConnections();
      await new Promise((done) => server.close(done));
    }
  }

  private log(server: 'hub' | 'cdn', req: IncomingMessage): void {
    this.requests.push({ server, method: req.method!, path: req.url!, authorization: req.headers.authorization, range: req.headers.range });
  }

  private serveHub(req: IncomingMessage, res: ServerResponse): void {
    this.log('hub', req);
    const match = /^\/(.+?)\/resolve\/([^/]+)\/(.+)$/.exec(req.url!.split('?')[0]!);
    if (!match) return error(res, 404, 'NotFound');
    const [, id, rawRevision, rawFile] = match as unknown as [string, string, string, string];
    const newId = this.renamed.get(id);
    if (newId) {
      res.writeHead(307, { location: `/${newId}/resolve/${rawRevision}/${rawFile}` });
      return void res.end();
    }
    const repo = this.repos.get(id);
    if (!repo) return error(res, 401, 'RepoNotFound', 'Repository not found');
    if (repo.token && req.headers.authorization !== `Bearer ${repo.token}`) return error(res, 401, 'RepoNotFound', 'Invalid credentials');
    const revision = decodeURIComponent(rawRevision);
    const known = [repo.commit, ...Object.values(repo.refs ?? {})];
    const commit = revision === 'main' ? repo.commit : known.includes(revision) ? revision : repo.refs?.[revision];
    if (!commit) return error(res, 404, 'RevisionNotFound', 'Invalid rev id');
    const file = decodeURIComponent(rawFile);
    const data = repo.files[file];
    if (!data) return error(res, 404, 'EntryNotFound', 'Entry not found', { 'x-repo-commit': commit });
    if (repo.lfs.has(file)) {
      const sha = sha256(data);
      res.writeHead(302, {
        location: `${this.cdnOrigin}/blobs/${sha}?expires=soon`,
        'x-repo-commit': commit,
        'x-linked-etag': `"${sha}"`,
        'x-linked-size': String(data.length),
        etag: `"${gitBlobSha1(Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${sha}\nsize ${data.length}\n`))}"`,
        'content-length': '0',
      });
      return void res.end();
    }
    res.writeHead(200, { 'x-repo-commit': commit, etag: `"${gitBlobSha1(data)}"`, 'content-length': String(data.length) });
    res.end(req.method === 'HEAD' ? undefined : data);
  }

  private serveCdn(req: IncomingMessage, res: ServerResponse): void {
    this.log('cdn', req);
    const sha = /^\/blobs\/([0-9a-f]{64})/.exec(req.url!)?.[1];
    const stored = sha === undefined ? undefined : this.blobs.get(sha);
    if (!sha || !stored) return error(res, 404, 'NotFound');
    let data = stored;
    if (this.corrupt.has(sha)) {
      data = Buffer.from(stored);
      data[data.length >> 1] ^= 0xff;
    }
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const start = range ? Number(range[1]) : 0;
    if (start >= data.length) {
      res.writeHead(416, { 'content-range': `bytes */${data.length}` });
      return void res.end();
    }
    const body = data.subarray(start);
    res.writeHead(range ? 206 : 200, {
      'content-length': String(body.length),
      ...(range ? { 'content-range': `bytes ${start}-${data.length - 1}/${data.length}` } : {}),
    });
    if (req.method === 'HEAD') return void res.end();
    if (this.cutOnce.delete(sha) || this.stall.has(sha)) {
      const cut = this.stall.has(sha);
      res.write(body.subarray(0, body.length >> 1), () => {
        if (!cut) setTimeout(() => res.destroy(), 20);
      });
      return;
    }
    res.end(body);
  }
}

function error(res: ServerResponse, status: number, code: string, message = code, extra: Record<string, string> = {}): void {
  res.writeHead(status, { 'x-error-code': code, 'x-error-message': message, 'content-type': 'text/plain', ...extra });
  res.end(`${status} ${message}`);
}
