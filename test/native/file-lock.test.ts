// tryLockFile / unlockFile (native/addon/file_lock_binding.cpp): flock semantics that the
// hub cache relies on, across processes, and clear errors for anything else from JS.
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { addon } from '../helpers/addon.js';

const dir = mkdtempSync(join(tmpdir(), 'lora-node-lock-'));
const LOADER = join(import.meta.dirname, '..', '..', 'dist', 'native', 'loader.js');

/** tryLockFile(path) in a child process: what it returned there. */
function tryInChild(path: string): number {
  const script = `import(${JSON.stringify(LOADER)}).then((m) => console.log(m.loadAddon().tryLockFile(${JSON.stringify(path)})))`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000 });
  expect(r.stderr).toBe('');
  return Number(r.stdout.trim());
}

describe('file locks', () => {
  it('one holder at a time, across processes; released on unlock and when the holder exits', () => {
    const lock = join(dir, 'a.lock');
    const handle = addon.tryLockFile(lock)!;
    expect(handle).toBeGreaterThanOrEqual(0);
    expect(addon.tryLockFile(lock)).toBe(-1);
    expect(tryInChild(lock)).toBe(-1);
    addon.unlockFile(handle);
    expect(tryInChild(lock)).toBeGreaterThanOrEqual(0); // the child exits holding it: the kernel lets go
    const again = addon.tryLockFile(lock)!;
    expect(again).toBeGreaterThanOrEqual(0);
    addon.unlockFile(again);
  });

  it('bad arguments are ERR_INVALID_ARGUMENT; an unopenable path is ERR_IO naming it', () => {
    expect(() => addon.tryLockFile('')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringMatching(/non-empty path string for tryLockFile/) }));
    expect(() => addon.unlockFile(0)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringMatching(/that tryLockFile returned and that is still held but received 0/) }));
    expect(() => (addon.unlockFile as (v: unknown) => void)('3')).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    const handle = addon.tryLockFile(join(dir, 'b.lock'))!;
    addon.unlockFile(handle);
    expect(() => addon.unlockFile(handle)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT' }));
    const missing = join(dir, 'no', 'such', 'dir', 'c.lock');
    expect(() => addon.tryLockFile(missing)).toThrow(expect.objectContaining({ code: 'ERR_IO', message: expect.stringContaining(missing) }));
  });
});
