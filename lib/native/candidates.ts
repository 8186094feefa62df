// Which addon binaries the loader tries, in which order, and which it leaves out.
//
//   1. LORA_NODE_BINARY=/path/to/addon.node: that file and nothing else.
//   2. Otherwise the binaries that fit the libtorch found now (scripts/find-libtorch.mjs):
//      - prebuilds/<platform>-<arch>/lora-node.torch<M.m>.<cpu|cudaXY>[.precxx11].node whose
//        libtorch version, C++ ABI and device match (best first: see rankPrebuilds);
//      - build/Release/lora_node.node (a build on this machine) goes before the prebuilds when
//        it is at least as new as the newest of them, after them when it is older: a fresh
//        `npx lora-node build` is never shadowed by a prebuild, and a stale old build does
//        not shadow a newer prebuild.
//   3. Then, as a last resort, the binaries whose fit is unknown: every prebuild when no
//      libtorch is found (the dynamic linker may still find one), and a build/ that was
//      configured for another libtorch than the one found now.
// Prebuilds built for another libtorch are left out, with the reason, for the error message.
import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { type Env, findLibtorch, type FoundLibtorch } from '../../scripts/find-libtorch.mjs';
import { parsePrebuildName, PREBUILD_PATTERN, prebuildMismatch, rankPrebuilds } from '../../scripts/lib/prebuild.mjs';

export interface AddonCandidate {
  path: string;
  origin: 'LORA_NODE_BINARY' | 'build' | 'prebuild';
  /** Whether it was built for the libtorch found now (undefined: cannot tell). */
  fits: boolean | undefined;
  /** Why it is where it is in the order. */
  note: string;
}

export interface SkippedBinary {
  path: string;
  reason: string;
}

export interface CandidateList {
  candidates: AddonCandidate[];
  skipped: SkippedBinary[];
  /** The libtorch found (null: none; undefined: not looked for, under LORA_NODE_BINARY). */
  libtorch: FoundLibtorch | null | undefined;
  /** The folders looked in (for messages). */
  looked: string[];
}

export interface CandidateOptions {
  root: string;
  env?: Env;
  platform?: string;
  arch?: string;
  /** The libtorch search (replaceable in tests). */
  findTorch?: (options: { env: Env }) => FoundLibtorch | null;
}

function mtime(path: string): number {
  return statSync(path).mtimeMs;
}

function samePath(a: string, b: string): boolean {
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return a === b;
  }
}

/** Torch_DIR that build/ was configured with (undefined when build/ has no CMakeCache.txt). */
function configuredTorchDir(buildDir: string): string | undefined {
  try {
    return /^Torch_DIR:PATH=(.*)$/m.exec(readFileSync(join(buildDir, 'CMakeCache.txt'), 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}

/** Without a libtorch to match: cxx11 before pre-cxx11, CPU before CUDA (lowest first), newest libtorch first. */
function unknownFitOrder(files: string[]): string[] {
  const key = (file: string) => parsePrebuildName(file)!;
  const torch = (v: string) => v.split('.').map(Number);
  return [...files].sort((a, b) => {
    const x = key(a);
    const y = key(b);
    const [xMajor = 0, xMinor = 0] = torch(x.torch);
    const [yMajor = 0, yMinor = 0] = torch(y.torch);
    return Number(Boolean(x.abi)) - Number(Boolean(y.abi)) || (x.cuda ?? 0) - (y.cuda ?? 0) || yMajor - xMajor || yMinor - xMinor;
  });
}

export function addonCandidates({
  root,
  env = process.env,
  platform = process.platform,
  arch = process.arch,
  findTorch = findLibtorch,
}: CandidateOptions): CandidateList {
  const override = env.LORA_NODE_BINARY ? resolve(env.LORA_NODE_BINARY) : undefined;
  if (override)
    return {
      candidates: [{ path: override, origin: 'LORA_NODE_BINARY', fits: undefined, note: 'LORA_NODE_BINARY (the only one tried)' }],
      skipped: [],
      libtorch: undefined,
      looked: [override],
    };

  const build = join(root, 'build', 'Release', 'lora_node.node');
  const prebuildDir = join(root, 'prebuilds', `${platform}-${arch}`);
  const looked = [build, `${prebuildDir}/`];
  const skipped: SkippedBinary[] = [];
  const files = existsSync(prebuildDir) ? readdirSync(prebuildDir).filter((f) => f.endsWith('.node')).sort() : [];
  const named = files.filter((file) => {
    if (parsePrebuildName(file)) return true;
    skipped.push({ path: join(prebuildDir, file), reason: `not a prebuild name (expected ${PREBUILD_PATTERN})` });
    return false;
  });
  const hasBuild = existsSync(build);
  if (!hasBuild && !named.length) return { candidates: [], skipped, libtorch: findTorch({ env }), looked };
  // Only a local build: nothing to rank, so skip the libtorch search (it may start
  // Python) — this runs on every process start. The test load still checks the build.
  if (!named.length) return { candidates: [{ path: build, origin: 'build', fits: undefined, note: 'build on this machine' }], skipped, libtorch: undefined, looked };

  const libtorch = findTorch({ env });
  let fitting: string[] = [];
  if (libtorch) {
    fitting = rankPrebuilds(named, libtorch);
    for (const file of named)
      if (!fitting.includes(file)) skipped.push({ path: join(prebuildDir, file), reason: prebuildMismatch(parsePrebuildName(file)!, libtorch)! });
  }
  const prebuilds = libtorch
    ? fitting.map((file): AddonCandidate => ({ path: join(prebuildDir, file), origin: 'prebuild', fits: true, note: `prebuild for libtorch ${libtorch.version}` }))
    : unknownFitOrder(named).map((file): AddonCandidate => ({ path: join(prebuildDir, file), origin: 'prebuild', fits: undefined, note: 'prebuild (no libtorch found to match it against)' }));

  if (!hasBuild) return { candidates: prebuilds, skipped, libtorch, looked };
  const configured = configuredTorchDir(join(root, 'build'));
  if (libtorch && configured && !samePath(configured, libtorch.cmakeDir)) {
    const note = `build on this machine, configured for the libtorch in ${configured}, not ${libtorch.cmakeDir} (tried last)`;
    return { candidates: [...prebuilds, { path: build, origin: 'build', fits: false, note }], skipped, libtorch, looked };
  }
  const builtAt = mtime(build);
  const newestPrebuild = Math.max(-Infinity, ...prebuilds.map((c) => mtime(c.path)));
  const first = builtAt >= newestPrebuild;
  const note = prebuilds.length ? `build on this machine, ${first ? 'at least as new as' : 'older than'} the newest prebuild` : 'build on this machine';
  const entry: AddonCandidate = { path: build, origin: 'build', fits: libtorch ? true : undefined, note };
  const candidates = first ? [entry, ...prebuilds] : [...prebuilds, entry];
  return { candidates, skipped, libtorch, looked };
}
