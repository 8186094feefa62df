// The native surface under hostile arguments (test/fuzz/native-surface.mjs), in a child
// process so that a crash fails this test instead of taking the runner down.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const SCRIPT = join(import.meta.dirname, '..', 'fuzz', 'native-surface.mjs');
const FILES_SCRIPT = join(import.meta.dirname, '..', 'fuzz', 'safetensors-files.mjs');

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

  it('survives 600 corrupted checkpoint, 4-bit checkpoint and adapter files, and some still load', () => {
    const log = join(mkdtempSync(join(tmpdir(), 'lora-node-fuzz-files-')), 'mutants.log');
    const r = spawnSync(process.execPath, [FILES_SCRIPT, log, '600'], { encoding: 'utf8', timeout: 120_000 });
    const last = readFileSync(log, 'utf8').trim().split('\n').at(-1);
    expect(r.signal, `killed while reading: ${last}`).toBeNull();
    expect(r.status, `failed while reading: ${last}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/^DONE 600 mutants$/m);
    // Mutants that only touch data still load: the fuzz gets past the header checks.
    const loaded = /loaded: checkpoint (\d+), 4-bit checkpoint (\d+), adapter (\d+)/.exec(r.stdout);
    expect(loaded, r.stdout).not.toBeNull();
    for (const count of loaded!.slice(1)) expect(Number(count)).toBeGreaterThan(10);
  });
});
