// Finds and loads the native addon. The order of the candidates is candidates.ts's:
// LORA_NODE_BINARY alone, else the prebuilds and build/Release that fit the libtorch found
// (the newest build first). Each candidate is loaded first in a child process
// (scripts/lib/test-load.mjs, verdict cached in os.tmpdir()), so a binary built for another
// libtorch, or a corrupt one, is skipped with a reason and never crashes this process.
// One AddonLoadError, listing what was tried and why it failed, when none loads.
import { createRequire } from 'node:module';
import { relative } from 'node:path';

import { describeSearch, type Env, type FoundLibtorch, formatSearch } from '../../scripts/find-libtorch.mjs';
import { wantedName } from '../../scripts/lib/prebuild.mjs';
import { testLoad } from '../../scripts/lib/test-load.mjs';
import { AddonLoadError } from '../errors.js';
import { type BlasCoreDecision, configureBlasCore } from './blas-core.js';
import { type AddonCandidate, addonCandidates, type CandidateOptions, type SkippedBinary } from './candidates.js';
import { packageRoot } from './package-root.js';
import type { NativeAddon } from './types.js';

export interface AddonStatus {
  path: string;
  /** Why this binary: LORA_NODE_BINARY, a prebuild for the libtorch found, or the local build. */
  origin: AddonCandidate['origin'];
  note: string;
  blasCore: BlasCoreDecision;
  /** Every binary tried, in order (the last one loaded). */
  tried: string[];
  /** Binaries tried before it, and why each failed; binaries left out, and why. */
  rejected: SkippedBinary[];
}

export interface ResolvedAddon {
  candidate: AddonCandidate;
  torchVersion: string;
  tried: string[];
  rejected: SkippedBinary[];
}

let loaded: { addon: NativeAddon; status: AddonStatus } | undefined;

const APT_TORCH = 'sudo apt-get install -y libtorch-dev libopenblas0-pthread';
const APT_BUILD = 'sudo apt-get install -y build-essential cmake nlohmann-json3-dev';
const BUILD_HINT = `build it from source with \`npx lora-node build\` (needs a C++17 compiler, CMake and nlohmann-json: \`${APT_BUILD}\`)`;

function describeTorch(t: FoundLibtorch): string {
  return `${t.version ?? '(unknown version)'} (${t.cuda ? `CUDA${t.cudaVersion ? ` ${t.cudaVersion}` : ''}` : 'CPU'}${t.abi ? `, ${t.abi} ABI` : ''}) from ${t.source}: ${t.cmakeDir}`;
}

function explain(root: string, list: ReturnType<typeof addonCandidates>, failures: SkippedBinary[], env: Env): AddonLoadError {
  const show = (p: string) => (p.startsWith(root) ? relative(root, p) : p);
  const lines = ['lora-node could not load its native addon.'];
  if (failures.length) lines.push(`Tried, in order (in ${root}):`, ...failures.map((f) => `  - ${show(f.path)}: ${f.reason}`));
  else lines.push(`No addon binary to try: looked for ${list.looked.map(show).join(' and ')} (in ${root}).`);
  if (list.skipped.length) lines.push('Left out:', ...list.skipped.map((s) => `  - ${show(s.path)}: ${s.reason}`));

  const missingTorch = failures.some((f) => /lib(torch|c10)[^ ]*\.so[^ ]*: cannot open shared object/.test(f.reason));
  const noTorch = list.libtorch === null;
  if (list.libtorch) lines.push(`libtorch found: ${describeTorch(list.libtorch)}`);
  if (noTorch) lines.push('libtorch: not found. Searched:', formatSearch(describeSearch(env)));

  let fix: string;
  if (missingTorch || (noTorch && !failures.some((f) => /crashed|not a lora-node addon/.test(f.reason))))
    fix =
      `Install libtorch: \`${APT_TORCH}\` (Debian/Ubuntu), or set LIBTORCH to an unpacked libtorch, ` +
      `then ${BUILD_HINT} unless a prebuild fits it.`;
  else if (list.candidates.length && list.candidates[0]!.origin === 'LORA_NODE_BINARY')
    fix = 'LORA_NODE_BINARY names a binary that does not load here: point it at a lora_node.node built for this libtorch, or unset it.';
  else if (!failures.length && list.libtorch)
    fix = `No prebuild fits this libtorch (it would be prebuilds/${process.platform}-${process.arch}/${wantedName(list.libtorch)}): ${BUILD_HINT}.`;
  else fix = `Rebuild the addon for this machine: ${BUILD_HINT}; or set LORA_NODE_BINARY to a lora_node.node that loads.`;
  lines.push(`To fix: ${fix}`);
  return new AddonLoadError(missingTorch || noTorch ? 'ERR_LIBTORCH_NOT_FOUND' : 'ERR_ADDON_LOAD', lines.join('\n'));
}

/**
 * The first candidate that loads in a child process; loads nothing into this process.
 * Throws AddonLoadError (ERR_ADDON_LOAD / ERR_LIBTORCH_NOT_FOUND) with what was tried.
 */
export function resolveAddon(options: Partial<CandidateOptions> = {}): ResolvedAddon {
  const root = options.root ?? packageRoot();
  const env = options.env ?? process.env;
  const list = addonCandidates({ ...options, root, env });
  const failures: SkippedBinary[] = [];
  const tried: string[] = [];
  const extraKey = [list.libtorch?.cmakeDir ?? ''];
  for (const candidate of list.candidates) {
    tried.push(candidate.path);
    const check = testLoad(candidate.path, { env, extraKey });
    if (check.ok) return { candidate, torchVersion: check.torchVersion, tried, rejected: [...failures, ...list.skipped] };
    failures.push({ path: candidate.path, reason: check.reason });
  }
  throw explain(root, list, failures, env);
}

/** Loads the addon once per process. Throws AddonLoadError with what was tried. */
export function loadAddon(): NativeAddon {
  if (loaded) return loaded.addon;
  const resolved = resolveAddon();
  const { path, origin, note } = resolved.candidate;
  try {
    const blasCore = configureBlasCore(path);
    const addon = createRequire(import.meta.url)(path) as NativeAddon;
    loaded = { addon, status: { path, origin, note, blasCore, tried: resolved.tried, rejected: resolved.rejected } };
    return addon;
  } catch (error) {
    // It loaded in the child a moment ago; say so rather than hide the difference.
    const reason = error instanceof Error ? error.message.split('\n')[0] : String(error);
    throw new AddonLoadError('ERR_ADDON_LOAD', `lora-node could not load its native addon ${path} (a test load in a child process succeeded): ${reason}`);
  }
}

/** Where the addon came from and what was decided on the way (for `doctor`). */
export function addonStatus(): AddonStatus {
  loadAddon();
  return loaded!.status;
}
