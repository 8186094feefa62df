// lora-node side of benchmarks/train: LoRA training steps through the public
// Trainer on the DistilBERT-base-shaped model, every sequence 128 tokens.
// Prints one JSON object (per-step milliseconds from the progress events, peak RSS).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

import { MODEL_DIR, REPO_ROOT, seededRandom } from '../infer/common.mjs';

const { values: a } = parseArgs({
  options: {
    batch: { type: 'string', default: '16' },
    seq: { type: 'string', default: '128' },
    precision: { type: 'string', default: 'fp32' },
    threads: { type: 'string', default: '2' },
    steps: { type: 'string', default: '6' },
    warmup: { type: 'string', default: '2' },
    r: { type: 'string', default: '8' },
    quant: { type: 'string' },
  },
});
const batch = Number(a.batch), seq = Number(a.seq), steps = Number(a.steps), warmup = Number(a.warmup);
const { Trainer } = await import(pathToFileURL(join(REPO_ROOT, 'dist', 'index.js')).href);

// Texts of 2×seq plain vocabulary words, so truncation makes every example exactly `seq` tokens.
const vocab = readFileSync(join(MODEL_DIR, 'vocab.txt'), 'utf8').split('\n').filter((w) => /^[a-z]{3,}$/.test(w));
const rand = seededRandom(7);
const examples = Array.from({ length: batch * (steps + warmup) }, (_, i) => ({
  text: Array.from({ length: 2 * seq }, () => vocab[Math.floor(rand() * vocab.length)]).join(' '),
  label: i % 2 ? 'a' : 'b',
}));

const trainer = new Trainer({
  model: MODEL_DIR,
  lora: { r: Number(a.r), alpha: 16, dropout: 0.1, targetModules: ['q_lin', 'v_lin'] },
  epochs: 1,
  batchSize: batch,
  maxLength: seq,
  learningRate: 2e-4,
  warmupRatio: 0,
  precision: a.precision,
  device: 'cpu',
  threads: Number(a.threads),
  ...(a.quant ? { quantization: { type: a.quant, blockSize: 64, doubleQuant: true } } : {}),
});
// Step i's time is the gap between the progress events of steps i-1 and i (the
// JS thread is idle during training, so events arrive as steps finish).
const stamps = [];
trainer.on('progress', () => stamps.push(performance.now()));
await trainer.train(examples);
const times = stamps.slice(warmup).map((t, i) => t - stamps[warmup - 1 + i]);
const sorted = [...times].sort((x, y) => x - y);
console.log(
  JSON.stringify({
    impl: 'lora-node',
    precision: a.precision,
    quantization: a.quant ?? null,
    stepMs: times,
    medianMs: sorted.length % 2 ? sorted[sorted.length >> 1] : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2,
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
    threads: Number(a.threads),
  }),
);
