// The package as npm users get it: `npm pack`, then `npm install <tarball>` in a fresh
// project with no C/C++ compiler, CMake or nvcc on PATH (PATH holds only node, npm and sh).
//   1. with the prebuild: the install uses it and compiles nothing; `import { Classifier }
//      from 'lora-node'` loads a fixture checkpoint and predicts; the package holds no
//      tests or fixtures. The same with --ignore-scripts (the loader finds the prebuild).
//   2. without the prebuild: the install fails, saying why and what to install.
//   3. [slow: compiles the addon, minutes] without the prebuild, with the compiler: the
//      install compiles it and the same script works. LORA_NODE_SKIP_COMPILE_TEST=1 skips it.
// The prebuild comes from `scripts/prebuild.mjs --out build-prebuild` (what `npm run prebuild`
// runs): it reuses an up-to-date build/, or compiles in build-prebuild/. Timings are printed.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { findLibtorch } from '../../scripts/find-libtorch.mjs';
import { prebuildName } from '../../scripts/lib/prebuild.mjs';

const REPO = join(import.meta.dirname, '..', '..');
const CHECKPOINT = join(REPO, 'test', 'fixtures', 'tiny', 'checkpoint');
const SLOW = process.env.LORA_NODE_SKIP_COMPILE_TEST !== '1';
const libtorch = findLibtorch();
const PREBUILD = libtorch?.version && !libtorch.cuda ? prebuildName(libtorch.version, 'cpu', libtorch.abi) : undefined;

const tmp = mkdtempSync(join(tmpdir(), 'lora-node-package-install-'));
const timings: Record<string, string> = {};

interface Run {
  status: number | null;
  stdout: string;
  /** stdout and stderr. */
  out: string;
  seconds: number;
}

function run(command: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; timeout?: number }): Run {
  const started = performance.now();
  const r = spawnSync(command, args, { cwd: options.cwd, env: options.env ?? process.env, encoding: 'utf8', timeout: options.timeout ?? 300_000, maxBuffer: 64 << 20 });
  return { status: r.status, stdout: r.stdout ?? '', out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? `\n${r.error.message}` : ''}`, seconds: (performance.now() - started) / 1000 };
}

function which(name: string): string {
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${name} is not on PATH`);
  return realpathSync(r.stdout.trim());
}

/** A bin folder with node, npm, npx and sh only: no cc, c++, gcc, g++, make, cmake, nvcc, python3. */
function bareBin(): string {
  const bin = join(tmp, 'bare-bin');
  mkdirSync(bin);
  const npmCli = which('npm');
  const links: Record<string, string> = { node: process.execPath, npm: npmCli, npx: join(npmCli, '..', 'npx-cli.js'), sh: which('sh') };
  for (const [name, target] of Object.entries(links)) symlinkSync(target, join(bin, name));
  return bin;
}

/** The environment for the installs: this one, minus compilers, npm's per-script variables and lora-node overrides. */
function installEnv(path: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(CC|CXX|CUDACXX|LORA_NODE_BINARY|LIBTORCH|LORA_NODE_LIBTORCH|Torch_DIR|CMAKE_PREFIX_PATH)$/.test(key)) continue;
    if (key.startsWith('npm_') && !/^npm_config_(cache|registry|userconfig)$/.test(key)) continue;
    env[key] = value;
  }
  // Never apt-get from a test (as root on Debian the install script would).
  return { ...env, PATH: path, LORA_NODE_SKIP_SYSTEM_INSTALL: '1' };
}

/** A fresh project with app.mjs: load the fixture checkpoint, predict, print JSON. */
function project(name: string): string {
  const dir = join(tmp, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `consumer-${name}`, version: '1.0.0', private: true, type: 'module' }));
  writeFileSync(
    join(dir, 'app.mjs'),
    [
      "import { Classifier, runtimeReport } from 'lora-node';",
      'const clf = await Classifier.load(process.argv[2], { device: "cpu", precision: "fp32" });',
      "const predictions = await clf.predict(['a fine test', 'another text']);",
      'clf.dispose();',
      'console.log(JSON.stringify({ addon: runtimeReport().addonPath, labels: clf.labels, predictions }));',
    ].join('\n'),
  );
  return dir;
}

function npmInstall(dir: string, tarball: string, env: NodeJS.ProcessEnv, extra: string[] = [], timeout?: number): Run {
  return run(join(env.PATH!.split(':')[0]!, 'npm'), ['install', tarball, '--prefer-offline', '--no-audit', '--no-fund', '--foreground-scripts', ...extra], { cwd: dir, env, timeout });
}

function runApp(dir: string, env: NodeJS.ProcessEnv): { addon: string; labels: string[]; predictions: { label: string; score: number }[] } {
  const r = run(process.execPath, ['app.mjs', CHECKPOINT], { cwd: dir, env });
  expect(r.status, r.out).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

function expectPredictions(result: ReturnType<typeof runApp>): void {
  expect(result.predictions).toHaveLength(2);
  for (const p of result.predictions) {
    expect(result.labels).toContain(p.label);
    expect(p.score).toBeGreaterThan(0);
    expect(p.score).toBeLessThanOrEqual(1);
  }
}

/** Paths (relative) under dir, node_modules excluded. */
function walk(dir: string, base = dir): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    if (e.name === 'node_modules') return [];
    const path = join(dir, e.name);
    return e.isDirectory() ? [`${relative(base, path)}/`, ...walk(path, base)] : [relative(base, path)];
  });
}

let tarball = '';
let bareTarball = '';
let bin = '';

describe.skipIf(!PREBUILD)('npm pack + npm install without a compiler', () => {
  beforeAll(() => {
    if (!existsSync(join(REPO, 'dist', 'index.js'))) expect(run(process.execPath, [join(REPO, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], { cwd: REPO }).status).toBe(0);
    const prebuild = run(process.execPath, ['scripts/prebuild.mjs', '--out', 'build-prebuild'], { cwd: REPO, timeout: 1_500_000 });
    expect(prebuild.status, prebuild.out).toBe(0);
    timings.prebuild = `${prebuild.seconds.toFixed(1)} s (${/reusing|compiling/.exec(prebuild.out)?.[0] ?? '?'})`;
    expect(existsSync(join(REPO, 'prebuilds', `${process.platform}-${process.arch}`, PREBUILD!))).toBe(true);

    // prepack (tsc, prebuild) is what `npm test` and the step above just did.
    const pack = run(which('npm'), ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], { cwd: REPO });
    expect(pack.status, pack.out).toBe(0);
    const info = JSON.parse(pack.stdout) as { filename: string; size: number; unpackedSize: number; files: { path: string }[] }[];
    tarball = join(tmp, info[0]!.filename);
    timings.tarball = `${(info[0]!.size / 1024).toFixed(0)} KiB packed, ${(info[0]!.unpackedSize / 1024).toFixed(0)} KiB unpacked, ${info[0]!.files.length} files`;
    expect(info[0]!.files.map((f) => f.path)).toContain(`prebuilds/${process.platform}-${process.arch}/${PREBUILD}`);

    // The same package without prebuilds/.
    const unpacked = join(tmp, 'unpacked');
    mkdirSync(unpacked);
    expect(run('tar', ['-xzf', tarball, '-C', unpacked], { cwd: tmp }).status).toBe(0);
    rmSync(join(unpacked, 'package', 'prebuilds'), { recursive: true, force: true });
    bareTarball = join(tmp, 'lora-node-no-prebuild.tgz');
    expect(run('tar', ['-czf', bareTarball, '-C', unpacked, 'package'], { cwd: tmp }).status).toBe(0);
    bin = bareBin();
  }, 1_800_000);

  afterAll(() => {
    console.log(`package-install timings:\n${Object.entries(timings).map(([k, v]) => `  ${k}: ${v}`).join('\n')}`);
    if (process.env.LORA_NODE_KEEP_TMP !== '1') rmSync(tmp, { recursive: true, force: true });
  }, 120_000); // the installed copies hold thousands of files: slow to delete on a busy machine

  it('the bare PATH has no compiler, make, cmake or nvcc', () => {
    for (const tool of ['cc', 'c++', 'gcc', 'g++', 'make', 'cmake', 'nvcc']) expect(run('sh', ['-c', `command -v ${tool}`], { cwd: tmp, env: { PATH: bin } }).status).not.toBe(0);
  });

  it('installs with the prebuild, compiles nothing, and predicts', () => {
    const dir = project('with-prebuild');
    const env = installEnv(bin);
    const install = npmInstall(dir, tarball, env);
    timings['install with prebuild'] = `${install.seconds.toFixed(1)} s`;
    expect(install.status, install.out).toBe(0);
    expect(install.out).toContain(`lora-node: using prebuild prebuilds/${process.platform}-${process.arch}/${PREBUILD}`);
    expect(install.out).toContain('nothing to compile');
    expect(install.out).toMatch(/test-loaded in a child process: libtorch \d/);
    const pkg = join(dir, 'node_modules', 'lora-node');
    expect(existsSync(join(pkg, 'build'))).toBe(false);

    const files = walk(pkg);
    // No tests, fixtures, benchmarks, builds or TypeScript sources (lib/ ships compiled, as dist/).
    expect(files.filter((f) => /^(test|tests|benchmarks|lib|build|build-[^/]*)\/|(^|\/)fixtures\/|\.test\.|(?<!\.d)\.ts$/.test(f))).toEqual([]);
    expect(files).toContain(`prebuilds/${process.platform}-${process.arch}/${PREBUILD}`);
    expect(files).toEqual(expect.arrayContaining(['dist/index.js', 'native/', 'scripts/install.mjs', 'CMakeLists.txt', 'binding.gyp', 'README.md']));

    const result = runApp(dir, env);
    expect(result.addon).toBe(join(realpathSync(pkg), 'prebuilds', `${process.platform}-${process.arch}`, PREBUILD!));
    expectPredictions(result);

    // The command npm linked for the package: `npx lora-node` in the user's project.
    const cli = run(join(dir, 'node_modules', '.bin', 'lora-node'), ['doctor'], { cwd: dir, env });
    expect(cli.status, cli.out).toBe(0);
    expect(cli.stdout).toMatch(/^addon: +.*lora-node\.torch/m);
  });

  it('with --ignore-scripts, the loader still finds the prebuild at run time', () => {
    const dir = project('ignore-scripts');
    const env = installEnv(bin);
    const install = npmInstall(dir, tarball, env, ['--ignore-scripts']);
    timings['install with prebuild, --ignore-scripts'] = `${install.seconds.toFixed(1)} s`;
    expect(install.status, install.out).toBe(0);
    expect(install.out).not.toContain('lora-node:');
    const result = runApp(dir, env);
    expect(result.addon).toMatch(new RegExp(`prebuilds/${process.platform}-${process.arch}/${PREBUILD!.replace(/\./g, '\\.')}$`));
    expectPredictions(result);
  });

  it('without the prebuild and without a compiler, fails saying what to install', () => {
    const dir = project('no-prebuild-no-compiler');
    const install = npmInstall(dir, bareTarball, installEnv(bin));
    timings['install without prebuild, no compiler (fails)'] = `${install.seconds.toFixed(1)} s`;
    expect(install.status).not.toBe(0);
    expect(install.out).toContain('lora-node: cannot compile the addon');
    expect(install.out).toMatch(/a C\+\+ compiler \(c\+\+\/g\+\+\).*cmake not found/);
    expect(install.out).toContain('sudo apt-get install -y build-essential cmake');
    expect(install.out).toContain(`no prebuild fits (wanted ${PREBUILD} in prebuilds/${process.platform}-${process.arch}/`);
  });

  it.skipIf(!SLOW)('[slow] without the prebuild, with a compiler: compiles on install and predicts', () => {
    const dir = project('no-prebuild-compiles');
    const env = installEnv(process.env.PATH!.split(':').filter((p) => p !== bin).join(':'));
    // npm runs from the full PATH here; the helper picks the first entry's npm, so put a bin with npm first.
    const full = `${bin}:${env.PATH}`;
    const install = npmInstall(dir, bareTarball, { ...env, PATH: full }, [], 1_500_000);
    timings['install without prebuild, compiling'] = `${install.seconds.toFixed(1)} s`;
    expect(install.status, install.out.slice(-4000)).toBe(0);
    expect(install.out).toContain('lora-node: compiling the addon against libtorch');
    expect(install.out).toContain('no prebuild fits');
    expect(install.out).toMatch(/built build\/Release\/lora_node\.node .*test-loaded: libtorch \d/);
    const pkg = realpathSync(join(dir, 'node_modules', 'lora-node'));
    const result = runApp(dir, env);
    expect(result.addon).toBe(join(pkg, 'build', 'Release', 'lora_node.node'));
    expect(statSync(result.addon).size).toBeGreaterThan(0);
    expectPredictions(result);
  }, 1_800_000);
});
