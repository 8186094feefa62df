// Prebuilt addons and the state of the local build.
//
// Prebuilds live in prebuilds/<platform>-<arch>/ and are named
//   lora-node.torch<major.minor>.<cpu|cudaXY>.node
// e.g. lora-node.torch1.13.cpu.node, lora-node.torch2.3.cuda118.node: one per
// libtorch ABI (major.minor) and device variant.
import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const PREBUILD_NAME = /^lora-node\.torch(\d+\.\d+)\.(cpu|cuda(\d+))\.node$/;

/** 'lora-node.torch2.3.cuda118.node' -> { torch: '2.3', variant: 'cuda118', cuda: 118 }; null if not a prebuild name. */
export function parsePrebuildName(file) {
  const m = PREBUILD_NAME.exec(file);
  return m ? { torch: m[1], variant: m[2], cuda: m[3] ? Number(m[3]) : null } : null;
}

/** The prebuild name lora-node would publish for this libtorch, with cudaXY when known. */
export function prebuildName(torchVersion, cudaVariant = 'cpu') {
  return `lora-node.torch${torchVersion.split('.').slice(0, 2).join('.')}.${cudaVariant}.node`;
}

/**
 * The prebuild that fits a found libtorch: same major.minor, cpu for a CPU libtorch,
 * cudaXY for a CUDA one (the lowest CUDA version when several: it runs on the most drivers).
 * Pure: takes file names, returns one of them or null.
 */
export function pickPrebuild(files, found) {
  if (!found?.version) return null;
  const torch = found.version.split('.').slice(0, 2).join('.');
  const fits = files
    .map((file) => ({ file, info: parsePrebuildName(file) }))
    .filter(({ info }) => info && info.torch === torch && (found.cuda ? info.cuda !== null : info.variant === 'cpu'))
    .sort((a, b) => (a.info.cuda ?? 0) - (b.info.cuda ?? 0));
  return fits[0]?.file ?? null;
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
