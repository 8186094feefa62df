// Debian's OpenBLAS 0.3.21 picks slow kernels on newer AVX-512 CPUs (a Xeon
// shows up as "Prescott", an EPYC as "Haswell"). OpenBLAS reads
// OPENBLAS_CORETYPE once, when libtorch loads it, so the choice is made here,
// before the addon is loaded, and checked first in a child process: the
// forced core is kept only if a float32 matmul agrees with a float64 product.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface BlasCoreDecision {
  /** What lora-node did about OPENBLAS_CORETYPE. */
  action: 'user-setting' | 'forced' | 'rejected' | 'not-applicable' | 'disabled';
  core?: string;
  reason: string;
}

const FORCED_CORE = 'SKYLAKEX';
const SYSTEM_BLAS = ['/usr/lib/x86_64-linux-gnu/libblas.so.3', '/usr/lib64/libblas.so.3', '/usr/lib/libblas.so.3'];
/** A float32 product of length 131 is accurate to ~1e-7 relative; a wrong kernel is off by O(1). */
const MAX_RELATIVE_ERROR = 1e-4;

function cpuFlags(): { model: string; flags: Set<string> } {
  try {
    const text = readFileSync('/proc/cpuinfo', 'utf8');
    const model = /^model name\s*:\s*(.*)$/m.exec(text)?.[1] ?? 'unknown';
    const flags = new Set((/^flags\s*:\s*(.*)$/m.exec(text)?.[1] ?? '').split(/\s+/));
    return { model, flags };
  } catch {
    return { model: 'unknown', flags: new Set() };
  }
}

function systemOpenBlas(): string | undefined {
  for (const candidate of SYSTEM_BLAS) {
    if (!existsSync(candidate)) continue;
    const real = realpathSync(candidate);
    return /openblas/i.test(real) ? real : undefined;
  }
  return undefined;
}

function checkInChild(addonPath: string): { error: number; core: string } | { failure: string } {
  const script =
    `const a = require(${JSON.stringify(addonPath)});` +
    `process.stdout.write(JSON.stringify({ error: a.blasSelfCheck(), core: a.runtimeInfo().blas.core }));`;
  const child = spawnSync(process.execPath, ['-e', script], {
    env: { ...process.env, OPENBLAS_CORETYPE: FORCED_CORE, LORA_NODE_BLAS_CORE: 'off' },
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (child.status !== 0) return { failure: `check process exited with ${child.status ?? child.signal}: ${child.stderr.slice(0, 300)}` };
  try {
    return JSON.parse(child.stdout) as { error: number; core: string };
  } catch {
    return { failure: `unreadable check output: ${child.stdout.slice(0, 200)}` };
  }
}

/** Decides OPENBLAS_CORETYPE for this process and sets it; call before loading the addon. */
export function configureBlasCore(addonPath: string): BlasCoreDecision {
  const env = process.env;
  if (env.OPENBLAS_CORETYPE) {
    const hint =
      env.OPENBLAS_CORETYPE.toUpperCase() !== FORCED_CORE && cpuFlags().flags.has('avx512f')
        ? `; this CPU has AVX-512, where ${FORCED_CORE} is usually faster (unset it to let lora-node check)`
        : '';
    return { action: 'user-setting', core: env.OPENBLAS_CORETYPE, reason: `OPENBLAS_CORETYPE was set in the environment${hint}` };
  }
  if (env.LORA_NODE_BLAS_CORE === 'off') return { action: 'disabled', reason: 'LORA_NODE_BLAS_CORE=off' };
  if (process.platform !== 'linux' || process.arch !== 'x64') return { action: 'not-applicable', reason: 'not Linux x64' };
  const blas = systemOpenBlas();
  if (!blas) return { action: 'not-applicable', reason: 'the system BLAS is not OpenBLAS' };
  const cpu = cpuFlags();
  if (!['avx512f', 'avx512bw', 'avx512vl', 'avx512dq'].every((f) => cpu.flags.has(f)))
    return { action: 'not-applicable', reason: 'the CPU lacks AVX-512 (F/BW/VL/DQ)' };

  const key = createHash('sha256')
    .update([cpu.model, blas, addonPath, String(statSync(addonPath).mtimeMs), process.version].join('\n'))
    .digest('hex')
    .slice(0, 16);
  const cacheFile = join(tmpdir(), `lora-node-blas-check-${key}.json`);
  let result: ReturnType<typeof checkInChild>;
  try {
    result = JSON.parse(readFileSync(cacheFile, 'utf8')) as ReturnType<typeof checkInChild>;
  } catch {
    result = checkInChild(addonPath);
    if (!('failure' in result)) {
      try {
        writeFileSync(cacheFile, JSON.stringify(result));
      } catch {
        // an unwritable tmpdir only costs a re-check next time
      }
    }
  }
  if ('failure' in result) return { action: 'rejected', core: FORCED_CORE, reason: result.failure };
  if (result.core.toUpperCase() !== FORCED_CORE)
    return { action: 'rejected', core: FORCED_CORE, reason: `OpenBLAS did not accept the core (it reported ${result.core})` };
  if (!(result.error <= MAX_RELATIVE_ERROR))
    return { action: 'rejected', core: FORCED_CORE, reason: `a checked matmul was off by ${result.error} relative` };
  env.OPENBLAS_CORETYPE = FORCED_CORE;
  return {
    action: 'forced',
    core: FORCED_CORE,
    reason: `${cpu.model} has AVX-512 and ${blas} is OpenBLAS; a checked matmul agreed to ${result.error.toExponential(1)}`,
  };
}
