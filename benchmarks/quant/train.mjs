// benchmarks/quant (training part): QLoRA (NF4 base, double quant) vs LoRA on
// the full-precision base, same model, data and settings, fp32 compute on the
// CPU, interleaved in rounds, each run a fresh process. Reports samples/s, peak
// RSS, and the bytes the base linear weights take in each.
// Usage: node benchmarks/quant/train.mjs [--rounds 2] [--steps 4] [--threads 2] [--save]
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

import { MODEL_DIR, REPO_ROOT, RESULTS_DIR, median } from '../infer/common.mjs';

const { values: a } = parseArgs({
  options: {
    rounds: { type: 'string', default: '2' },
    steps: { type: 'string', default: '4' },
    threads: { type: 'string', default: '2' },
    save: { type: 'boolean', default: false },
  },
});
const env = { ...process.env, OPENBLAS_CORETYPE: 'SKYLAKEX' };
const script = join(REPO_ROOT, 'benchmarks', 'train', 'lora.mjs');
const common = ['--precision', 'fp32', '--threads', a.threads, '--steps', a.steps, '--warmup', '2'];
const configs = [
  { name: 'LoRA, fp32 base', args: common },
  { name: 'QLoRA, NF4 base', args: [...common, '--quant', 'nf4'] },
];
const results = Object.fromEntries(configs.map((c) => [c.name, { ms: [], rss: [] }]));
for (let round = 0; round < Number(a.rounds); round++)
  for (const c of configs) {
    const out = spawnSync(process.execPath, [script, ...c.args], { env, encoding: 'utf8', timeout: 1_800_000 });
    const line = out.stdout.trim().split('\n').pop() ?? '';
    if (out.status !== 0 || !line.startsWith('{')) throw new Error(`${c.name} failed: ${out.stderr.slice(-2000)}`);
    const r = JSON.parse(line);
    results[c.name].ms.push(...r.stepMs);
    results[c.name].rss.push(r.peakRssMiB);
    console.error(`round ${round + 1}: ${c.name} ${r.medianMs.toFixed(0)} ms/step`);
  }

// Bytes of the base linear weights, from the model itself (packed codes + statistics when 4-bit).
const { Model } = await import(pathToFileURL(join(REPO_ROOT, 'dist', 'index.js')).href);
const weightBytes = {};
for (const [name, quantization] of [['LoRA, fp32 base', undefined], ['QLoRA, NF4 base', {}]]) {
  const m = await Model.load(MODEL_DIR, { device: 'cpu', precision: 'fp32', ...(quantization ? { quantization } : {}) });
  weightBytes[name] = { bytes: m.info.baseLinearBytes, params: m.info.baseLinearParams };
  m.dispose();
}

const lines = [
  `# benchmarks/quant — QLoRA vs LoRA training on the CPU (${new Date().toISOString().slice(0, 10)})`,
  '',
  `DistilBERT-base-shaped random model, LoRA r=8 on q_lin, v_lin (+ head), batch 16 × seq 128, fp32 compute, threads ${a.threads}, OPENBLAS_CORETYPE=SKYLAKEX.`,
  `${a.rounds} rounds × ${a.steps} timed steps per configuration (after 2 warm-up steps), medians. Command: node benchmarks/quant/train.mjs --rounds ${a.rounds} --steps ${a.steps} --threads ${a.threads}`,
  '',
  '| configuration | ms/step | samples/s | base linear weights | bytes / parameter | peak RSS MiB |',
  '|---|---|---|---|---|---|',
  ...configs.map((c) => {
    const ms = median(results[c.name].ms);
    const w = weightBytes[c.name];
    return `| ${c.name} | ${ms.toFixed(0)} | ${((16 * 1000) / ms).toFixed(2)} | ${(w.bytes / 2 ** 20).toFixed(1)} MiB | ${(w.bytes / w.params).toFixed(3)} | ${Math.max(...results[c.name].rss).toFixed(0)} |`;
  }),
];
console.log(lines.join('\n'));
if (a.save) {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = join(RESULTS_DIR, `quant-train-${new Date().toISOString().slice(0, 10)}.md`);
  writeFileSync(file, lines.join('\n') + '\n\n```json\n' + JSON.stringify({ results, weightBytes }, null, 2) + '\n```\n');
  console.error(`wrote ${file}`);
}
