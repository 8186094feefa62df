// Types for find-libtorch.mjs (used by TypeScript callers: tests, `lora-node doctor`).

/** A libtorch lora-node can build against. */
export interface FoundLibtorch {
  /** Folder holding TorchConfig.cmake (what CMake calls Torch_DIR). */
  cmakeDir: string;
  /** Install prefix above it (<prefix>/share/cmake/Torch, /usr for Debian). */
  prefix: string;
  /** The rule that found it. */
  source: 'LIBTORCH' | 'Torch_DIR' | 'CMAKE_PREFIX_PATH' | 'python' | 'debian';
  /** PACKAGE_VERSION from TorchConfigVersion.cmake, e.g. '1.13.0'. */
  version?: string;
  /** Folder holding libc10.so, when found. */
  libDir?: string;
  /** libc10_cuda.so sits next to libc10.so. */
  cuda: boolean;
  /** The C++ ABI from TorchConfig.cmake's -D_GLIBCXX_USE_CXX11_ABI; absent when it does not say. */
  abi?: 'cxx11' | 'pre-cxx11';
  /** CUDA libtorch only: the CUDA version it was built with as XY (118 = 11.8), when known. */
  cudaVersion?: number;
}

/** One place looked at, in search order. */
export interface SearchEntry {
  source: FoundLibtorch['source'];
  /** The folder looked in; null when the rule had nothing to look at. */
  dir: string | null;
  /** Which setting led there, or why nothing was looked at. */
  why: string;
  status: 'found' | 'found (not used: an earlier rule won)' | 'no TorchConfig.cmake' | 'no such folder' | 'nothing to look at';
}

export type Env = Record<string, string | undefined>;

export const DEBIAN_TORCH_DIRS: string[];
export function findLibtorch(options?: { env?: Env }): FoundLibtorch | null;
export function describeSearch(env?: Env): SearchEntry[];
export function formatSearch(entries: SearchEntry[]): string;
export function readTorchVersion(cmakeDir: string): string | undefined;
export function readTorchAbi(cmakeDir: string): 'cxx11' | 'pre-cxx11' | undefined;
export function readTorchCudaVersion(prefix: string, version?: string): number | undefined;
