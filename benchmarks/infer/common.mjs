// Shared by the benchmark scripts: paths, the model shape, the FLOP count,
// the input batch, statistics, and the lora-node API (dist/ when built, else
// the raw addon in build/Release).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const INFER_DIR = dirname(fileURLToPath(import.meta.url));
export const BENCH_DIR = resolve(INFER_DIR, '..');
export const REPO_ROOT = resolve(BENCH_DIR, '..');
export const WORK_DIR = join(BENCH_DIR, '.work');
export const RESULTS_DIR = join(BENCH_DIR, 'results');
export const MODEL_DIR = join(WORK_DIR, 'distilbert-base-random');
export const ONNX_PATH = join(WORK_DIR, 'distilbert-base-random.onnx');

// DistilBERT-base (distilbert-base-uncased) with a 2-label head.
export const MODEL_SHAPE = Object.freeze({
  layers: 6,
  dim: 768,
  hidden: 3072,
  heads: 12,
  vocab: 30522,
  maxPositions: 512,
  labels: 2,
});

/**
 * Forward FLOPs of the encoder at batch B, sequence T (multiply-add = 2 FLOPs):
 * linears 2·B·T·(4·C² + 2·C·F)·L (q, k, v, out; lin1, lin2) plus attention
 * 2·2·B·H·T²·D·L (q·kᵀ and weights·v). The head (B rows) is left out.
 */
export function forwardFlops(B, T, s = MODEL_SHAPE) {
  const C = s.dim, F = s.hidden, L = s.layers, H = s.heads, D = s.dim / s.heads;
  const linears = 2 * B * T * (4 * C * C + 2 * C * F) * L;
  const attention = 2 * 2 * B * H * T * T * D * L;
  return linears + attention;
}

export function median(values) {
  if (!values.length) return NaN;
  const v = [...values].sort((a, b) => a - b);
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

// mulberry32: small seeded PRNG, the same sequence on every run.
export function seededRandom(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The benchmark batch: [CLS] random word-piece ids [SEP], full length, mask all
 * ones (no padding). Written once to a little-endian Int32 file that every
 * implementation reads, so their logits can be compared.
 */
export function ensureInputs(batch, seq, seed = 1234) {
  const path = join(WORK_DIR, `inputs-b${batch}-t${seq}-s${seed}.i32`);
  if (!existsSync(path)) {
    mkdirSync(WORK_DIR, { recursive: true });
    const rand = seededRandom(seed);
    const ids = new Int32Array(batch * seq);
    for (let b = 0; b < batch; b++)
      for (let t = 0; t < seq; t++) {
        let id = 1000 + Math.floor(rand() * (MODEL_SHAPE.vocab - 1000));
        if (t === 0) id = 101;
        else if (t === seq - 1) id = 102;
        ids[b * seq + t] = id;
      }
    writeFileSync(path, Buffer.from(ids.buffer));
  }
  return path;
}

export function readInputs(path, batch, seq) {
  const buf = readFileSync(path);
  const inputIds = new Int32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
  if (inputIds.length !== batch * seq) throw new Error(`${path}: expected ${batch * seq} ids, found ${inputIds.length}`);
  const attentionMask = new Int32Array(batch * seq).fill(1);
  return { inputIds, attentionMask };
}

/**
 * The lora-node API: { Classifier, writeSafetensors, source }. Uses dist/index.js
 * (the public API) when it exists; else wraps the raw addon with the same shape.
 * LORA_BENCH_API=addon|dist forces one.
 */
export async function loraNodeApi() {
  const want = process.env.LORA_BENCH_API ?? 'auto';
  const dist = join(REPO_ROOT, 'dist', 'index.js');
  if (want === 'dist' || (want === 'auto' && existsSync(dist))) {
    const mod = await import(pathToFileURL(dist).href);
    if (typeof mod.Classifier?.load !== 'function') throw new Error(`${dist} does not export Classifier.load`);
    return { Classifier: mod.Classifier, writeSafetensors: mod.writeSafetensors, module: mod, source: 'dist/index.js' };
  }
  const addonPath = process.env.LORA_NODE_BINARY ?? join(REPO_ROOT, 'build', 'Release', 'lora_node.node');
  const addon = createRequire(import.meta.url)(addonPath);
  const Native = addon.NativeModel ?? addon.NativeClassifier;
  const Classifier = {
    async load(dir, options) {
      const handle = await Native.load(dir, options);
      return {
        info: () => handle.info(),
        get precision() {
          return handle.info().precision;
        },
        async logits({ inputIds, attentionMask, batchSize, seqLen }) {
          return (await handle.forward(inputIds, attentionMask, batchSize, seqLen, false)).logits;
        },
        dispose: () => handle.dispose(),
      };
    },
  };
  return { Classifier, writeSafetensors: addon.writeSafetensors, addon, source: 'build/Release/lora_node.node (raw addon)' };
}

/** Minimal `--name value` / `--flag` parsing over node:util's parseArgs. */
export { parseArgs } from 'node:util';
