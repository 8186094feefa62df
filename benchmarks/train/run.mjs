// benchmarks/train: LoRA training samples/s and peak memory, lora-node vs an
// eager PyTorch loop (same libtorch, same threads), fp32 and bf16, interleaved
// in rounds, each run in a fresh process. Prints a table; --save writes it to
// benchmarks/results/train-<date>[-<tag>].md. --only fp32|bf16 runs one precision.
// Usage: node benchmarks/train/run.mjs [--rounds 3] [--threads 2] [--steps 6] [--only bf16] [--save] [--tag what]
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { MODEL_DIR, REPO_ROOT, RESULTS_DIR, forwardFlops, median } from '../infer/common.mjs';

const { values: a } = parseArgs({
  options: {
    rounds: { type: 'string', default: '3' },
    threads: { type: 'string', default: '2' },
    steps: { type: 'string', default: '6' },
    batch: { type: 'string', default: '16' },
    seq: { type: 'string', default: '128' },
    save: { type: 'boolean', default: false },
    only: { type: 'string' },
    tag: { type: 'string' },
  },
});
const HERE = join(REPO_ROOT, 'benchmarks', 'train');
const B = Number(a.batch), T = Number(a.seq);
// Both sides use the fast OpenBLAS core (see benchmarks/README.md).
const env = { ...process.env, OPENBLAS_CORETYPE: 'SKYLAKEX' };

if (!existsSync(join(MODEL_DIR, 'model.safetensors')))
  execFileSync(process.execPath, [join(REPO_ROOT, 'benchmarks', 'infer', 'make-model.mjs')], { stdio: 'inherit' });

const common = ['--batch', a.batch, '--seq', a.seq, '--threads', a.threads, '--steps', a.steps, '--warmup', '2'];
const allConfigs = [
  { name: 'eager fp32', cmd: '/usr/bin/python3', args: [join(HERE, 'eager_train.py'), '--model', MODEL_DIR, '--precision', 'fp32', ...common] },
  { name: 'lora-node fp32', cmd: process.execPath, args: [join(HERE, 'lora.mjs'), '--precision', 'fp32', ...common] },
  { name: 'eager bf16', cmd: '/usr/bin/python3', args: [join(HERE, 'eager_train.py'), '--model', MODEL_DIR, '--precision', 'bf16', ...common] },
  { name: 'lora-node bf16', cmd: process.execPath, args: [join(HERE, 'lora.mjs'), '--precision', 'bf16', ...common] },
];
if (a.only && a.only !== 'fp32' && a.only !== 'bf16') throw new Error(`Expected --only fp32 or bf16 but received ${a.only}`);
const configs = allConfigs.filter((c) => !a.only || c.name.endsWith(a.only));

const results = Object.fromEntries(configs.map((c) => [c.name, { ms: [], rss: [] }]));
for (let round = 0; round < Number(a.rounds); round++) {
  for (const c of configs) {
    const out = spawnSync(c.cmd, c.args, { env, encoding: 'utf8', timeout: 1_800_000 });
    const line = out.stdout.trim().split('\n').pop() ?? '';
    if (out.status !== 0 || !line.startsWith('{')) throw new Error(`${c.name} failed (${out.status}): ${out.stderr.slice(-2000)}`);
    const r = JSON.parse(line);
    results[c.name].ms.push(...r.stepMs);
    results[c.name].rss.push(r.peakRssMiB);
    console.error(`round ${round + 1}: ${c.name} median ${r.medianMs.toFixed(0)} ms/step`);
  }
}

// Training FLOPs per step ≈ forward + the backward input gradients through every
// linear and attention (≈ another forward); LoRA's own weight gradients are < 1% here.
const flops = 2 * forwardFlops(B, T);
const matmulOut = spawnSync('/usr/bin/python3', [join(REPO_ROOT, 'benchmarks', 'infer', 'eager.py'), '--matmul', '--threads', a.threads], { env, encoding: 'utf8' });
const matmul = JSON.parse(matmulOut.stdout.trim().split('\n').pop() ?? '{}');
const cpu = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown';
const rows = configs.map((c) => {
  const ms = median(results[c.name].ms);
  const eager = median(results[c.name.replace('lora-node', 'eager')].ms);
  return {
    name: c.name,
    ms,
    samples: (B * 1000) / ms,
    gflops: flops / (ms / 1000) / 1e9,
    ratio: eager / ms,
    rss: Math.max(...results[c.name].rss),
    peak: c.name.endsWith('bf16') ? matmul.bf16GflopS : matmul.fp32GflopS,
  };
});
const lines = [
  `# benchmarks/train — ${new Date().toISOString().slice(0, 10)}`,
  '',
  `CPU: ${cpu}; threads ${a.threads}; OPENBLAS_CORETYPE=SKYLAKEX on both sides; batch ${B} × seq ${T}; LoRA r=8 on q_lin, v_lin (+ head), AdamW, dropout on;`,
  `${a.rounds} rounds × ${a.steps} timed steps (after 2 warm-up steps) per configuration, medians. Command: node benchmarks/train/run.mjs --rounds ${a.rounds} --threads ${a.threads} --steps ${a.steps}${a.only ? ` --only ${a.only}` : ''}`,
  '',
  '| configuration | ms/step | samples/s | GFLOP/s (2×forward) | of matmul rate | vs eager same precision | peak RSS MiB |',
  '|---|---|---|---|---|---|---|',
  ...rows.map((r) => `| ${r.name} | ${r.ms.toFixed(0)} | ${r.samples.toFixed(2)} | ${r.gflops.toFixed(0)} | ${((100 * r.gflops) / r.peak).toFixed(0)}% | ${r.ratio.toFixed(2)}x | ${r.rss.toFixed(0)} |`),
  '',
  `Matmul rate in the same run (eager.py --matmul, 4096×768×3072): fp32 ${matmul.fp32GflopS?.toFixed(0)} GFLOP/s, bf16 ${matmul.bf16GflopS?.toFixed(0)} GFLOP/s.`,
  '',
  'Targets (issue 3): lora-node fp32 ≥ 1.0x eager fp32, bf16 ≥ 1.5x eager bf16.',
];
console.log(lines.join('\n'));
if (a.save) {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, `train-${new Date().toISOString().slice(0, 10)}${a.tag ? `-${a.tag}` : ''}.md`);
  writeFileSync(file, lines.join('\n') + '\n\n```json\n' + JSON.stringify(results, null, 2) + '\n```\n');
  console.error(`wrote ${file}`);
}
