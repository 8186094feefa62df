// What lora-node runs on, for `lora-node doctor` and for bug reports.
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

import { fromNativeError } from './errors.js';
import type { BlasCoreDecision } from './native/blas-core.js';
import { addonStatus, loadAddon } from './native/loader.js';

export interface RuntimeReport {
  addonPath: string;
  torchVersion: string;
  /** Folder of the libtorch_cpu shared library this process loaded. */
  libtorchPath: string;
  cuda: { available: boolean; devices: string[]; kernelsBuilt: boolean };
  blas: { kind: string; library: string; core: string; referenceBlas: boolean; coreDecision: BlasCoreDecision };
  cpu: { avx2: boolean; avx512f: boolean; avx512bf16: boolean; amxBf16: boolean };
  threads: { intraOp: number; available: number };
  allocator: string;
  /** What precision 'auto' picks on the default device, and why. */
  autoPrecision: { device: string; precision: string; reason: string };
  warnings: string[];
}

function loadedLibtorchDir(): string {
  try {
    const maps = readFileSync('/proc/self/maps', 'utf8');
    const line = maps.split('\n').find((l) => /libtorch_cpu\.(so|dylib)/.test(l));
    const path = line?.slice(line.indexOf('/'));
    return path ? path.slice(0, path.lastIndexOf('/')) : 'unknown';
  } catch {
    return 'unknown';
  }
}

export function runtimeReport(): RuntimeReport {
  const addon = loadAddon();
  const status = addonStatus();
  try {
    const info = addon.runtimeInfo();
    const auto = addon.resolvePrecision('auto', 'auto');
    const referenceBlas = info.blas.kind === 'reference';
    const warnings: string[] = [];
    if (referenceBlas)
      warnings.push(
        `libtorch uses the reference BLAS (${info.blas.library}), about 14x slower than OpenBLAS for matmul: ` +
          'run `sudo apt-get install -y libopenblas0-pthread`.',
      );
    if (status.blasCore.action === 'rejected')
      warnings.push(`OpenBLAS core ${status.blasCore.core} was not used: ${status.blasCore.reason}`);
    return {
      addonPath: status.path,
      torchVersion: info.torchVersion,
      libtorchPath: loadedLibtorchDir(),
      cuda: { available: info.cudaAvailable, devices: info.cudaDevices, kernelsBuilt: info.builtWithCudaKernels },
      blas: { kind: info.blas.kind, library: info.blas.library, core: info.blas.core, referenceBlas, coreDecision: status.blasCore },
      cpu: info.cpu,
      threads: { intraOp: info.intraOpThreads, available: availableParallelism() },
      allocator: info.allocator,
      autoPrecision: auto,
      warnings,
    };
  } catch (error) {
    throw fromNativeError(error);
  }
}
