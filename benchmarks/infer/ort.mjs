#!/usr/bin/env node
// onnxruntime-node (the runtime transformers.js uses in Node) on the model
// exported by eager.py --export-onnx. CPU execution provider, intra-op
// threads = --threads, default graph optimizations. Prints one JSON object.
//
//   node benchmarks/infer/ort.mjs --onnx FILE --inputs FILE [--batch 32] [--seq 128]
//        [--threads N] [--warmup 2] [--reps 5]
//
// onnxruntime-node lives in benchmarks/.work (git-ignored), installed by
// ensureOrt() with ONNXRUNTIME_NODE_INSTALL=skip (its install script would
// otherwise try to download CUDA libraries).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';

import { WORK_DIR, median, parseArgs, readInputs } from './common.mjs';

export const ORT_VERSION = '1.30.0';
const ORT_PACKAGE = join(WORK_DIR, 'node_modules', 'onnxruntime-node', 'package.json');

/** Installs onnxruntime-node@ORT_VERSION into benchmarks/.work unless it is there. */
export function ensureOrt({ log = console.error } = {}) {
  if (existsSync(ORT_PACKAGE) && JSON.parse(readFileSync(ORT_PACKAGE, 'utf8')).version === ORT_VERSION) return false;
  mkdirSync(WORK_DIR, { recursive: true });
  log(`ort: installing onnxruntime-node@${ORT_VERSION} into ${WORK_DIR}`);
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  execFileSync(
    npm,
    ['install', '--prefix', WORK_DIR, '--no-save', '--no-audit', '--no-fund', '--no-package-lock', `onnxruntime-node@${ORT_VERSION}`],
    { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' } },
  );
  return true;
}

async function main() {
  const { values: a } = parseArgs({
    options: {
      onnx: { type: 'string' },
      inputs: { type: 'string' },
      batch: { type: 'string', default: '32' },
      seq: { type: 'string', default: '128' },
      threads: { type: 'string', default: String(cpus().length) },
      warmup: { type: 'string', default: '2' },
      reps: { type: 'string', default: '5' },
    },
  });
  if (!a.onnx || !a.inputs) throw new Error('--onnx and --inputs are required');
  const batch = Number(a.batch), seq = Number(a.seq), threads = Number(a.threads);
  const ort = createRequire(join(WORK_DIR, 'package.json'))('onnxruntime-node');
  const t0 = performance.now();
  const session = await ort.InferenceSession.create(a.onnx, {
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const loadMs = performance.now() - t0;
  const { inputIds, attentionMask } = readInputs(a.inputs, batch, seq);

  // Feeds are built inside the timed region: a caller holding Int32 ids pays it too.
  async function forward() {
    const feeds = {
      input_ids: new ort.Tensor('int64', BigInt64Array.from(inputIds, (v) => BigInt(v)), [batch, seq]),
      attention_mask: new ort.Tensor('int64', BigInt64Array.from(attentionMask, (v) => BigInt(v)), [batch, seq]),
    };
    const out = await session.run(feeds);
    return out.logits.data;
  }

  let logits;
  for (let i = 0; i < Number(a.warmup); i++) logits = await forward();
  const timesMs = [];
  for (let i = 0; i < Number(a.reps); i++) {
    const t = performance.now();
    logits = await forward();
    timesMs.push(performance.now() - t);
  }
  await session.release?.();
  const version = JSON.parse(readFileSync(ORT_PACKAGE, 'utf8')).version;
  console.log(
    JSON.stringify({
      impl: 'ort',
      precision: 'fp32',
      resolvedPrecision: 'fp32',
      batch,
      seq,
      loadMs,
      timesMs,
      medianMs: median(timesMs),
      logits: Array.from(logits),
      runtime: { onnxruntimeNode: version, threads, openblasCoretypeEnv: process.env.OPENBLAS_CORETYPE ?? null },
    }),
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  if (process.argv.includes('--install')) ensureOrt();
  else await main();
}
