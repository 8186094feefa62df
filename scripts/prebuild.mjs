#!/usr/bin/env node
// `npm run prebuild [-- options]`: makes the prebuilt addon that `npm pack` ships.
//   1. find libtorch (scripts/find-libtorch.mjs);
//   2. reuse build/Release/lora_node.node when it is up to date with native/ and
//      CMakeLists.txt and was configured for that libtorch (or <out>/Release, see --out),
//      else compile with cmake-js in <out>/ (default build/, as `npm run build:native`);
//   3. load the result in a child process (it must load, and report that libtorch);
//   4. copy it, atomically, to prebuilds/<platform>-<arch>/lora-node.torch<M.m>.<cpu|cudaXY>[.precxx11].node.
// Options:
//   --cuda              compile with the CUDA kernels (-DLORA_NODE_CUDA=ON; a CUDA libtorch)
//   --cuda-version XY   the CUDA version for the name when libtorch does not tell (e.g. 118)
//   --out DIR           compile in DIR instead of build/ (e.g. build-prebuild, to leave build/ alone)
//   --force             always compile (in <out>/), never reuse an existing build
// Environment: LORA_NODE_SKIP_PREBUILD=1 makes this a no-op (packing without a prebuild).
// npm runs this before `npm run build` too (a "pre" script): with build/ up to date that
// costs a copy, otherwise it compiles build/, which build:native then finds up to date.
// prebuilds/ is git-ignored: binaries are made by this script, not committed.
import { copyFileSync, existsSync, mkdirSync, renameSync, rmSync, statSync, utimesSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { describeSearch, findLibtorch, formatSearch } from './find-libtorch.mjs';
import { runCmakeJs } from './lib/cmake-js.mjs';
import { notFound } from './lib/plan.mjs';
import { buildState, prebuildName, wantedVariant } from './lib/prebuild.mjs';
import { testLoad } from './lib/test-load.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const log = (line) => console.log(`lora-node prebuild: ${line}`);

function fail(message) {
  console.error(`lora-node prebuild: ${message}`);
  return 1;
}

function main() {
  const { values } = parseArgs({
    options: { cuda: { type: 'boolean' }, 'cuda-version': { type: 'string' }, force: { type: 'boolean' }, out: { type: 'string', default: 'build' } },
  });
  if (process.env.LORA_NODE_SKIP_PREBUILD === '1') {
    log('LORA_NODE_SKIP_PREBUILD=1: not making a prebuild (a package packed now compiles on install)');
    return 0;
  }
  const OUT = values.out;
  const found = findLibtorch();
  if (!found) return fail(notFound('nothing to build against', formatSearch(describeSearch())));
  if (!found.version) return fail(`cannot read the libtorch version from ${found.cmakeDir}/TorchConfigVersion.cmake; it goes into the prebuild's name`);
  if (values.cuda && !found.cuda) return fail(`--cuda needs a CUDA libtorch; the one found is CPU-only: ${found.cmakeDir}`);
  const cudaVersion = values['cuda-version'] ? Number(values['cuda-version']) : found.cudaVersion;
  if (found.cuda && !(cudaVersion > 0))
    return fail(`libtorch ${found.version} has CUDA, but its CUDA version is unknown: pass --cuda-version XY (e.g. 118 for CUDA 11.8)`);
  const name = prebuildName(found.version, wantedVariant({ ...found, cudaVersion }), found.abi);
  log(`libtorch ${found.version} (${found.cuda ? `CUDA ${cudaVersion}` : 'CPU'}, ${found.abi ?? 'unknown'} C++ ABI) from ${found.source}: ${found.cmakeDir}`);

  // Reuse an up-to-date build, or compile one.
  let addon;
  const everyday = buildState(root, found, 'build');
  const own = OUT === 'build' ? everyday : buildState(root, found, OUT);
  const reuse = !values.force && !values.cuda && [everyday, own].find((state) => state.fresh);
  if (reuse) {
    addon = join(root, reuse === everyday ? 'build' : OUT, 'Release', 'lora_node.node');
    log(`reusing ${relative(root, addon)}: ${reuse.reason}`);
  } else {
    const why = values.force ? '--force' : values.cuda ? '--cuda' : own.reason;
    log(`compiling in ${OUT}/ (${why})`);
    const args = ['compile', '--out', OUT, `--CDTorch_DIR=${found.cmakeDir}`];
    if (values.cuda) args.push('--CDLORA_NODE_CUDA=ON');
    // `compile` keeps an existing configuration: configure first when it must change.
    const reconfigure = values.cuda || /was configured for/.test(own.reason);
    let status;
    if (reconfigure && existsSync(join(root, OUT, 'CMakeCache.txt'))) {
      status = runCmakeJs(root, ['configure', ...args.slice(1)]);
      if (status === 0) status = runCmakeJs(root, ['build', '--out', OUT]);
    } else {
      status = runCmakeJs(root, args);
    }
    if (status !== 0) return fail(`compiling failed (cmake-js exit ${status}); see the output above`);
    addon = join(root, OUT, 'Release', 'lora_node.node');
  }

  const check = testLoad(addon, { cache: false });
  if (!check.ok) return fail(`${relative(root, addon)} does not load: ${check.reason}`);
  if (check.torchVersion.split('.').slice(0, 2).join('.') !== found.version.split('.').slice(0, 2).join('.'))
    return fail(`${relative(root, addon)} loaded libtorch ${check.torchVersion}, not the ${found.version} it is to be named for`);
  if (found.cuda && !check.cudaKernels) log('note: built without the CUDA kernels (pass --cuda to compile them)');

  const dir = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
  const dest = join(dir, name);
  mkdirSync(dir, { recursive: true });
  const temp = `${dest}.${process.pid}.tmp`;
  try {
    copyFileSync(addon, temp);
    // Keep the build's time: the loader prefers the newest binary that fits, and a copy
    // must not outrank (in a source checkout) the build it was copied from, or a later one.
    const built = statSync(addon);
    utimesSync(temp, built.atime, built.mtime);
    renameSync(temp, dest);
  } finally {
    rmSync(temp, { force: true });
  }
  const kib = Math.round(statSync(dest).size / 1024);
  log(`wrote ${relative(root, dest)} (${kib} KiB; loads libtorch ${check.torchVersion}) — \`npm pack\` ships it`);
  return 0;
}

try {
  process.exitCode = main();
} catch (error) {
  console.error(`lora-node prebuild: ${error instanceof Error ? error.stack : String(error)}`);
  process.exitCode = 1;
}
