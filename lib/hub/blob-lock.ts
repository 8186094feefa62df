// One writer per blob across processes: the exclusive flock huggingface_hub's filelock
// takes on <cache>/.locks/models--org--name/<etag>.lock around a download. A second
// process (Node or Python) waits, then finds the blob in place. The kernel releases a
// lock when its process dies, so nothing stale is left to clean up. Where flock is
// missing (Windows) or the addon does not load, downloads run unlocked, as before.
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { AbortError } from '../errors.js';
import { loadAddon } from '../native/loader.js';

/** How often a waiting process tries the lock again. */
const POLL_MS = 100;

interface Locker {
  tryLock(path: string): number | null;
  unlock(handle: number): void;
}

function nativeLocker(): Locker | undefined {
  try {
    const addon = loadAddon();
    return { tryLock: (path) => addon.tryLockFile(path), unlock: (handle) => addon.unlockFile(handle) };
  } catch {
    return undefined;
  }
}

/**
 * Runs `work` holding the lock at `lockPath`, waiting while another process holds it;
 * `signal` aborts the wait (ERR_ABORTED).
 */
export async function withBlobLock<T>(lockPath: string, signal: AbortSignal | undefined, work: () => Promise<T>): Promise<T> {
  const locker = nativeLocker();
  if (!locker) return work();
  await mkdir(dirname(lockPath), { recursive: true });
  let handle = locker.tryLock(lockPath);
  if (handle === null) return work();
  while (handle < 0) {
    try {
      await sleep(POLL_MS, undefined, signal ? { signal } : {});
    } catch {
      throw new AbortError('download was aborted');
    }
    handle = locker.tryLock(lockPath)!;
  }
  try {
    return await work();
  } finally {
    locker.unlock(handle);
  }
}
