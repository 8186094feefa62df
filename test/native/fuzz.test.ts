// The native surface under hostile arguments (test/fuzz/native-surface.mjs), in a child
// process so that a crash fails this test instead of taking the runner down.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const SCRIPT = join(import.meta.dirname, '..', 'fuzz', 'native-surface.mjs');

describe('native surface fuzz', () => {
  it('survives every mutated call: exit 0 after more than 10,000 calls', () => {
    const log = join(mkdtempSync(join(tmpdir(), 'lora-node-fuzz-log-')), 'calls.log');
    const r = spawnSync(process.execPath, [SCRIPT, log], { encoding: 'utf8', timeout: 120_000 });
    const last = readFileSync(log, 'utf8').trim().split('\n').slice(-3).join(' | ');
    expect(r.signal, `killed during: ${last}`).toBeNull();
    expect(r.status, `failed during: ${last}\n${r.stderr}`).toBe(0);
    const done = /^DONE (\d+) calls$/m.exec(r.stdout);
    expect(done, r.stdout).not.toBeNull();
    expect(Number(done![1])).toBeGreaterThan(10_000);
  });
});
