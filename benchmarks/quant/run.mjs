#!/usr/bin/env node
// benchmarks/quant: CPU 4-bit dequantization throughput (GB/s of output written)
// beside a native copy of the same output size, in one process, interleaved.
// Target: dequantization at >= 50% of copy speed.
//
//   node benchmarks/quant/run.mjs [--threads N] [--repeats 15] [--rounds 3]
//        [--sizes 589824,2359296,16777216] [--block-size 64] [--wait-idle 600] [--save] [--out FILE]
//
// Columns (medians over rounds x repeats, after a warm-up):
//   dequant  native dequantization into a preallocated buffer (addon.dequantizeBenchmark:
//            the block statistics, the vectorized table lookups, at::parallel_for over blocks)
//   e2e      `await addon.dequantize4bit(packed)` as a caller sees it (input copy, a fresh
//            JS Float32Array, worker-thread hop)
//   copy     at::Tensor::copy_ of the same number of output bytes (addon.copyBenchmark)
// GB/s counts output bytes written (4 per element for float32, 2 for bfloat16).
// The addon is LORA_NODE_BINARY, else build/Release/lora_node.node. --save writes
// the table to benchmarks/results/quant-<date>.md (or --out FILE); run it on a
// quiet machine: --wait-idle waits (at most S seconds) while compilers or other
// busy processes run.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..', '..');

const { values: opt } = parseArgs({
  options: {
    threads: { type: 'string' },
    repeats: { type: 'string', default: '15' },
    rounds: { type: 'string', default: '3' },
    sizes: { type: 'string', default: `${768 * 768},${768 * 3072},${16 << 20}` },
    'block-size': { type: 'string', default: '64' },
    'wait-idle': { type: 'string', default: '600' },
    save: { type: 'boolean', default: false },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opt.help) {
  console.log(readFileSync(new URL(import.meta.url), 'utf8').split('\n').slice(1, 21).map((l) => l.replace(/^\/\/ ?/, '')).join('\n'));
  process.exit(0);
}

const threads = Number(opt.threads ?? availableParallelism());
const repeats = Number(opt.repeats);
const rounds = Number(opt.rounds);
const blockSize = Number(opt['block-size']);
const sizes = opt.sizes.split(',').map(Number);

const addonPath = process.env.LORA_NODE_BINARY ?? join(ROOT, 'build', 'Release', 'lora_node.node');
if (!existsSync(addonPath)) {
  console.error(`no addon at ${addonPath}: build it (npm run build:native) or set LORA_NODE_BINARY`);
  process.exit(1);
}
const addon = createRequire(import.meta.url)(addonPath);
addon.setThreads(threads);

const median = (values) => {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

// --- a quiet machine ---

function busyCores(sampleMs = 1000) {
  const read = () => {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const idle = f[3] + (f[4] ?? 0);
    return { idle, total: f.reduce((a, b) => a + b, 0) };
  };
  const a = read();
  execFileSync('sleep', [String(sampleMs / 1000)]);
  const b = read();
  return ((b.total - b.idle - (a.total - a.idle)) / Math.max(1, b.total - a.total)) * cpus().length;
}

function compilerRunning() {
  try {
    execFileSync('pgrep', ['-x', 'cc1plus|nvcc|cicc|ptxas|ld'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function waitIdle(limitS) {
  const start = Date.now();
  for (;;) {
    const busy = busyCores();
    const compiling = compilerRunning();
    if (busy < 0.25 && !compiling) return { waitedS: (Date.now() - start) / 1e3, busy };
    if ((Date.now() - start) / 1e3 > limitS) {
      console.error(`machine still busy after ${limitS}s (${busy.toFixed(2)} cores busy${compiling ? ', a compiler running' : ''}); measuring anyway`);
      return { waitedS: (Date.now() - start) / 1e3, busy, gaveUp: true };
    }
    await new Promise((r) => setTimeout(r, 5000));
  }
}

// --- data ---

function randomNormal(n, seed) {
  let s = seed >>> 0;
  const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 4294967296;
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = 0.02 * Math.sqrt(-2 * Math.log(next())) * Math.cos(2 * Math.PI * next());
  return x;
}

async function e2eSeconds(packed) {
  await addon.dequantize4bit(packed);
  const out = [];
  for (let r = 0; r < repeats; r++) {
    const t0 = process.hrtime.bigint();
    await addon.dequantize4bit(packed);
    out.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return out;
}

// --- run ---

const idle = await waitIdle(Number(opt['wait-idle']));
const configs = [
  { type: 'nf4', doubleQuant: false, dtype: 'float32' },
  { type: 'nf4', doubleQuant: true, dtype: 'float32' },
  { type: 'fp4', doubleQuant: true, dtype: 'float32' },
  { type: 'nf4', doubleQuant: true, dtype: 'bfloat16' },
];
const rows = [];
for (const n of sizes) {
  const x = randomNormal(n, n);
  const packed = {};
  for (const c of configs) {
    const key = `${c.type}/${c.doubleQuant}`;
    packed[key] ??= await addon.quantize4bit(x, [n], { type: c.type, blockSize, doubleQuant: c.doubleQuant });
  }
  const times = new Map();
  const add = (k, s) => times.set(k, [...(times.get(k) ?? []), ...s]);
  for (let r = 0; r < rounds; r++) {
    for (const bytes of [n * 4, n * 2]) add(`copy/${bytes}`, await addon.copyBenchmark(bytes, repeats));
    for (const c of configs) {
      const p = packed[`${c.type}/${c.doubleQuant}`];
      add(`dq/${JSON.stringify(c)}`, await addon.dequantizeBenchmark(p, repeats, { dtype: c.dtype }));
      if (c.dtype === 'float32') add(`e2e/${JSON.stringify(c)}`, await e2eSeconds(p));
    }
  }
  for (const c of configs) {
    const bytes = n * (c.dtype === 'float32' ? 4 : 2);
    const gbs = (k) => (times.has(k) ? bytes / median(times.get(k)) / 1e9 : undefined);
    const dequant = gbs(`dq/${JSON.stringify(c)}`);
    const copy = gbs(`copy/${bytes}`);
    rows.push({
      elements: n,
      outMB: bytes / 2 ** 20,
      type: c.type,
      doubleQuant: c.doubleQuant,
      dtype: c.dtype,
      dequant,
      e2e: gbs(`e2e/${JSON.stringify(c)}`),
      copy,
      ratio: dequant / copy,
    });
  }
}

const cpuName = cpus()[0]?.model ?? 'unknown CPU';
const f = (v, d = 2) => (v === undefined ? '—' : v.toFixed(d));
const header = '| elements | output MB | type | double quant | output | dequant GB/s | e2e GB/s | copy GB/s | dequant / copy |';
const lines = [
  header,
  '|---:|---:|---|---|---|---:|---:|---:|---:|',
  ...rows.map(
    (r) =>
      `| ${r.elements} | ${f(r.outMB, 1)} | ${r.type} | ${r.doubleQuant ? 'yes' : 'no'} | ${r.dtype} | ${f(r.dequant)} | ${f(r.e2e)} | ${f(r.copy)} | ${f(r.ratio * 100, 0)}% |`,
  ),
];
const info = addon.runtimeInfo();
const context = [
  `CPU: ${cpuName} (${cpus().length} logical), threads ${threads}, AVX2 ${info.cpu.avx2}, AVX-512F ${info.cpu.avx512f}; libtorch ${info.torchVersion}`,
  `block size ${blockSize}; medians of ${rounds} rounds x ${repeats} repeats; machine before the run: ${idle.busy.toFixed(2)} cores busy, waited ${idle.waitedS.toFixed(0)}s${idle.gaveUp ? ' (gave up waiting)' : ''}`,
  `command: node benchmarks/quant/run.mjs ${process.argv.slice(2).join(' ')}`.trim(),
];
const text = lines.join('\n');
console.log(text);
console.log('');
console.log(context.join('\n'));

if (opt.save || opt.out) {
  const date = new Date().toISOString().slice(0, 10);
  const file = opt.out ?? join(ROOT, 'benchmarks', 'results', `quant-${date}.md`);
  mkdirSync(dirname(file), { recursive: true });
  const md = [
    `# quant — CPU 4-bit dequantization vs copy (${date})`,
    '',
    text,
    '',
    ...context.map((c) => `- ${c}`),
    '',
    '```json',
    JSON.stringify({ threads, repeats, rounds, blockSize, sizes, idle, rows }, null, 2),
    '```',
    '',
  ].join('\n');
  writeFileSync(file, md);
  console.log(`\nwritten to ${file}`);
}
