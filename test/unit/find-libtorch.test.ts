import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

import { describeSearch, findLibtorch, formatSearch, readTorchVersion, type Env } from '../../scripts/find-libtorch.mjs';
import { isDebianLike } from '../../scripts/lib/apt.mjs';
import { cmakeJsEnv } from '../../scripts/lib/cmake-js.mjs';
import { planInstall, type InstallFacts } from '../../scripts/lib/plan.mjs';
import { buildState, parsePrebuildName, pickPrebuild } from '../../scripts/lib/prebuild.mjs';

let tmp: string;

/** A fake libtorch: <dir>/TorchConfig.cmake (+ TorchConfigVersion.cmake, libc10.so in <lib>). */
function fakeTorch(cmakeDir: string, version?: string, lib?: { dir: string; cuda?: boolean }): string {
  mkdirSync(cmakeDir, { recursive: true });
  writeFileSync(join(cmakeDir, 'TorchConfig.cmake'), '# fake\n');
  if (version)
    writeFileSync(join(cmakeDir, 'TorchConfigVersion.cmake'), `set(PACKAGE_VERSION "${version}")\n\nif("\${PACKAGE_VERSION}" VERSION_LESS "\${PACKAGE_FIND_VERSION}")\nendif()\n`);
  if (lib) {
    mkdirSync(lib.dir, { recursive: true });
    writeFileSync(join(lib.dir, 'libc10.so'), '');
    if (lib.cuda) writeFileSync(join(lib.dir, 'libc10_cuda.so'), '');
  }
  return cmakeDir;
}

/** Discovery confined to the tmp dir: no Python, no Debian path unless given. */
function env(vars: Env): Env {
  return { PATH: process.env.PATH, LORA_NODE_SKIP_PYTHON_TORCH: '1', LORA_NODE_DEBIAN_TORCH_DIR: '', ...vars };
}

beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'lora-node-find-libtorch-'));
  // An unpacked libtorch zip (CUDA): <zip>/share/cmake/Torch, <zip>/lib/libc10{,_cuda}.so
  fakeTorch(join(tmp, 'zip/share/cmake/Torch'), '2.3.1', { dir: join(tmp, 'zip/lib'), cuda: true });
  // A Torch_DIR somewhere else
  fakeTorch(join(tmp, 'torchdir/Torch'), '2.1.0');
  // A CMake prefix with lib/cmake/Torch
  fakeTorch(join(tmp, 'prefix/lib/cmake/Torch'), '2.0.1', { dir: join(tmp, 'prefix/lib') });
  // A Debian-like layout: <usr>/lib/x86_64-linux-gnu/cmake/Torch, libs next to cmake/
  fakeTorch(join(tmp, 'usr/lib/x86_64-linux-gnu/cmake/Torch'), '1.13.0', { dir: join(tmp, 'usr/lib/x86_64-linux-gnu') });
  // Folders that look right but hold no TorchConfig.cmake
  mkdirSync(join(tmp, 'empty/share/cmake/Torch'), { recursive: true });
});

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('findLibtorch search order', () => {
  const all = () => ({
    LIBTORCH: join(tmp, 'zip'),
    Torch_DIR: join(tmp, 'torchdir/Torch'),
    CMAKE_PREFIX_PATH: join(tmp, 'prefix'),
    LORA_NODE_DEBIAN_TORCH_DIR: join(tmp, 'usr/lib/x86_64-linux-gnu/cmake/Torch'),
  });

  it('LIBTORCH beats Torch_DIR beats CMAKE_PREFIX_PATH beats the Debian path', () => {
    const vars: Env = all();
    expect(findLibtorch({ env: env(vars) })?.source).toBe('LIBTORCH');
    delete vars.LIBTORCH;
    expect(findLibtorch({ env: env(vars) })?.source).toBe('Torch_DIR');
    delete vars.Torch_DIR;
    expect(findLibtorch({ env: env(vars) })?.source).toBe('CMAKE_PREFIX_PATH');
    delete vars.CMAKE_PREFIX_PATH;
    expect(findLibtorch({ env: env(vars) })?.source).toBe('debian');
    delete vars.LORA_NODE_DEBIAN_TORCH_DIR;
    expect(findLibtorch({ env: env(vars) })).toBeNull();
  });

  it('reports folder, prefix, version and CUDA for an unpacked zip', () => {
    expect(findLibtorch({ env: env({ LIBTORCH: join(tmp, 'zip') }) })).toEqual({
      cmakeDir: join(tmp, 'zip/share/cmake/Torch'),
      prefix: join(tmp, 'zip'),
      source: 'LIBTORCH',
      version: '2.3.1',
      libDir: join(tmp, 'zip/lib'),
      cuda: true,
    });
  });

  it('accepts LORA_NODE_LIBTORCH as LIBTORCH', () => {
    expect(findLibtorch({ env: env({ LORA_NODE_LIBTORCH: join(tmp, 'zip'), Torch_DIR: join(tmp, 'torchdir/Torch') }) })?.source).toBe('LIBTORCH');
  });

  it('skips a LIBTORCH without TorchConfig.cmake and says so in describeSearch', () => {
    const vars = env({ LIBTORCH: join(tmp, 'empty'), Torch_DIR: join(tmp, 'torchdir/Torch') });
    const found = findLibtorch({ env: vars });
    expect(found?.source).toBe('Torch_DIR');
    expect(found?.version).toBe('2.1.0');
    const entries = describeSearch(vars);
    expect(entries[0]).toMatchObject({ source: 'LIBTORCH', dir: join(tmp, 'empty/share/cmake/Torch'), status: 'no TorchConfig.cmake' });
    expect(entries.find((e) => e.source === 'Torch_DIR')?.status).toBe('found');
    expect(entries.find((e) => e.source === 'python')).toMatchObject({ dir: null, why: expect.stringContaining('LORA_NODE_SKIP_PYTHON_TORCH') });
    const text = formatSearch(entries);
    expect(text).toContain(`${join(tmp, 'empty/share/cmake/Torch')}: no TorchConfig.cmake (LIBTORCH=${join(tmp, 'empty')})`);
  });

  it('marks later hits as not used', () => {
    const entries = describeSearch(env(all()));
    expect(entries.filter((e) => e.status === 'found')).toHaveLength(1);
    expect(entries.filter((e) => e.status.startsWith('found (not used')).map((e) => e.source)).toEqual(['Torch_DIR', 'CMAKE_PREFIX_PATH', 'debian']);
  });

  it('looks in every CMAKE_PREFIX_PATH entry and its share/cmake, lib/cmake, Torch subfolders', () => {
    const list = [join(tmp, 'nothing-here'), join(tmp, 'prefix')].join(delimiter);
    const found = findLibtorch({ env: env({ CMAKE_PREFIX_PATH: list }) });
    expect(found).toMatchObject({ cmakeDir: join(tmp, 'prefix/lib/cmake/Torch'), prefix: join(tmp, 'prefix'), version: '2.0.1', cuda: false });
    // An entry that is the cmake folder itself (what torch.utils.cmake_prefix_path gives): <p>/Torch
    expect(findLibtorch({ env: env({ CMAKE_PREFIX_PATH: join(tmp, 'torchdir') }) })?.cmakeDir).toBe(join(tmp, 'torchdir/Torch'));
  });

  it('finds the Debian layout with its multiarch lib folder', () => {
    const found = findLibtorch({ env: env({ LORA_NODE_DEBIAN_TORCH_DIR: join(tmp, 'usr/lib/x86_64-linux-gnu/cmake/Torch') }) });
    expect(found).toMatchObject({ source: 'debian', prefix: join(tmp, 'usr'), libDir: join(tmp, 'usr/lib/x86_64-linux-gnu'), cuda: false, version: '1.13.0' });
  });

  it('asks python3 for torch.utils.cmake_prefix_path and ignores its failure', () => {
    const bin = join(tmp, 'bin');
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, 'python3'), `#!/bin/sh\necho ${join(tmp, 'torchdir')}\n`, { mode: 0o755 });
    const vars = { PATH: `${bin}${delimiter}${process.env.PATH}`, LORA_NODE_DEBIAN_TORCH_DIR: '' };
    expect(findLibtorch({ env: vars })).toMatchObject({ source: 'python', cmakeDir: join(tmp, 'torchdir/Torch') });
    const broken = join(tmp, 'broken-bin');
    mkdirSync(broken, { recursive: true });
    writeFileSync(join(broken, 'python3'), '#!/bin/sh\necho "No module named torch" >&2; exit 1\n', { mode: 0o755 });
    const brokenEnv = { PATH: `${broken}${delimiter}${process.env.PATH}`, LORA_NODE_DEBIAN_TORCH_DIR: '' };
    expect(findLibtorch({ env: brokenEnv })).toBeNull();
    expect(describeSearch(brokenEnv).find((e) => e.source === 'python')?.why).toContain('No module named torch');
  });
});

describe('readTorchVersion', () => {
  it('reads PACKAGE_VERSION', () => {
    expect(readTorchVersion(join(tmp, 'zip/share/cmake/Torch'))).toBe('2.3.1');
  });
  it('reads an unquoted version and tolerates a missing file', () => {
    const dir = join(tmp, 'unquoted');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'TorchConfigVersion.cmake'), 'set(PACKAGE_VERSION 2.4.0+cu121)\n');
    expect(readTorchVersion(dir)).toBe('2.4.0+cu121');
    expect(readTorchVersion(join(tmp, 'empty'))).toBeUndefined();
  });
});

describe('prebuilds', () => {
  const files = ['lora-node.torch1.13.cpu.node', 'lora-node.torch2.3.cuda121.node', 'lora-node.torch2.3.cuda118.node', 'lora-node.torch2.3.cpu.node', 'README.md'];
  it('parses names', () => {
    expect(parsePrebuildName('lora-node.torch2.3.cuda118.node')).toEqual({ torch: '2.3', variant: 'cuda118', cuda: 118 });
    expect(parsePrebuildName('lora_node.node')).toBeNull();
  });
  it('matches libtorch major.minor and device variant', () => {
    expect(pickPrebuild(files, { version: '1.13.0', cuda: false })).toBe('lora-node.torch1.13.cpu.node');
    expect(pickPrebuild(files, { version: '2.3.1', cuda: false })).toBe('lora-node.torch2.3.cpu.node');
    expect(pickPrebuild(files, { version: '2.3.1', cuda: true })).toBe('lora-node.torch2.3.cuda118.node');
    expect(pickPrebuild(files, { version: '1.13.0', cuda: true })).toBeNull();
    expect(pickPrebuild(files, { version: '2.4.0', cuda: false })).toBeNull();
    expect(pickPrebuild(files, { cuda: false })).toBeNull();
  });
});

describe('buildState', () => {
  it('is fresh only when the addon is newer than native/ and CMakeLists.txt and built for this libtorch', () => {
    const root = join(tmp, 'pkg');
    mkdirSync(join(root, 'native/core'), { recursive: true });
    writeFileSync(join(root, 'CMakeLists.txt'), '');
    writeFileSync(join(root, 'native/core/a.cpp'), '');
    const found = { cmakeDir: join(tmp, 'torchdir/Torch') };
    expect(buildState(root, found)).toEqual({ fresh: false, reason: 'build/Release/lora_node.node does not exist yet' });

    mkdirSync(join(root, 'build/Release'), { recursive: true });
    writeFileSync(join(root, 'build/Release/lora_node.node'), '');
    const old = new Date(Date.now() - 60_000);
    utimesSync(join(root, 'CMakeLists.txt'), old, old);
    utimesSync(join(root, 'native/core/a.cpp'), old, old);
    expect(buildState(root, found).fresh).toBe(true);

    writeFileSync(join(root, 'build/CMakeCache.txt'), `Torch_DIR:PATH=${join(tmp, 'prefix/lib/cmake/Torch')}\n`);
    expect(buildState(root, found)).toMatchObject({ fresh: false, reason: expect.stringContaining('was configured for the libtorch in') });
    writeFileSync(join(root, 'build/CMakeCache.txt'), `Torch_DIR:PATH=${found.cmakeDir}\n`);
    expect(buildState(root, found).fresh).toBe(true);

    const future = new Date(Date.now() + 60_000);
    utimesSync(join(root, 'native/core/a.cpp'), future, future);
    expect(buildState(root, found)).toEqual({ fresh: false, reason: 'native/core/a.cpp is newer than build/Release/lora_node.node' });
  });
});

describe('planInstall', () => {
  const DEBIAN = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n';
  const UBUNTU = 'NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\n';
  const FEDORA = 'NAME="Fedora Linux"\nID=fedora\n';
  const cpuTorch = { cmakeDir: '/usr/lib/x86_64-linux-gnu/cmake/Torch', prefix: '/usr', source: 'debian', version: '1.13.0', cuda: false } as const;
  const cudaTorch = { cmakeDir: '/opt/libtorch/share/cmake/Torch', prefix: '/opt/libtorch', source: 'LIBTORCH', version: '2.3.1', cuda: true } as const;
  const stale = { fresh: false, reason: 'build/Release/lora_node.node does not exist yet' };
  const base: InstallFacts = { found: cpuTorch, osRelease: DEBIAN, uid: 1000, env: {}, prebuilds: [], build: stale, platform: 'linux', arch: 'x64' };

  it('recognises Debian and Ubuntu from os-release', () => {
    expect(isDebianLike(DEBIAN)).toBe(true);
    expect(isDebianLike(UBUNTU)).toBe(true);
    expect(isDebianLike('ID=linuxmint\nID_LIKE="ubuntu debian"\n')).toBe(true);
    expect(isDebianLike(FEDORA)).toBe(false);
    expect(isDebianLike('')).toBe(false);
  });

  it('installs libtorch with apt-get as root on Debian/Ubuntu when none is found', () => {
    for (const osRelease of [DEBIAN, UBUNTU]) {
      const plan = planInstall({ ...base, found: null, osRelease, uid: 0 });
      expect(plan).toMatchObject({ action: 'apt', packages: ['libtorch-dev', 'libopenblas0-pthread', 'nlohmann-json3-dev'] });
      expect(plan.message).toContain('apt-get');
    }
  });

  it('stops with the exact command and the alternatives otherwise', () => {
    const cases: [Partial<InstallFacts>, string][] = [
      [{ uid: 1000 }, 'not running as root'],
      [{ uid: 0, osRelease: FEDORA }, 'not Debian/Ubuntu'],
      [{ uid: 0, env: { LORA_NODE_SKIP_SYSTEM_INSTALL: '1' } }, 'LORA_NODE_SKIP_SYSTEM_INSTALL=1'],
      [{ uid: 0, aptTried: ['libtorch-dev', 'libopenblas0-pthread', 'nlohmann-json3-dev'] }, 'not even after apt-get'],
    ];
    for (const [facts, reason] of cases) {
      const plan = planInstall({ ...base, found: null, searched: '  - debian: /x: no such folder', ...facts });
      expect(plan.action).toBe('fail');
      expect(plan.message).toContain(reason);
      expect(plan.message).toContain('sudo apt-get install -y libtorch-dev libopenblas0-pthread nlohmann-json3-dev');
      expect(plan.message).toContain('LIBTORCH=');
      expect(plan.message).toContain('pip install torch');
      expect(plan.message).toContain('Torch_DIR');
      expect(plan.message).toContain('CMAKE_PREFIX_PATH');
      expect(plan.message).toContain('  - debian: /x: no such folder');
    }
  });

  it('uses a fitting prebuild and compiles nothing', () => {
    const prebuilds = ['lora-node.torch1.13.cpu.node', 'lora-node.torch2.3.cuda118.node'];
    expect(planInstall({ ...base, prebuilds })).toMatchObject({ action: 'prebuild', file: 'lora-node.torch1.13.cpu.node' });
    expect(planInstall({ ...base, found: cudaTorch, prebuilds })).toMatchObject({ action: 'prebuild', file: 'lora-node.torch2.3.cuda118.node' });
    // A prebuild wins over missing compilers: nothing is compiled.
    expect(planInstall({ ...base, prebuilds, tools: { cxx: false, make: false, cmake: false, json: false } }).action).toBe('prebuild');
  });

  it('keeps a fresh build', () => {
    const plan = planInstall({ ...base, build: { fresh: true, reason: 'build/Release/lora_node.node is newer than every file in native/ and CMakeLists.txt' } });
    expect(plan.action).toBe('skip');
    expect(plan.message).toContain('not recompiling');
  });

  it('compiles with cmake-js against the found Torch_DIR, saying why', () => {
    const plan = planInstall(base);
    expect(plan).toMatchObject({ action: 'compile', args: ['compile', '--out', 'build', '--CDTorch_DIR=/usr/lib/x86_64-linux-gnu/cmake/Torch'] });
    expect(plan.message).toContain('lora-node.torch1.13.cpu.node');
    expect(plan.message).toContain('does not exist yet');
    const cuda = planInstall({ ...base, found: cudaTorch });
    expect(cuda.action === 'compile' && cuda.args).toEqual(['compile', '--out', 'build', '--CDTorch_DIR=/opt/libtorch/share/cmake/Torch']);
    expect(cuda.message).toContain('CUDA');
  });

  it('LORA_NODE_SKIP_BUILD=1 compiles nothing and installs nothing', () => {
    expect(planInstall({ ...base, env: { LORA_NODE_SKIP_BUILD: '1' } })).toMatchObject({ action: 'skip', message: expect.stringContaining('LORA_NODE_SKIP_BUILD=1') });
    expect(planInstall({ ...base, found: null, uid: 0, env: { LORA_NODE_SKIP_BUILD: '1' } })).toMatchObject({ action: 'skip', message: expect.stringContaining('libtorch was not found') });
  });

  it('installs or names build-essential and cmake when they are missing', () => {
    const tools = { cxx: false, make: true, cmake: false, json: true };
    expect(planInstall({ ...base, uid: 0, tools })).toMatchObject({ action: 'apt', packages: ['build-essential', 'cmake'] });
    const fail = planInstall({ ...base, uid: 1000, tools });
    expect(fail.action).toBe('fail');
    expect(fail.message).toContain('sudo apt-get install -y build-essential cmake');
    expect(fail.message).toContain('C++ compiler');
    // apt-get already ran for them: stop instead of looping.
    expect(planInstall({ ...base, uid: 0, tools, aptTried: ['build-essential', 'cmake'] }).action).toBe('fail');
  });

  it('installs nlohmann JSON as root on Debian, else warns and lets CMake decide', () => {
    const tools = { cxx: true, make: true, cmake: true, json: false };
    expect(planInstall({ ...base, uid: 0, tools })).toMatchObject({ action: 'apt', packages: ['nlohmann-json3-dev'] });
    const plan = planInstall({ ...base, uid: 1000, tools });
    expect(plan.action).toBe('compile');
    expect(plan.action === 'compile' && plan.warnings[0]).toContain('nlohmann-json3-dev');
  });
});

describe('cmakeJsEnv', () => {
  it("points cmake-js at the running Node's own headers so it never downloads them", () => {
    const prefix = join(tmp, 'node-prefix');
    mkdirSync(join(prefix, 'bin'), { recursive: true });
    mkdirSync(join(prefix, 'include/node'), { recursive: true });
    writeFileSync(join(prefix, 'include/node/node.h'), '');
    expect(cmakeJsEnv({ PATH: '/bin' }, join(prefix, 'bin/node'))).toEqual({ PATH: '/bin', npm_config_nodedir: prefix });
    expect(cmakeJsEnv({ npm_config_nodedir: '/elsewhere' }, join(prefix, 'bin/node'))).toEqual({ npm_config_nodedir: '/elsewhere' });
    expect(cmakeJsEnv({}, join(tmp, 'no-headers/bin/node'))).toEqual({});
  });
});
