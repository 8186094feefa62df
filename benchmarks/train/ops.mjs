// Per-op micro-timing of the fused training kernels against the ATen ops they
// replace, in one process (forward + backward, medians): keyed dropout vs
// bernoulli_ + mul + div, and fused masked softmax + dropout vs masked_fill ->
// softmax -> dropout, and bias + GELU vs add + gelu, at benchmarks/train's shapes (B 16, H 12, T 128, C 768, F 3072).
// Usage: node benchmarks/train/ops.mjs [--threads 2] [--reps 20]
import { parseArgs } from 'node:util';

import { addon } from './addon.mjs';

const { values: a } = parseArgs({ options: { threads: { type: 'string', default: '2' }, reps: { type: 'string', default: '20' } } });
addon.setThreads(Number(a.threads));
const reps = Number(a.reps);
const cases = [
  { op: 'dropout', dtype: 'bfloat16', shape: [16, 128, 1, 768], p: 0.1, what: 'dropout [B,T,C] bf16 (LoRA input)' },
  { op: 'dropout', dtype: 'float32', shape: [16, 128, 1, 768], p: 0.1, what: 'dropout [B,T,C] fp32 (FFN output)' },
  { op: 'attention', dtype: 'bfloat16', shape: [16, 12, 128, 128], p: 0.1, what: 'mask+softmax+dropout [B,H,T,T] bf16' },
  { op: 'attention', dtype: 'float32', shape: [16, 12, 128, 128], p: 0.1, what: 'mask+softmax+dropout [B,H,T,T] fp32' },
  { op: 'gelu', dtype: 'bfloat16', shape: [16, 128, 1, 3072], p: 0, what: 'bias+GELU [B,T,F] bf16' },
  { op: 'gelu', dtype: 'float32', shape: [16, 128, 1, 3072], p: 0, what: 'bias+GELU [B,T,F] fp32' },
];
const rows = cases.map((c) => ({ ...c, ...addon.trainOpsBench({ op: c.op, dtype: c.dtype, shape: c.shape, p: c.p, reps }) }));
console.log(`threads ${a.threads}, ${reps} reps, forward + backward, median ms`);
console.log('| op | ATen ms | fused ms | speed-up |');
console.log('|---|---|---|---|');
for (const r of rows) console.log(`| ${r.what} | ${r.atenMs.toFixed(2)} | ${r.fusedMs.toFixed(2)} | ${(r.atenMs / r.fusedMs).toFixed(2)}x |`);
