// Downloads one blob: into blobs/<etag>.incomplete, resuming with an HTTP Range
// request what an earlier try (or run) left there, then checks the size and, for
// LFS files (a sha256 etag), the sha256, and only then renames it into place.
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, open, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

import { AbortError, HubError, LoraNodeError } from '../errors.js';
import { withBlobLock } from './blob-lock.js';
import { type RequestContext, getFollowing, secondsFromEnv, throwIfAborted } from './http.js';
import type { FileMetadata } from './metadata.js';

export interface DownloadProgress {
  /** The file in the repo, e.g. model.safetensors. */
  file: string;
  /** Bytes on disk so far (a resumed download starts above 0). */
  loaded: number;
  total: number;
}

export interface BlobTarget {
  file: string;
  /** blobs/<etag>.incomplete */
  incomplete: string;
  /** blobs/<etag> */
  blob: string;
  /** <cache>/.locks/<repo>/<etag>.lock: held while writing (blob-lock.ts) */
  lock: string;
}

/** Tries per file when the connection drops; each resumes where the last stopped. */
const ATTEMPTS = 5;
/** A connection silent this long counts as dropped (huggingface_hub: HF_HUB_DOWNLOAD_TIMEOUT, 10 s). */
function idleTimeoutMs(): number {
  return secondsFromEnv('HF_HUB_DOWNLOAD_TIMEOUT', 10) * 1000;
}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

export async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** One GET from `start`; returns the bytes on disk after it. Throws only on HTTP errors and aborts. */
async function attempt(
  meta: FileMetadata,
  target: BlobTarget,
  start: number,
  ctx: RequestContext,
  onProgress: ((p: DownloadProgress) => void) | undefined,
): Promise<{ size: number; dropped?: unknown }> {
  const idle = new AbortController();
  const signal = ctx.signal ? AbortSignal.any([ctx.signal, idle.signal]) : idle.signal;
  let timer = setTimeout(() => idle.abort(), idleTimeoutMs());
  try {
    const response = await getFollowing(meta.location, ctx, start > 0 ? { range: `bytes=${start}-` } : {}, signal);
    if (response.status === 416) {
      // The range is past the end: what we hold is not a prefix of this file.
      await response.body?.cancel();
      await rm(target.incomplete, { force: true });
      return { size: 0, dropped: new Error('416 Range Not Satisfiable') };
    }
    if (response.status !== 200 && response.status !== 206) {
      await response.body?.cancel();
      throw new HubError('ERR_DOWNLOAD', `downloading ${target.file} failed: ${meta.location.origin} answered ${response.status} ${response.statusText}`);
    }
    // A 200 to a Range request is the whole file: start again.
    const resumed = response.status === 206 ? start : 0;
    const handle = await open(target.incomplete, resumed > 0 ? 'a' : 'w');
    let size = resumed;
    try {
      const reader = response.body?.getReader();
      for (;;) {
        let chunk: { done: true; value?: undefined } | { done: false; value: Uint8Array };
        try {
          chunk = reader ? await reader.read() : { done: true, value: undefined };
        } catch (error) {
          // The connection dropped (or went silent): the caller resumes from `size`.
          throwIfAborted(ctx.signal);
          return { size, dropped: idle.signal.aborted ? new Error(`no data for ${idleTimeoutMs() / 1000} s`) : error };
        }
        if (chunk.done) break;
        clearTimeout(timer);
        timer = setTimeout(() => idle.abort(), idleTimeoutMs());
        try {
          await handle.write(chunk.value);
        } catch (error) {
          throw new LoraNodeError('ERR_IO', `writing ${target.incomplete} failed: ${(error as Error).message}`, { cause: error });
        }
        size += chunk.value.byteLength;
        onProgress?.({ file: target.file, loaded: size, total: meta.size });
      }
    } finally {
      await handle.close();
    }
    return { size };
  } catch (error) {
    throwIfAborted(ctx.signal);
    if (error instanceof HubError && idle.signal.aborted) return { size: await sizeOf(target.incomplete), dropped: error };
    throw error;
  } finally {
    clearTimeout(timer);
  }
}

async function verify(meta: FileMetadata, target: BlobTarget): Promise<void> {
  const size = await sizeOf(target.incomplete);
  if (size !== meta.size) {
    await rm(target.incomplete, { force: true });
    throw new HubError('ERR_DOWNLOAD', `${target.file}: expected ${meta.size} bytes but received ${size}`);
  }
  if (/^[0-9a-f]{64}$/.test(meta.etag)) {
    const actual = await sha256OfFile(target.incomplete);
    if (actual !== meta.etag) {
      await rm(target.incomplete, { force: true });
      throw new HubError('ERR_DOWNLOAD', `${target.file}: checksum mismatch: expected sha256 ${meta.etag} but the downloaded file has ${actual}`);
    }
  }
}

// Two loads of one model in one process share a download instead of writing one .incomplete
// twice (the first caller's signal and progress callback govern it).
const inFlight = new Map<string, Promise<void>>();

/**
 * Downloads `meta` into target.blob (verified). A leftover .incomplete is resumed. Another
 * process writing the same blob is waited for (its lock), and its blob used.
 */
export async function downloadBlob(
  meta: FileMetadata,
  target: BlobTarget,
  ctx: RequestContext,
  onProgress?: (p: DownloadProgress) => void,
): Promise<void> {
  const running = inFlight.get(target.blob);
  if (running) return running;
  const download = withBlobLock(target.lock, ctx.signal, async () => {
    if (!existsSync(target.blob)) await downloadOnce(meta, target, ctx, onProgress);
  }).finally(() => inFlight.delete(target.blob));
  inFlight.set(target.blob, download);
  return download;
}

async function downloadOnce(
  meta: FileMetadata,
  target: BlobTarget,
  ctx: RequestContext,
  onProgress?: (p: DownloadProgress) => void,
): Promise<void> {
  await mkdir(dirname(target.incomplete), { recursive: true });
  if (meta.size === 0) await writeFile(target.incomplete, ''); // nothing to GET
  let size = await sizeOf(target.incomplete);
  if (size > meta.size) {
    await rm(target.incomplete, { force: true });
    size = 0;
  }
  let lastProblem: unknown;
  for (let i = 0; i < ATTEMPTS && size < meta.size; i++) {
    throwIfAborted(ctx.signal);
    const result = await attempt(meta, target, size, ctx, onProgress);
    const progressed = result.size > size;
    size = result.size;
    if (result.dropped === undefined) break;
    lastProblem = result.dropped;
    if (!progressed) await new Promise((done) => setTimeout(done, 200 * (i + 1)));
  }
  if (size < meta.size && lastProblem !== undefined) {
    const why = (lastProblem as { cause?: { code?: string } }).cause?.code ?? (lastProblem as Error).message;
    throw new HubError('ERR_DOWNLOAD', `${target.file}: the connection kept dropping (${why}) after ${size} of ${meta.size} bytes; run again to resume`, {
      cause: lastProblem,
    });
  }
  if (ctx.signal?.aborted) throw new AbortError('download was aborted');
  await verify(meta, target);
  await rename(target.incomplete, target.blob);
}
