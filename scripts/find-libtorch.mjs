// Finds the libtorch that lora-node builds against and loads with.
// No dependencies: the install script runs it before anything else is built.
//
// Order (first folder holding TorchConfig.cmake wins):
//   1. LIBTORCH or LORA_NODE_LIBTORCH  an unpacked libtorch zip: <dir>/share/cmake/Torch (or <dir>)
//   2. Torch_DIR                       the folder holding TorchConfig.cmake
//   3. CMAKE_PREFIX_PATH               each entry: <p>, <p>/Torch, <p>/share/cmake/Torch, <p>/lib/cmake/Torch, ...
//   4. python                          an installed PyTorch: torch.utils.cmake_prefix_path
//   5. debian                          /usr/lib/<triplet>/cmake/Torch (package libtorch-dev)
//
// Test hooks: LORA_NODE_SKIP_PYTHON_TORCH=1 skips step 4; LORA_NODE_DEBIAN_TORCH_DIR
// replaces the folders of step 5 (a path list; empty means none).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { basename, delimiter, dirname, join, resolve } from 'node:path';

export const DEBIAN_TORCH_DIRS = ['/usr/lib/x86_64-linux-gnu/cmake/Torch', '/usr/lib/aarch64-linux-gnu/cmake/Torch'];
const PYTHON_TIMEOUT_MS = 10_000;
// torch.utils.cmake_prefix_path is <torch package>/share/cmake; locating the package with
// find_spec gives the same folder without importing torch (which takes seconds), so the
// addon loader can afford this search at run time.
const PYTHON_CODE =
  "import importlib.util as u, os, sys; s = u.find_spec('torch'); " +
  "sys.exit(\"No module named 'torch'\") if s is None or not s.origin else print(os.path.join(os.path.dirname(s.origin), 'share', 'cmake'))";

/** Folders under a CMake prefix-path entry where TorchConfig.cmake may live. */
function prefixCandidates(p) {
  return [p, join(p, 'Torch'), join(p, 'share/cmake/Torch'), join(p, 'lib/cmake/Torch'), join(p, 'lib64/cmake/Torch')];
}

function splitList(value) {
  return (value ?? '').split(delimiter).filter(Boolean);
}

const pythonCache = new Map();
/** torch.utils.cmake_prefix_path of `python3` on PATH, or an explanation of why there is none. */
function pythonPrefix(env) {
  const key = env.PATH ?? '';
  if (!pythonCache.has(key)) {
    const run = spawnSync('python3', ['-c', PYTHON_CODE], { env, encoding: 'utf8', timeout: PYTHON_TIMEOUT_MS });
    const out = run.stdout?.trim().split('\n').pop();
    const error = run.error
      ? run.error.code === 'ETIMEDOUT' ? `timed out after ${PYTHON_TIMEOUT_MS / 1000}s` : run.error.message
      : run.status !== 0 ? (run.stderr?.trim().split('\n').pop() ?? `exit ${run.status}`) : !out ? 'printed nothing' : undefined;
    pythonCache.set(key, error ? { error } : { path: out });
  }
  return pythonCache.get(key);
}

/**
 * Every place looked at, in order: { source, dir, why }.
 * `dir` is null when the rule had nothing to look at (`why` says so).
 */
function candidates(env) {
  const list = [];
  if (!env.LIBTORCH && !env.LORA_NODE_LIBTORCH) list.push({ source: 'LIBTORCH', dir: null, why: 'not set (nor LORA_NODE_LIBTORCH)' });
  for (const name of ['LIBTORCH', 'LORA_NODE_LIBTORCH']) {
    const value = env[name];
    if (!value) continue;
    const root = resolve(value);
    // An unpacked libtorch zip, or straight at its CMake folder.
    for (const dir of [join(root, 'share/cmake/Torch'), root])
      list.push({ source: 'LIBTORCH', dir, why: `${name}=${value}` });
  }
  if (env.Torch_DIR) list.push({ source: 'Torch_DIR', dir: resolve(env.Torch_DIR), why: `Torch_DIR=${env.Torch_DIR}` });
  else list.push({ source: 'Torch_DIR', dir: null, why: 'not set' });
  if (!splitList(env.CMAKE_PREFIX_PATH).length) list.push({ source: 'CMAKE_PREFIX_PATH', dir: null, why: 'not set' });
  for (const entry of splitList(env.CMAKE_PREFIX_PATH))
    for (const dir of prefixCandidates(resolve(entry))) list.push({ source: 'CMAKE_PREFIX_PATH', dir, why: `CMAKE_PREFIX_PATH entry ${entry}` });
  if (env.LORA_NODE_SKIP_PYTHON_TORCH === '1') {
    list.push({ source: 'python', dir: null, why: 'skipped (LORA_NODE_SKIP_PYTHON_TORCH=1)' });
  } else {
    const py = pythonPrefix(env);
    if (py.error) list.push({ source: 'python', dir: null, why: `python3 (looking for torch, as torch.utils.cmake_prefix_path does): ${py.error}` });
    else for (const dir of prefixCandidates(py.path)) list.push({ source: 'python', dir, why: `torch.utils.cmake_prefix_path=${py.path}` });
  }
  const debian = env.LORA_NODE_DEBIAN_TORCH_DIR !== undefined ? splitList(env.LORA_NODE_DEBIAN_TORCH_DIR) : DEBIAN_TORCH_DIRS;
  if (!debian.length) list.push({ source: 'debian', dir: null, why: 'skipped (LORA_NODE_DEBIAN_TORCH_DIR is empty)' });
  for (const dir of debian) list.push({ source: 'debian', dir, why: 'libtorch-dev' });
  return list;
}

/** PACKAGE_VERSION from TorchConfigVersion.cmake, e.g. '1.13.0'; undefined when unreadable. */
export function readTorchVersion(cmakeDir) {
  try {
    const text = readFileSync(join(cmakeDir, 'TorchConfigVersion.cmake'), 'utf8');
    return /set\s*\(\s*PACKAGE_VERSION\s+"?([0-9][^")\s]*)"?\s*\)/.exec(text)?.[1];
  } catch {
    return undefined;
  }
}

/** The install prefix above <prefix>/{share,lib,lib64,lib/<triplet>}/cmake/Torch. */
function installPrefix(cmakeDir) {
  const above = dirname(dirname(cmakeDir)); // the folder holding cmake/
  const name = basename(above);
  if (name === 'share' || name === 'lib' || name === 'lib64') return dirname(above);
  if (basename(dirname(above)) === 'lib') return dirname(dirname(above)); // Debian multiarch
  return above;
}

/** The folder holding libc10.so, and whether libc10_cuda.so sits next to it. */
function libraries(cmakeDir, prefix) {
  const dirs = [join(prefix, 'lib'), join(prefix, 'lib64'), dirname(dirname(cmakeDir))];
  const libDir = dirs.find((d) => existsSync(join(d, 'libc10.so')));
  return { libDir, cuda: libDir !== undefined && existsSync(join(libDir, 'libc10_cuda.so')) };
}

/**
 * The C++ ABI libtorch was built with: TorchConfig.cmake sets -D_GLIBCXX_USE_CXX11_ABI=1
 * (Debian, cxx11 libtorch zips, pip wheels from 2.7) or =0 (older pip wheels, pre-cxx11 zips).
 * An addon must use the same one. Undefined when TorchConfig.cmake does not say.
 */
export function readTorchAbi(cmakeDir) {
  try {
    const flag = /_GLIBCXX_USE_CXX11_ABI=([01])/.exec(readFileSync(join(cmakeDir, 'TorchConfig.cmake'), 'utf8'))?.[1];
    return flag === undefined ? undefined : flag === '1' ? 'cxx11' : 'pre-cxx11';
  } catch {
    return undefined;
  }
}

/**
 * The CUDA version a CUDA libtorch was built with, as XY (118 for 11.8): from the version
 * (2.3.1+cu118), an unpacked zip's build-version, or a pip torch's version.py. Undefined when unknown.
 */
export function readTorchCudaVersion(prefix, version) {
  const fromTag = (text) => /\+cu(\d{3,})/.exec(text ?? '')?.[1];
  const read = (file) => {
    try {
      return readFileSync(join(prefix, file), 'utf8');
    } catch {
      return undefined;
    }
  };
  const pyCuda = /^cuda\b[^=\n]*=\s*['"](\d+)\.(\d+)/m.exec(read('version.py') ?? '');
  const xy = fromTag(version) ?? fromTag(read('build-version')) ?? (pyCuda ? `${pyCuda[1]}${pyCuda[2]}` : undefined);
  return xy ? Number(xy) : undefined;
}

function examine({ source, dir }) {
  if (!dir || !existsSync(join(dir, 'TorchConfig.cmake'))) return null;
  const prefix = installPrefix(dir);
  const found = { cmakeDir: dir, prefix, source, ...libraries(dir, prefix) };
  const version = readTorchVersion(dir);
  if (version) found.version = version;
  const abi = readTorchAbi(dir);
  if (abi) found.abi = abi;
  const cudaVersion = found.cuda ? readTorchCudaVersion(prefix, version) : undefined;
  if (cudaVersion) found.cudaVersion = cudaVersion;
  return found;
}

/**
 * The first libtorch found, or null.
 * @returns {{ cmakeDir: string, prefix: string, source: string, version?: string, libDir?: string, cuda: boolean, abi?: string, cudaVersion?: number } | null}
 */
export function findLibtorch({ env = process.env } = {}) {
  for (const candidate of candidates(env)) {
    const found = examine(candidate);
    if (found) return found;
  }
  return null;
}

/** Everything looked at, in search order, with what was there. */
export function describeSearch(env = process.env) {
  let winner = false;
  return candidates(env).map(({ source, dir, why }) => {
    let status;
    if (!dir) status = 'nothing to look at';
    else if (!existsSync(dir)) status = 'no such folder';
    else if (!existsSync(join(dir, 'TorchConfig.cmake'))) status = 'no TorchConfig.cmake';
    else status = winner ? 'found (not used: an earlier rule won)' : 'found';
    if (status === 'found') winner = true;
    return { source, dir, why, status };
  });
}

/** describeSearch as indented lines for messages. */
export function formatSearch(entries) {
  return entries.map((e) => `  - ${e.source}: ${e.dir ? `${e.dir}: ${e.status} (${e.why})` : e.why}`).join('\n');
}
