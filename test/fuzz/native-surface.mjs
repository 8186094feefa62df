// Fuzzes the addon's surface: valid calls to every native function and method with one
// argument or field replaced at a time by a hostile value (wrong types, short and long
// typed arrays, NaN, huge numbers, NUL paths, a FIFO...). Each call is written to the log
// file before it runs, so after a crash its last line names the culprit. Runs in a
// temporary working directory (relative paths the mutations produce land there).
//   node test/fuzz/native-surface.mjs [LOG_FILE]      (after npm run build:ts; seconds)
// Exit 0 and "DONE <n> calls" on stdout: no input crashed the process.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, openSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const ROOT = join(import.meta.dirname, '..', '..');
const { loadAddon } = await import(pathToFileURL(join(ROOT, 'dist', 'native', 'loader.js')).href);
const a = loadAddon();
const CK = join(ROOT, 'test', 'fixtures', 'tiny', 'checkpoint');
const AD = join(ROOT, 'test', 'fixtures', 'tiny', 'lora_adapter');
const tmp = mkdtempSync(join(tmpdir(), 'lora-node-fuzz-'));
process.chdir(tmp);
const FIFO = join(tmp, 'fifo');
execFileSync('mkfifo', [FIFO]);
const LOG = openSync(process.argv[2] ?? join(tmp, 'calls.log'), 'w');
let calls = 0;
const log = (s) => {
  calls++;
  writeSync(LOG, s + '\n');
};
const NUMS = [undefined, null, NaN, -1, 0, 2 ** 31, 2 ** 53, -(2 ** 53), Infinity, 1.5, '3', {}];
function mutationsOf(v) {
  if (v instanceof BigInt64Array) return [undefined, null, new BigInt64Array(0), new BigInt64Array(9).fill(-1n), new Float32Array(1)];
  if (ArrayBuffer.isView(v)) {
    const C = v.constructor;
    return [undefined, null, new C(0), v.subarray(0, Math.max(0, v.length - 1)), new C(v.length + 7), new (C === Float32Array ? Int32Array : Float32Array)(v.length), [...v], 'str',
      C === Int32Array ? C.from(v, () => 2 ** 31 - 1) : C === Float32Array ? C.from(v, () => NaN) : new C(v.length).fill(255),
      C === Int32Array ? C.from(v, () => -7) : C.from(v, () => Infinity)];
  }
  if (Array.isArray(v)) return [undefined, null, [], [...v, ...v], v.map(() => -1), v.map(() => 'x'), v.map(() => 2 ** 40), 'str', {}];
  if (typeof v === 'number') return NUMS;
  if (typeof v === 'string') return [undefined, null, '', 'x'.repeat(5000), 42, FIFO, '\u0000', 'cuda', 'cuda:7'];
  if (typeof v === 'boolean') return [undefined, 'yes', 1];
  if (v && typeof v === 'object') return [undefined, null, 5, 'str', {}];
  return [undefined];
}
function* variants(args) {
  for (let i = 0; i < args.length; i++) {
    for (const m of mutationsOf(args[i])) yield { desc: `arg${i}=${desc(m)}`, args: args.map((x, j) => (j === i ? m : x)) };
    const v = args[i];
    if (v && typeof v === 'object' && !ArrayBuffer.isView(v) && !Array.isArray(v)) {
      for (const k of Object.keys(v)) {
        for (const m of mutationsOf(v[k])) yield { desc: `arg${i}.${k}=${desc(m)}`, args: args.map((x, j) => (j === i ? { ...v, [k]: m } : x)) };
        const inner = v[k];
        if (inner && typeof inner === 'object' && !ArrayBuffer.isView(inner) && !Array.isArray(inner))
          for (const kk of Object.keys(inner))
            for (const m of mutationsOf(inner[kk]))
              yield { desc: `arg${i}.${k}.${kk}=${desc(m)}`, args: args.map((x, j) => (j === i ? { ...v, [k]: { ...inner, [kk]: m } } : x)) };
      }
    }
  }
}
function desc(m) {
  if (ArrayBuffer.isView(m)) return `${m.constructor.name}(${m.length})`;
  if (Array.isArray(m)) return `[${m.length}]`;
  if (typeof m === 'string') return JSON.stringify(m.slice(0, 12));
  return String(m);
}
async function fuzz(label, fn, args) {
  log(`${label} VALID`);
  try { const r = fn(...args); if (r?.then) await r; } catch (e) { log(`  valid call threw: ${e.code} ${e.message}`); }
  for (const { desc: d, args: mut } of variants(args)) {
    log(`${label} ${d}`);
    try { const r = fn(...mut); if (r?.then) await r.catch(() => {}); } catch {}
  }
}
const ids = new Int32Array([2, 13, 15, 3, 2, 14, 3, 0]);
const mask = new Int32Array([1, 1, 1, 1, 1, 1, 1, 0]);
const load = () => a.NativeModel.load(CK, { device: 'cpu', precision: 'fp32', threads: 1 });
const m = await load();
m.attachLora({ modules: [{ module: 'distilbert.transformer.layer.0.attention.q_lin', r: 4, alpha: 8 }], dropout: 0.1, useRslora: false, init: 'kaiming', bias: 'none', modulesToSave: ['classifier'] }, 1);
await fuzz('NativeModel.load', (...x) => a.NativeModel.load(...x).then((h) => h.dispose()), [CK, { device: 'cpu', precision: 'fp32', threads: 1, labels: ['a', 'b', 'c'], problemType: 'single_label_classification', initMissingHead: true, seed: 1, quantization: { type: 'nf4', blockSize: 64, doubleQuant: true, skip: ['lin2'] } }]);
await fuzz('forward', (...x) => m.forward(...x), [ids, mask, 2, 4, { labels: new Int32Array([0, 1]), train: true, backward: true, hidden: true }]);
await fuzz('forward-float-labels', (...x) => m.forward(...x), [ids, mask, 2, 4, { labels: new Float32Array(6), backward: true }]);
const spec = { modules: [{ module: 'distilbert.transformer.layer.0.attention.q_lin', r: 4, alpha: 8 }], dropout: 0.1, useRslora: false, init: 'kaiming', bias: 'none', modulesToSave: ['classifier'] };
{ const m2 = await load(); await fuzz('attachLora', (...x) => { try { m2.attachLora(...x); } finally {} }, [spec, 1]); m2.dispose(); }
const m3 = await load(); m3.attachLora({ ...spec, modules: ['layer.0','layer.1'].flatMap(l => ['q_lin','v_lin'].map(q => ({ module: `distilbert.transformer.${l}.attention.${q}`, r: 4, alpha: 8 }))), modulesToSave: ['pre_classifier', 'classifier'] }, 1);
await fuzz('loadAdapter', (...x) => m3.loadAdapter(...x), [join(AD, 'adapter_model.safetensors')]);
await fuzz('saveTrainable', (...x) => m3.saveTrainable(...x), [join(tmp, 'a.safetensors'), { format: 'pt' }]);
await fuzz('quantize4bit', (...x) => a.quantize4bit(...x), [new Float32Array(130).map((_, i) => Math.sin(i)), [10, 13], { type: 'nf4', blockSize: 64, doubleQuant: true }]);
const packed = await a.quantize4bit(new Float32Array(130).map((_, i) => Math.sin(i)), [10, 13], { type: 'nf4', blockSize: 64, doubleQuant: true });
await fuzz('dequantize4bit', (...x) => a.dequantize4bit(...x), [packed, { dtype: 'float32' }]);
const packed2 = await a.quantize4bit(new Float32Array(130).map((_, i) => Math.sin(i)), [10, 13], { type: 'fp4', blockSize: 32, doubleQuant: false });
await fuzz('dequantize4bit-nodq', (...x) => a.dequantize4bit(...x), [packed2, { dtype: 'bfloat16' }]);
await fuzz('writeSafetensors', (...x) => a.writeSafetensors(...x), [join(tmp, 'w.safetensors'), { t: { dtype: 'F32', shape: [2, 3], data: new Float32Array(6) }, u: { dtype: 'I64', shape: [1], data: new BigInt64Array(1) } }, { format: 'pt' }]);
await fuzz('lrSchedule', (...x) => a.lrSchedule(...x), ['cosine', 1e-3, 10, 100, 100]);
await fuzz('warmupSteps', (...x) => a.warmupSteps(...x), [5, 0.1, 100]);
await fuzz('adamwRun', (...x) => a.adamwRun(...x), [{ params: { w: new Float32Array(6) }, shapes: { w: [2, 3] }, gradSteps: [{ w: new Float32Array(6).fill(1) }], lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.01, maxGradNorm: 1 }]);
const special = new Uint8Array(100); special[0] = special[1] = special[2] = special[3] = 1;
await fuzz('maskTokens', (...x) => a.maskTokens(...x), [ids, mask, 2, 4, { spec: { probability: 0.5, maskFraction: 0.8, randomFraction: 0.1, wholeWord: true, maskTokenId: 4, special, continuation: new Uint8Array(100) }, seed: 1, epoch: 0, examples: new Int32Array([0, 1]) }]);
{ const mm = await a.NativeModel.load(CK, { device: 'cpu', precision: 'fp32', threads: 1, maskedLm: true, initMissingHead: true }).catch(e => { log('mlm load ' + e.message); }); if (mm) { mm.enableFullFinetune();
  await fuzz('maskedLmForward', (...x) => a.maskedLmForward(...x), [mm, ids, mask, new Int32Array([-100, 5, -100, -100, -100, 7, -100, -100]), 2, 4, { train: true, backward: true, allLogits: true }]); mm.dispose(); } }
{ const m4 = await load(); await fuzz('attachRiskHead', (...x) => a.attachRiskHead(...x), [m4, { numericWidth: 2, categories: [3], embeddingDims: [2], hidden: 8, ordinalClasses: 0 }, 1]); m4.dispose(); }
{ const m5 = await load(); a.attachRiskHead(m5, { numericWidth: 2, categories: [3], embeddingDims: [2], hidden: 8, ordinalClasses: 0 }, 1);
  await fuzz('forward-risk', (...x) => m5.forward(...x), [ids, mask, 2, 4, { labels: new Int32Array([0, 1]), backward: true, numericFeatures: new Float32Array(4), categoricalFeatures: new Int32Array([1, 2]) }]);
  await fuzz('saveRiskHead', (...x) => a.saveRiskHead(...x), [m5, join(tmp, 'risk.safetensors')]);
  await fuzz('loadRiskHead', (...x) => a.loadRiskHead(...x), [m5, join(tmp, 'risk.safetensors')]); m5.dispose(); }
{ const m6 = await load(); m6.attachLora(spec, 1);
  const cfg = { epochs: 1, batchSize: 2, learningRate: 1e-3, weightDecay: 0.01, warmupSteps: 0, warmupRatio: 0, scheduler: 'linear', maxGradNorm: 1, gradientAccumulationSteps: 1, seed: 1, lossKind: 'ce', classWeights: new Float32Array(3).fill(1) };
  const data = { ids: new Int32Array([2, 13, 3, 2, 14, 15, 3]), offsets: new Int32Array([0, 3, 7]), labels: new Int32Array([0, 2]) };
  await fuzz('NativeTrainer', (...x) => { const t = new a.NativeTrainer(...x); return t.run(1, () => {}).finally(() => t.dispose()); }, [m6, data, cfg]);
  const t = new a.NativeTrainer(m6, data, cfg);
  await fuzz('trainer.run', (...x) => t.run(...x), [1, () => {}]);
  await fuzz('trainer.saveState', (...x) => t.saveState(...x), [join(tmp, 'state.safetensors')]);
  await fuzz('trainer.loadState', (...x) => t.loadState(...x), [join(tmp, 'state.safetensors')]);
  t.dispose(); m6.dispose(); }
{ const m7 = await load(); const multi = a.NativeMultiModel.fromModel(m7);
  await fuzz('multi.addAdapter', (...x) => multi.addAdapter(...x).then(() => multi.removeAdapter(x[0].name)).catch(() => {}), [{ name: 'x', weightsPath: join(AD, 'adapter_model.safetensors'), spec: { modules: ['layer.0','layer.1'].flatMap(l => ['q_lin','v_lin'].map(q => ({ module: `distilbert.transformer.${l}.attention.${q}`, r: 4, alpha: 8 }))), dropout: 0, useRslora: false, init: 'kaiming', bias: 'none', modulesToSave: ['pre_classifier', 'classifier'] }, numLabels: 3, metadata: '{}' }]);
  await multi.addAdapter({ name: 'y', weightsPath: join(AD, 'adapter_model.safetensors'), spec: { modules: ['layer.0','layer.1'].flatMap(l => ['q_lin','v_lin'].map(q => ({ module: `distilbert.transformer.${l}.attention.${q}`, r: 4, alpha: 8 }))), dropout: 0, useRslora: false, init: 'kaiming', bias: 'none', modulesToSave: ['pre_classifier', 'classifier'] }, numLabels: 3, metadata: '{}' }).catch(e => log('add y ' + e.message));
  const snap = multi.snapshot();
  await fuzz('multi.forward', (...x) => multi.forward(...x), [ids, mask, 2, 4, snap.id]);
  await fuzz('multi.release', (...x) => multi.release(...x), [9999]);
  multi.dispose(); }
await fuzz('trainOpsDropout', (...x) => a.trainOpsDropout(...x), [{ input: new Float32Array(64), dtype: 'bfloat16', p: 0.1, seed: 1, calls: 2, grad: new Float32Array(64) }]);
await fuzz('trainOpsAttention', (...x) => a.trainOpsAttention(...x), [{ scores: new Float32Array(2 * 2 * 3 * 3), shape: [2, 2, 3, 3], keyMask: new Uint8Array(6).fill(1), dtype: 'float32', p: 0.1, seed: 1, grad: new Float32Array(36) }]);
await fuzz('trainOpsResidualNorm', (...x) => a.trainOpsResidualNorm(...x), [{ y: new Float32Array(12), residual: new Float32Array(12), weight: new Float32Array(4), bias: new Float32Array(4), shape: [3, 4], dtype: 'float32', p: 0.1, seed: 1, grad: new Float32Array(12), grad16: new Float32Array(12) }]);
await fuzz('trainOpsBiasGelu', (...x) => a.trainOpsBiasGelu(...x), [{ y: new Float32Array(12), bias: new Float32Array(4), shape: [3, 4], dtype: 'bfloat16', grad: new Float32Array(12) }]);
// Phase 2: every function and method called with combinations of hostile values,
// including a throwing getter and a Proxy, and every method of a disposed model.
const throwing = { get foo() { throw new Error('getter'); } };
const proxy = new Proxy({}, { get() { throw new Error('proxy get'); }, ownKeys() { throw new Error('proxy keys'); } });
const HOSTILE = [undefined, null, NaN, -1, 0, 2 ** 31, 2 ** 53, 1e300, '', 'x', FIFO, CK, true, {}, [], [1, 2], throwing, proxy,
  new Int32Array(3), new Float32Array(0), new Uint8Array(5), new Float64Array(2), Symbol('s'), () => 1, 10n,
  { device: 'cpu', precision: 'fp32', threads: 1 }, { device: 'cpu', precision: 'bogus', threads: -5 },
  { inputIds: new Int32Array(4), attentionMask: new Int32Array(4), batchSize: 2 ** 31 - 1, seqLen: 2 ** 31 - 1 }];
const name = (x) => (x === proxy ? 'proxy' : x === throwing ? 'throwing' : typeof x === 'symbol' ? 'symbol' : desc(x));
async function hostile(label, fn) {
  const sets = [[], ...HOSTILE.map((v) => [v])];
  for (let i = 0; i < 200; i++) sets.push(Array.from({ length: 1 + (i % 5) }, (_, j) => HOSTILE[(i * 7 + j * 13) % HOSTILE.length]));
  for (const args of sets) {
    log(`${label}(${args.map(name).join(', ')})`);
    try { const r = fn(...args); if (r?.then) await r.catch(() => {}); } catch {}
  }
}
const BENCHMARKS = new Set(['copyBenchmark', 'dequantizeBenchmark', 'trainOpsBench', 'setThreads']); // slow or global
for (const k of Object.keys(a)) {
  if (typeof a[k] !== 'function' || BENCHMARKS.has(k) || /^Native/.test(k)) continue;
  await hostile(k, (...x) => a[k](...x));
}
await hostile('NativeModel.load', (...x) => a.NativeModel.load(...x).then((h) => h.dispose()));
await hostile('NativeMultiModel.fromModel', (...x) => a.NativeMultiModel.fromModel(...x));
await hostile('new NativeTrainer', (...x) => new a.NativeTrainer(...x));
const victim = await load();
const methods = Object.getOwnPropertyNames(Object.getPrototypeOf(victim)).filter((k) => k !== 'constructor' && k !== 'dispose');
for (const k of methods) await hostile(`model.${k}`, (...x) => victim[k](...x));
await hostile('new NativeTrainer(model)', (...x) => new a.NativeTrainer(victim, ...x));
victim.dispose();
for (const k of methods) await hostile(`disposed model.${k}`, (...x) => victim[k](...x));
console.log(`DONE ${calls} calls`);
