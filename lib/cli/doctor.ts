// `lora-node doctor`: what this machine gives lora-node, and what to fix.
import { runtimeReport } from '../runtime.js';

export function runDoctor(json: boolean): number {
  const r = runtimeReport();
  if (json) {
    console.log(JSON.stringify(r, null, 2));
    return 0;
  }
  const yes = (b: boolean): string => (b ? 'yes' : 'no');
  const lines = [
    `addon:            ${r.addonPath}`,
    `libtorch:         ${r.torchVersion} (${r.libtorchPath})`,
    `CUDA available:   ${yes(r.cuda.available)}${r.cuda.devices.length ? ` — ${r.cuda.devices.join('; ')}` : ''}`,
    `CUDA kernels:     ${r.cuda.kernelsBuilt ? 'built' : 'not built (libtorch without CUDA)'}`,
    `BLAS:             ${r.blas.kind}${r.blas.core ? ` (core ${r.blas.core})` : ''} ${r.blas.library}`,
    `OpenBLAS core:    ${r.blas.coreDecision.action}${r.blas.coreDecision.core ? ` ${r.blas.coreDecision.core}` : ''} — ${r.blas.coreDecision.reason}`,
    `CPU features:     AVX2 ${yes(r.cpu.avx2)}, AVX-512 ${yes(r.cpu.avx512f)}, AVX512-BF16 ${yes(r.cpu.avx512bf16)}, AMX-BF16 ${yes(r.cpu.amxBf16)}`,
    `threads:          ${r.threads.available} by default (libtorch started with ${r.threads.intraOp}; set with the threads option)`,
    `precision 'auto': ${r.autoPrecision.precision} on ${r.autoPrecision.device} — ${r.autoPrecision.reason}`,
    `allocator:        ${r.allocator}`,
  ];
  console.log(lines.join('\n'));
  for (const w of r.warnings) console.log(`warning: ${w}`);
  return 0;
}
