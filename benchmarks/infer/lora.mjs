#!/usr/bin/env node
// lora-node's Classifier on the benchmark checkpoint: times clf.logits() end
// to end (typed arrays in, AsyncWorker, Float32Array out). Prints one JSON object.
//
//   node benchmarks/infer/lora.mjs --model DIR --inputs FILE [--precision fp32|bf16|auto]
//        [--batch 32] [--seq 128] [--threads N] [--warmup 2] [--reps 5]
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';

import { loraNodeApi, median, parseArgs, readInputs } from './common.mjs';

const { values: a } = parseArgs({
  options: {
    model: { type: 'string' },
    inputs: { type: 'string' },
    precision: { type: 'string', default: 'fp32' },
    batch: { type: 'string', default: '32' },
    seq: { type: 'string', default: '128' },
    threads: { type: 'string', default: String(cpus().length) },
    warmup: { type: 'string', default: '2' },
    reps: { type: 'string', default: '5' },
  },
});
if (!a.model || !a.inputs) throw new Error('--model and --inputs are required');
const batchSize = Number(a.batch), seqLen = Number(a.seq), threads = Number(a.threads);

const api = await loraNodeApi();
const t0 = performance.now();
const clf = await api.Classifier.load(a.model, { device: 'cpu', threads, precision: a.precision });
const loadMs = performance.now() - t0;
const { inputIds, attentionMask } = readInputs(a.inputs, batchSize, seqLen);

let logits;
for (let i = 0; i < Number(a.warmup); i++) logits = await clf.logits({ inputIds, attentionMask, batchSize, seqLen });
const timesMs = [];
for (let i = 0; i < Number(a.reps); i++) {
  const t = performance.now();
  logits = await clf.logits({ inputIds, attentionMask, batchSize, seqLen });
  timesMs.push(performance.now() - t);
}

// What the library resolved and found, from whichever surface is there.
function describe() {
  const out = { api: api.source, threads, openblasCoretypeEnv: process.env.OPENBLAS_CORETYPE ?? null };
  const tryGet = (fn) => {
    try {
      return fn();
    } catch {
      return undefined;
    }
  };
  out.precision = tryGet(() => clf.precision) ?? tryGet(() => clf.info?.().precision);
  out.precisionReason = tryGet(() => clf.precisionReason) ?? tryGet(() => clf.info?.().precisionReason);
  const mod = api.module ?? {};
  const rt = tryGet(() => mod.runtimeReport?.()) ?? tryGet(() => api.addon?.runtimeInfo());
  if (rt?.blas) out.blasCore = rt.blas.core;
  if (rt?.blas?.coreDecision) out.blasCoreDecision = rt.blas.coreDecision;
  if (rt?.torchVersion) out.torch = rt.torchVersion;
  if (rt?.warnings?.length) out.warnings = rt.warnings;
  return out;
}
const runtime = describe();
clf.dispose();
console.log(
  JSON.stringify({
    impl: 'lora-node',
    precision: a.precision,
    resolvedPrecision: runtime.precision ?? a.precision,
    batch: batchSize,
    seq: seqLen,
    loadMs,
    timesMs,
    medianMs: median(timesMs),
    logits: Array.from(logits),
    runtime,
  }),
);
