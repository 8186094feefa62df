// Prebuild names, which ones fit a libtorch, the order the loader tries binaries in,
// and the install plan around them. Pure: fake files, no addon.
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import { type FoundLibtorch, readTorchAbi, readTorchCudaVersion } from '../../scripts/find-libtorch.mjs';
import { planInstall } from '../../scripts/lib/plan.mjs';
import { parsePrebuildName, prebuildMismatch, prebuildName, prebuildStale, rankPrebuilds } from '../../scripts/lib/prebuild.mjs';
import { addonCandidates } from '../../lib/native/candidates.js';

const tmp = mkdtempSync(join(tmpdir(), 'lora-node-prebuild-names-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const debian: FoundLibtorch = { cmakeDir: '/usr/lib/x86_64-linux-gnu/cmake/Torch', prefix: '/usr', source: 'debian', version: '1.13.0', cuda: false, abi: 'cxx11' };
const pipCuda: FoundLibtorch = { cmakeDir: '/venv/torch/share/cmake/Torch', prefix: '/venv/torch', source: 'python', version: '2.3.1', cuda: true, abi: 'pre-cxx11', cudaVersion: 121 };

describe('prebuild names', () => {
  it('encode libtorch major.minor, device and (only when old) the C++ ABI', () => {
    expect(prebuildName('1.13.0')).toBe('lora-node.torch1.13.cpu.node');
    expect(prebuildName('2.3.1', 'cuda118')).toBe('lora-node.torch2.3.cuda118.node');
    expect(prebuildName('2.3.1', 'cuda121', 'pre-cxx11')).toBe('lora-node.torch2.3.cuda121.precxx11.node');
    expect(parsePrebuildName('lora-node.torch2.3.cuda121.precxx11.node')).toEqual({ torch: '2.3', variant: 'cuda121', cuda: 121, abi: 'pre-cxx11' });
    expect(parsePrebuildName('lora-node.torch1.13.cpu.node')?.abi).toBeUndefined();
    for (const bad of ['lora_node.node', 'lora-node.torch1.cpu.node', 'lora-node.torch1.13.rocm.node', 'lora-node.torch1.13.cpu.node.tmp'])
      expect(parsePrebuildName(bad)).toBeNull();
  });

  it('fit by version, C++ ABI and device, with a reason when they do not', () => {
    const info = (f: string) => parsePrebuildName(f)!;
    expect(prebuildMismatch(info('lora-node.torch1.13.cpu.node'), debian)).toBeNull();
    expect(prebuildMismatch(info('lora-node.torch2.3.cpu.node'), debian)).toBe('built for libtorch 2.3, but libtorch 1.13.0 is installed');
    expect(prebuildMismatch(info('lora-node.torch1.13.cpu.precxx11.node'), debian)).toMatch(/pre-cxx11 C\+\+ ABI, but libtorch uses the cxx11 one/);
    expect(prebuildMismatch(info('lora-node.torch1.13.cuda118.node'), debian)).toMatch(/cuda118, but libtorch 1.13.0 is CPU-only/);
    expect(prebuildMismatch(info('lora-node.torch2.3.cpu.precxx11.node'), pipCuda)).toMatch(/CPU only, but libtorch 2.3.1 has CUDA/);
    // A libtorch that does not state its ABI accepts either; the test load decides.
    expect(prebuildMismatch(info('lora-node.torch1.13.cpu.precxx11.node'), { ...debian, abi: undefined })).toBeNull();
  });

  it('rank a CUDA libtorch\'s exact CUDA version first, then the lowest', () => {
    const files = ['lora-node.torch2.3.cuda118.precxx11.node', 'lora-node.torch2.3.cuda121.precxx11.node', 'lora-node.torch2.3.cuda124.precxx11.node', 'lora-node.torch2.3.cuda121.node'];
    expect(rankPrebuilds(files, pipCuda)).toEqual(['lora-node.torch2.3.cuda121.precxx11.node', 'lora-node.torch2.3.cuda118.precxx11.node', 'lora-node.torch2.3.cuda124.precxx11.node']);
    expect(rankPrebuilds(files, { ...pipCuda, cudaVersion: undefined })[0]).toBe('lora-node.torch2.3.cuda118.precxx11.node');
  });

  it('read the ABI from TorchConfig.cmake and the CUDA version from the libtorch folder', () => {
    const dir = join(tmp, 'torch-abi');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'TorchConfig.cmake'), 'if(CMAKE_SYSTEM_NAME STREQUAL "Linux")\n  set(TORCH_CXX_FLAGS "-D_GLIBCXX_USE_CXX11_ABI=0")\nendif()\n');
    expect(readTorchAbi(dir)).toBe('pre-cxx11');
    writeFileSync(join(dir, 'TorchConfig.cmake'), 'set(TORCH_CXX_FLAGS "-D_GLIBCXX_USE_CXX11_ABI=1")\n');
    expect(readTorchAbi(dir)).toBe('cxx11');
    expect(readTorchAbi(join(tmp, 'nowhere'))).toBeUndefined();
    expect(readTorchCudaVersion(join(tmp, 'nowhere'), '2.4.0+cu121')).toBe(121);
    writeFileSync(join(dir, 'build-version'), '2.3.1+cu118\n');
    expect(readTorchCudaVersion(dir, '2.3.1')).toBe(118);
    const pip = join(tmp, 'pip-torch');
    mkdirSync(pip, { recursive: true });
    writeFileSync(join(pip, 'version.py'), "__version__ = '2.3.1'\ncuda: Optional[str] = '12.1'\n");
    expect(readTorchCudaVersion(pip, '2.3.1')).toBe(121);
    expect(readTorchCudaVersion(join(tmp, 'nowhere'), '2.3.1')).toBeUndefined();
  });
});

/** A fake package root: build/Release/lora_node.node and prebuilds, with mtimes in seconds. */
function fakeRoot(name: string, files: Record<string, number>): string {
  const root = join(tmp, name);
  for (const [rel, mtime] of Object.entries(files)) {
    const path = join(root, rel);
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, 'not really an addon');
    utimesSync(path, mtime, mtime);
  }
  return root;
}

describe('addonCandidates (the loader\'s order)', () => {
  const BUILD = 'build/Release/lora_node.node';
  const P = 'prebuilds/linux-x64/';
  const opts = (root: string, found: FoundLibtorch | null = debian, env: Record<string, string> = {}) =>
    ({ root, env, platform: 'linux', arch: 'x64', findTorch: () => found });
  const rel = (root: string, list: { path: string }[]) => list.map((c) => c.path.slice(root.length + 1));

  it('LORA_NODE_BINARY is the only candidate', () => {
    const root = fakeRoot('override', { [BUILD]: 1000, [`${P}lora-node.torch1.13.cpu.node`]: 2000 });
    const list = addonCandidates(opts(root, debian, { LORA_NODE_BINARY: '/x/addon.node' }));
    expect(list.candidates.map((c) => c.path)).toEqual(['/x/addon.node']);
    expect(list.candidates[0]!.origin).toBe('LORA_NODE_BINARY');
  });

  it('a build at least as new as the prebuilds goes first; an older one after them', () => {
    const newer = fakeRoot('newer-build', { [BUILD]: 3000, [`${P}lora-node.torch1.13.cpu.node`]: 2000 });
    expect(rel(newer, addonCandidates(opts(newer)).candidates)).toEqual([BUILD, `${P}lora-node.torch1.13.cpu.node`]);
    const tie = fakeRoot('tie', { [BUILD]: 2000, [`${P}lora-node.torch1.13.cpu.node`]: 2000 });
    expect(rel(tie, addonCandidates(opts(tie)).candidates)[0]).toBe(BUILD);
    const older = fakeRoot('older-build', { [BUILD]: 1000, [`${P}lora-node.torch1.13.cpu.node`]: 2000 });
    expect(rel(older, addonCandidates(opts(older)).candidates)).toEqual([`${P}lora-node.torch1.13.cpu.node`, BUILD]);
  });

  it('leaves out prebuilds for another libtorch and files that are not prebuilds, saying why', () => {
    const root = fakeRoot('mixed', {
      [`${P}lora-node.torch1.13.cpu.node`]: 1000,
      [`${P}lora-node.torch2.3.cuda118.node`]: 1000,
      [`${P}lora-node.torch1.13.cpu.precxx11.node`]: 1000,
      [`${P}something.node`]: 1000,
    });
    const list = addonCandidates(opts(root));
    expect(rel(root, list.candidates)).toEqual([`${P}lora-node.torch1.13.cpu.node`]);
    expect(Object.fromEntries(list.skipped.map((s) => [s.path.slice(root.length + 1), s.reason]))).toEqual({
      [`${P}lora-node.torch2.3.cuda118.node`]: 'built for libtorch 2.3, but libtorch 1.13.0 is installed',
      [`${P}lora-node.torch1.13.cpu.precxx11.node`]: 'built for the pre-cxx11 C++ ABI, but libtorch uses the cxx11 one',
      [`${P}something.node`]: expect.stringContaining('not a prebuild name'),
    });
  });

  it('without a libtorch to match, every prebuild is a candidate (the test load decides)', () => {
    const root = fakeRoot('no-torch', { [`${P}lora-node.torch2.3.cuda118.node`]: 1000, [`${P}lora-node.torch1.13.cpu.node`]: 1000 });
    const list = addonCandidates(opts(root, null));
    expect(rel(root, list.candidates)).toEqual([`${P}lora-node.torch1.13.cpu.node`, `${P}lora-node.torch2.3.cuda118.node`]);
    expect(list.candidates.every((c) => c.fits === undefined)).toBe(true);
    expect(list.libtorch).toBeNull();
  });

  it('a build configured for another libtorch is tried last', () => {
    const root = fakeRoot('other-torch-build', { [BUILD]: 3000, [`${P}lora-node.torch1.13.cpu.node`]: 1000 });
    writeFileSync(join(root, 'build', 'CMakeCache.txt'), 'Torch_DIR:PATH=/opt/libtorch/share/cmake/Torch\n');
    const list = addonCandidates(opts(root));
    expect(rel(root, list.candidates)).toEqual([`${P}lora-node.torch1.13.cpu.node`, BUILD]);
    expect(list.candidates[1]).toMatchObject({ fits: false, note: expect.stringContaining('/opt/libtorch') });
  });

  it('nothing to try: an empty list, and the libtorch for the error message', () => {
    const root = fakeRoot('empty', {});
    mkdirSync(root, { recursive: true });
    expect(addonCandidates(opts(root))).toMatchObject({ candidates: [], libtorch: debian });
  });
});

describe('install plan around prebuilds', () => {
  const base = { found: debian, osRelease: 'ID=debian\n', uid: 1000, env: {}, platform: 'linux', arch: 'x64', build: { fresh: false, reason: 'build/Release/lora_node.node does not exist yet' } };

  it('skips a rejected prebuild and says why it compiles', () => {
    const prebuilds = ['lora-node.torch1.13.cpu.node'];
    expect(planInstall({ ...base, prebuilds })).toMatchObject({ action: 'prebuild', message: expect.stringContaining('nothing to compile') });
    const plan = planInstall({ ...base, prebuilds, rejected: { 'lora-node.torch1.13.cpu.node': 'it does not load (invalid ELF header)' } });
    expect(plan.action).toBe('compile');
    expect(plan.message).toContain('lora-node.torch1.13.cpu.node is there but not used: it does not load (invalid ELF header)');
  });

  it('without a prebuild or a compiler: fails naming the packages to install', () => {
    const plan = planInstall({ ...base, tools: { cxx: false, make: false, cmake: false, json: true } });
    expect(plan.action).toBe('fail');
    expect(plan.message).toContain('sudo apt-get install -y build-essential cmake');
    expect(plan.message).toContain('no prebuild fits (wanted lora-node.torch1.13.cpu.node');
  });

  it('a prebuild older than the sources is stale only in a source checkout', () => {
    const root = fakeRoot('stale', { 'prebuilds/linux-x64/lora-node.torch1.13.cpu.node': 1000, 'native/core/a.cpp': 2000 });
    expect(prebuildStale(root, 'lora-node.torch1.13.cpu.node', 'linux', 'x64')).toBeNull(); // installed package: mtimes say nothing
    mkdirSync(join(root, '.git'));
    expect(prebuildStale(root, 'lora-node.torch1.13.cpu.node', 'linux', 'x64')).toMatch(/native\/core\/a\.cpp is newer than it/);
  });
});
