// Prebuilt addons and the state of the local build.
//
// Prebuilds live in prebuilds/<platform>-<arch>/ and are named
//   lora-node.torch<major.minor>.<cpu|cudaXY>[.precxx11].node
// e.g. lora-node.torch1.13.cpu.node, lora-node.torch2.3.cuda118.node: one per libtorch
// ABI (major.minor, and the C++ ABI) and device variant. No tag means the cxx11 C++ ABI
// (Debian, the cxx11 libtorch zips, pip wheels from torch 2.7); `.precxx11` marks an addon
// built against a libtorch with -D_GLIBCXX_USE_CXX11_ABI=0 (older pip wheels).
import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const PREBUILD_NAME = /^lora-node\.torch(\d+\.\d+)\.(cpu|cuda(\d+))(\.precxx11)?\.node$/;
export const PREBUILD_PATTERN = 'lora-node.torch<major.minor>.<cpu|cudaXY>[.precxx11].node';

/**
 * 'lora-node.torch2.3.cuda118.node' -> { torch: '2.3', variant: 'cuda118', cuda: 118 };
 * a `.precxx11` name adds abi: 'pre-cxx11' (no abi field means cxx11). null if not a prebuild name.
 */
export function parsePrebuildName(file) {
  const m = PREBUILD_NAME.exec(file);
  if (!m) return null;
  return { torch: m[1], variant: m[2], cuda: m[3] ? Number(m[3]) : null, ...(m[4] ? { abi: 'pre-cxx11' } : {}) };
}

/** The prebuild name lora-node would publish for this libtorch, with cudaXY when known. */
export function prebuildName(torchVersion, cudaVariant = 'cpu', abi = 'cxx11') {
  return `lora-node.torch${torchVersion.split('.').slice(0, 2).join('.')}.${cudaVariant}${abi === 'pre-cxx11' ? '.precxx11' : ''}.node`;
}

/** The variant a found libtorch wants: 'cpu', 'cuda118', or 'cudaXY' when its CUDA version is unknown. */
export function wantedVariant(found) {
  return found.cuda ? `cuda${found.cudaVersion ?? 'XY'}` : 'cpu';
}

/** What a found libtorch wants, described as a prebuild name (for messages). */
export function wantedName(found) {
  return found?.version ? prebuildName(found.version, wantedVariant(found), found.abi) : 'none (libtorch version unknown)';
}

/**
 * Why a prebuild (parsed name) does not fit a found libtorch, or null when it fits:
 * same major.minor, the same C++ ABI (when libtorch says), cpu for a CPU libtorch and
 * cudaXY for a CUDA one.
 */
export function prebuildMismatch(info, found) {
  if (!found?.version) return 'the libtorch version is unknown';
  const torch = found.version.split('.').slice(0, 2).join('.');
  const abi = info.abi ?? 'cxx11';
  if (info.torch !== torch) return `built for libtorch ${info.torch}, but libtorch ${found.version} is installed`;
  if (found.abi && abi !== found.abi) return `built for the ${abi} C++ ABI, but libtorch uses the ${found.abi} one`;
  if (found.cuda && info.cuda === null) return `built for CPU only, but libtorch ${found.version} has CUDA`;
  if (!found.cuda && info.cuda !== null) return `built for ${info.variant}, but libtorch ${found.version} is CPU-only`;
  return null;
}

/**
 * Fitting prebuilds, best first: for a CUDA libtorch the one with its exact CUDA version,
 * then the lowest CUDA version (it runs on the most drivers). Pure: file names in, names out.
 */
export function rankPrebuilds(files, found) {
  const exact = found?.cudaVersion;
  return files
    .map((file) => ({ file, info: parsePrebuildName(file) }))
    .filter(({ info }) => info && prebuildMismatch(info, found) === null)
    .sort((a, b) => Number(b.info.cuda === exact) - Number(a.info.cuda === exact) || (a.info.cuda ?? 0) - (b.info.cuda ?? 0))
    .map(({ file }) => file);
}

/** The prebuild that fits a found libtorch best (see rankPrebuilds), or null. */
export function pickPrebuild(files, found) {
  return rankPrebuilds(files, found)[0] ?? null;
}

/** File names in prebuilds/<platform>-<arch>/ (empty when the folder is absent). */
export function listPrebuilds(root, platform = process.platform, arch = process.arch) {
  const dir = join(root, 'prebuilds', `${platform}-${arch}`);
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.node')) : [];
}

function newestFile(path) {
  const stat = statSync(path);
  if (!stat.isDirectory()) return { path, mtimeMs: stat.mtimeMs };
  let newest = null;
  for (const name of readdirSync(path)) {
    const inner = newestFile(join(path, name));
    if (inner && (!newest || inner.mtimeMs > newest.mtimeMs)) newest = inner;
  }
  return newest;
}

function cachedTorchDir(buildDir) {
  try {
    return /^Torch_DIR:PATH=(.*)$/m.exec(readFileSync(join(buildDir, 'CMakeCache.txt'), 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}

function samePath(a, b) {
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return a === b;
  }
}

/**
 * Whether build/Release/lora_node.node can be kept: it exists, is newer than every
 * file in native/ and CMakeLists.txt, and build/ was configured for this libtorch.
 * @returns {{ fresh: boolean, reason: string }}
 */
export function buildState(root, found, out = 'build') {
  const addon = join(root, out, 'Release', 'lora_node.node');
  const rel = (p) => relative(root, p);
  if (!existsSync(addon)) return { fresh: false, reason: `${rel(addon)} does not exist yet` };
  const cached = cachedTorchDir(join(root, out));
  if (found && cached && !samePath(cached, found.cmakeDir))
    return { fresh: false, reason: `${out}/ was configured for the libtorch in ${cached}, not ${found.cmakeDir}` };
  const built = statSync(addon).mtimeMs;
  for (const source of ['native', 'CMakeLists.txt'].map((p) => join(root, p)).filter(existsSync)) {
    const newest = newestFile(source);
    if (newest && newest.mtimeMs > built) return { fresh: false, reason: `${rel(newest.path)} is newer than ${rel(addon)}` };
  }
  return { fresh: true, reason: `${rel(addon)} is newer than every file in native/ and CMakeLists.txt` };
}

/**
 * In a source checkout (a .git next to package.json), a prebuild older than a file in
 * native/ or CMakeLists.txt was made from other sources: the reason, else null. In an
 * installed package (no .git) a prebuild is never stale: npm gives every file its
 * extraction time, so mtimes there say nothing.
 */
export function prebuildStale(root, file, platform = process.platform, arch = process.arch) {
  if (!existsSync(join(root, '.git'))) return null;
  const path = join(root, 'prebuilds', `${platform}-${arch}`, file);
  const built = statSync(path).mtimeMs;
  for (const source of ['native', 'CMakeLists.txt'].map((p) => join(root, p)).filter(existsSync)) {
    const newest = newestFile(source);
    if (newest && newest.mtimeMs > built) return `${relative(root, newest.path)} is newer than it (a source checkout; \`npm run prebuild\` remakes it)`;
  }
  return null;
}
