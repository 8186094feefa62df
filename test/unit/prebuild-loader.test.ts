// The loader's child-process test load: a garbage .node, a truncated copy of the real
// addon (it kills the process that loads it: SIGBUS) and, where a C compiler exists, a
// library whose initializer segfaults, are all skipped with a reason, and this process
// lives on. The real addon is only ever loaded in child processes here.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { findLibtorch } from '../../scripts/find-libtorch.mjs';
import { prebuildName } from '../../scripts/lib/prebuild.mjs';
import { testLoad } from '../../scripts/lib/test-load.mjs';
import { AddonLoadError } from '../../lib/errors.js';
import { resolveAddon } from '../../lib/native/loader.js';

const REPO = join(import.meta.dirname, '..', '..');
const REAL = process.env.LORA_NODE_BINARY ?? join(REPO, 'build', 'Release', 'lora_node.node');
const libtorch = findLibtorch();
const tmp = mkdtempSync(join(tmpdir(), 'lora-node-prebuild-loader-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A C shared library whose constructor dereferences NULL: loading it kills the process. */
function crashingLibrary(path: string): boolean {
  const source = join(tmp, 'crash.c');
  writeFileSync(source, '__attribute__((constructor)) static void boom(void) { *(volatile int *)0 = 1; }\n');
  return spawnSync('cc', ['-shared', '-fPIC', '-o', path, source]).status === 0;
}

describe.skipIf(!existsSync(REAL) || !libtorch?.version)('loader: test load in a child process', () => {
  const dir = join(tmp, 'pkg', 'prebuilds', `${process.platform}-${process.arch}`);
  const fitting = prebuildName(libtorch!.version!, 'cpu', libtorch!.abi);
  const noCache = { env: { ...process.env, LORA_NODE_TEST_NONCE: String(Math.random()) } };

  it('reports why a garbage, a truncated and a crashing binary do not load', () => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(tmp, 'garbage.node'), 'this is not an ELF file\n');
    expect(testLoad(join(tmp, 'garbage.node'), noCache)).toMatchObject({ ok: false, reason: expect.stringMatching(/file too short|invalid ELF header/) });
    writeFileSync(join(tmp, 'truncated.node'), readFileSync(REAL).subarray(0, 64 * 1024));
    expect(testLoad(join(tmp, 'truncated.node'), noCache)).toMatchObject({ ok: false, reason: expect.stringMatching(/crashed the test process \(SIG\w+\)|too short|ELF/) });
    if (crashingLibrary(join(tmp, 'crash.node')))
      expect(testLoad(join(tmp, 'crash.node'), noCache)).toEqual({ ok: false, reason: 'it crashed the test process (SIGSEGV) while loading' });
    expect(testLoad(join(tmp, 'missing.node'))).toEqual({ ok: false, reason: 'not found' });
  });

  it('skips broken candidates that rank first and settles on one that loads; this process lives', () => {
    const root = join(tmp, 'pkg');
    writeFileSync(join(root, 'package.json'), '{}');
    // The best-ranked prebuild is garbage; the build (older, tried after it) is a copy of the real addon.
    writeFileSync(join(dir, fitting), readFileSync(REAL).subarray(0, 64 * 1024));
    mkdirSync(join(root, 'build', 'Release'), { recursive: true });
    copyFileSync(REAL, join(root, 'build', 'Release', 'lora_node.node'));
    utimesSync(join(root, 'build', 'Release', 'lora_node.node'), 1000, 1000);
    const resolved = resolveAddon({ root });
    expect(resolved.candidate.path).toBe(join(root, 'build', 'Release', 'lora_node.node'));
    expect(resolved.torchVersion).toBe(libtorch!.version);
    expect(resolved.rejected).toEqual([{ path: join(dir, fitting), reason: expect.any(String) }]);
    // The verdict is cached: the second time costs no child process.
    const again = testLoad(resolved.candidate.path, { extraKey: [libtorch!.cmakeDir] });
    expect(again).toMatchObject({ ok: true, cached: true });
    expect(process.exitCode ?? 0).toBe(0);
  });

  it('throws one AddonLoadError listing every binary tried and left out', () => {
    const root = join(tmp, 'broken');
    const pre = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
    mkdirSync(pre, { recursive: true });
    writeFileSync(join(pre, fitting), 'garbage');
    writeFileSync(join(pre, 'lora-node.torch0.1.cpu.node'), 'garbage');
    let error: unknown;
    try {
      resolveAddon({ root });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(AddonLoadError);
    const { code, message } = error as AddonLoadError;
    expect(code).toBe('ERR_ADDON_LOAD');
    expect(message).toContain('Tried, in order (in ');
    expect(message).toContain(`prebuilds/${process.platform}-${process.arch}/${fitting}:`);
    expect(message).toContain('Left out:');
    expect(message).toContain('lora-node.torch0.1.cpu.node: built for libtorch 0.1');
    expect(message).toContain('npx lora-node build');
  });

  it('LORA_NODE_BINARY is tried alone; a bad one is an error, not a crash', () => {
    let error: unknown;
    try {
      resolveAddon({ root: join(tmp, 'pkg'), env: { ...process.env, LORA_NODE_BINARY: join(tmp, 'truncated.node') } });
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: 'ERR_ADDON_LOAD', message: expect.stringContaining('LORA_NODE_BINARY') });
    expect((error as Error).message).not.toContain('build/Release');
  });

  it('nothing to load: names the prebuild that would fit and the build command', () => {
    const root = join(tmp, 'empty');
    mkdirSync(root, { recursive: true });
    expect(() => resolveAddon({ root })).toThrow(new RegExp(`No prebuild fits this libtorch \\(it would be prebuilds/.*/${fitting.replace(/\./g, '\\.')}\\)`));
  });
});
