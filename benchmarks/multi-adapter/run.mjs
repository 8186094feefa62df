#!/usr/bin/env node
// benchmarks/multi-adapter: one DistilBERT-base shared by N LoRA adapters
// (Classifier.load(base, { adapters })) against N separate Classifiers, each
// carrying one adapter. Prints and writes a table: texts/s of predict() for
// 1, 4 and 16 adapters vs 16 separate Classifiers, and the process RSS for 1
// vs 10 adapters (vs 10 separate Classifiers). Every configuration runs in its
// own child process, so RSS is that configuration's alone.
//
// The base is the random DistilBERT-base-shaped checkpoint of benchmarks/infer
// (made if missing); the adapters are random PEFT adapters (r 8, alpha 16,
// 2 labels, their own head), written once to benchmarks/.work/multi-adapter/.
//
//   node benchmarks/multi-adapter/run.mjs [--texts 64] [--words 40] [--reps 3] [--precision auto]
//        [--threads N] [--targets q_lin,v_lin] [--late-layers 4,5] [--only a,b] [--out FILE]
//   node benchmarks/multi-adapter/run.mjs --child '{"kind":"multi",...}'   (one configuration; prints JSON)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { MODEL_DIR, MODEL_SHAPE, REPO_ROOT, RESULTS_DIR, WORK_DIR, loraNodeApi, median, seededRandom } from '../infer/common.mjs';
import { ensureModel } from '../infer/make-model.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ADAPTER_ROOT = join(WORK_DIR, 'multi-adapter');

const { values: opt } = parseArgs({
  options: {
    child: { type: 'string' },
    texts: { type: 'string', default: '64' },
    words: { type: 'string', default: '40' },
    reps: { type: 'string', default: '3' },
    precision: { type: 'string', default: 'auto' },
    threads: { type: 'string', default: String(cpus().length) },
    targets: { type: 'string', default: 'q_lin,v_lin' },
    'late-layers': { type: 'string', default: '4,5' },
    only: { type: 'string' },
    out: { type: 'string' },
  },
});

// --- the texts: random whole words of the bert-base-uncased vocabulary ---
function makeTexts(count, words, seed = 7) {
  const vocab = readFileSync(join(MODEL_DIR, 'vocab.txt'), 'utf8')
    .split('\n')
    .filter((w) => /^[a-z]{3,}$/.test(w));
  const rand = seededRandom(seed);
  return Array.from({ length: count }, () => Array.from({ length: words }, () => vocab[Math.floor(rand() * vocab.length)]).join(' '));
}

// --- random PEFT adapters on the base's linears ---
async function ensureAdapter(api, name, { targets, layers, seed }) {
  const dir = join(ADAPTER_ROOT, name);
  if (existsSync(join(dir, 'adapter_model.safetensors'))) return dir;
  mkdirSync(dir, { recursive: true });
  const { dim: C, hidden: F, layers: L } = MODEL_SHAPE;
  const r = 8;
  const rand = seededRandom(seed);
  const uniform = (n, bound) => Float32Array.from({ length: n }, () => (rand() * 2 - 1) * bound);
  const shapes = { q_lin: [C, C], k_lin: [C, C], v_lin: [C, C], out_lin: [C, C], lin1: [F, C], lin2: [C, F] };
  const tensors = {};
  const put = (key, shape, bound) => (tensors[key] = { dtype: 'F32', shape, data: uniform(shape[0] * (shape[1] ?? 1), bound) });
  for (let i = 0; i < L; i++) {
    if (layers && !layers.includes(i)) continue;
    for (const t of targets) {
      const module = `distilbert.transformer.layer.${i}.${t.endsWith('_lin') ? 'attention' : 'ffn'}.${t}`;
      const [out, inF] = shapes[t];
      put(`base_model.model.${module}.lora_A.weight`, [r, inF], 1 / Math.sqrt(inF));
      put(`base_model.model.${module}.lora_B.weight`, [out, r], 0.02);
    }
  }
  put('base_model.model.pre_classifier.weight', [C, C], 0.03);
  put('base_model.model.pre_classifier.bias', [C], 0.01);
  put('base_model.model.classifier.weight', [2, C], 0.03);
  put('base_model.model.classifier.bias', [2], 0.01);
  await api.writeSafetensors(join(dir, 'adapter_model.safetensors'), tensors, { format: 'pt' });
  const config = {
    base_model_name_or_path: 'distilbert-base-random',
    bias: 'none',
    inference_mode: true,
    layers_to_transform: layers ?? null,
    lora_alpha: 16,
    lora_dropout: 0,
    modules_to_save: ['pre_classifier', 'classifier'],
    peft_type: 'LORA',
    r,
    target_modules: targets,
    task_type: 'SEQ_CLS',
  };
  writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify(config, null, 2) + '\n');
  writeFileSync(join(dir, 'lora-node.json'), JSON.stringify({ format: 1, labels: ['no', 'yes'], task: 'binary' }, null, 2) + '\n');
  return dir;
}

// --- one configuration, in this process ---
async function runChild(c) {
  const api = await loraNodeApi();
  const texts = makeTexts(c.texts, c.words);
  const options = { device: 'cpu', threads: c.threads, precision: c.precision };
  const t0 = performance.now();
  let predictAll;
  let dispose;
  let sharedLayers = null;
  let precision;
  if (c.kind === 'multi') {
    const adapters = Object.fromEntries(c.adapters.map((dir, i) => [`a${i}`, dir]));
    const clf = await api.Classifier.load(c.model, { ...options, adapters });
    sharedLayers = clf.sharedLayers;
    precision = clf.precision;
    predictAll = () => clf.predict(texts);
    dispose = () => clf.dispose();
  } else {
    // Separate Classifiers, all loaded at once (what serving N risk types with N models holds).
    const clfs = [];
    for (const dir of c.adapters) clfs.push(await api.Classifier.load(c.model, { ...options, adapter: dir }));
    precision = clfs[0].precision;
    predictAll = async () => {
      const out = [];
      for (const clf of clfs) out.push(await clf.predict(texts));
      return out;
    };
    dispose = () => clfs.forEach((clf) => clf.dispose());
  }
  const loadS = (performance.now() - t0) / 1000;
  const rssAfterLoad = process.memoryUsage().rss;
  await predictAll(); // warm-up
  const times = [];
  for (let i = 0; i < c.reps; i++) {
    const t = performance.now();
    await predictAll();
    times.push((performance.now() - t) / 1000);
  }
  const rss = process.memoryUsage().rss;
  const maxRss = process.resourceUsage().maxRSS * 1024;
  dispose();
  return { ...c, adapters: c.adapters.length, precision, sharedLayers, loadS, times, seconds: median(times), rssAfterLoad, rss, maxRss };
}

if (opt.child) {
  console.log(JSON.stringify(await runChild(JSON.parse(opt.child))));
  process.exit(0);
}

// --- the parent: make inputs, run every configuration in a child, print the table ---
const api = await loraNodeApi();
if (api.source !== 'dist/index.js') throw new Error('build dist/ first (npm run build:all): the benchmark uses Classifier.load(base, { adapters })');
await ensureModel();
const targets = opt.targets.split(',');
const late = opt['late-layers'].split(',').map(Number);
const all = [];
const lateDirs = [];
for (let i = 0; i < 16; i++) {
  all.push(await ensureAdapter(api, `all-${targets.join('-')}-${i}`, { targets, seed: 100 + i }));
  lateDirs.push(await ensureAdapter(api, `late-${late.join('-')}-${targets.join('-')}-${i}`, { targets, layers: late, seed: 200 + i }));
}
const common = { model: MODEL_DIR, texts: Number(opt.texts), words: Number(opt.words), reps: Number(opt.reps), threads: Number(opt.threads), precision: opt.precision };
const CONFIGS = [
  { id: 'multi-1', kind: 'multi', adapters: all.slice(0, 1), what: 'one base + 1 adapter' },
  { id: 'multi-4', kind: 'multi', adapters: all.slice(0, 4), what: 'one base + 4 adapters' },
  { id: 'multi-16', kind: 'multi', adapters: all, what: 'one base + 16 adapters' },
  { id: 'separate-16', kind: 'separate', adapters: all, what: '16 separate Classifiers' },
  { id: 'multi-16-late', kind: 'multi', adapters: lateDirs, what: `one base + 16 adapters on layers ${late.join(',')} only` },
  { id: 'separate-16-late', kind: 'separate', adapters: lateDirs, what: `16 separate Classifiers, adapters on layers ${late.join(',')}` },
  { id: 'multi-10', kind: 'multi', adapters: all.slice(0, 10), what: 'one base + 10 adapters', reps: 1 },
  { id: 'separate-1', kind: 'separate', adapters: all.slice(0, 1), what: '1 Classifier', reps: 1 },
  { id: 'separate-10', kind: 'separate', adapters: all.slice(0, 10), what: '10 separate Classifiers', reps: 1 },
];
const only = opt.only?.split(',');
const results = [];
for (const config of CONFIGS.filter((c) => !only || only.includes(c.id))) {
  const c = { ...common, ...config };
  const load = loadavg()[0];
  console.error(`multi-adapter: ${c.id} (${c.what}); load average ${load.toFixed(2)}`);
  const child = spawnSync(process.execPath, [join(HERE, 'run.mjs'), '--child', JSON.stringify(c)], {
    encoding: 'utf8',
    env: { ...process.env, OMP_NUM_THREADS: String(c.threads), OPENBLAS_NUM_THREADS: String(c.threads) },
    maxBuffer: 1 << 26,
  });
  if (child.status !== 0) throw new Error(`${c.id} failed:\n${child.stderr}`);
  results.push({ id: c.id, what: c.what, loadAverageBefore: load, ...JSON.parse(child.stdout.trim().split('\n').pop()) });
}

// --- the table ---
const byId = Object.fromEntries(results.map((r) => [r.id, r]));
const mb = (bytes) => (bytes / 2 ** 20).toFixed(0);
const textsPerS = (r) => (r.texts * r.adapters) / r.seconds;
const lines = [];
const cpu = cpus()[0]?.model ?? 'unknown CPU';
lines.push('# benchmarks/multi-adapter — one DistilBERT-base, many LoRA adapters, CPU', '');
lines.push(`- Date: ${new Date().toISOString().slice(0, 10)}; CPU: ${cpu}, ${cpus().length} logical CPUs; threads ${common.threads}; precision ${opt.precision} → ${results[0]?.precision}`);
lines.push(`- Base: random DistilBERT-base-shaped checkpoint (${relative(REPO_ROOT, MODEL_DIR)}); adapters: random PEFT LoRA, r 8, targets ${targets.join(', ')}, own 2-label head`);
lines.push(`- Work: predict() on ${common.texts} texts of ${common.words} random words (batch 32), ${common.reps} timed calls after one warm-up (median); each configuration in a fresh process`);
lines.push('- "adapter-texts/s" = texts × adapters / second: every text classified by every adapter.');
lines.push('- The machine is shared with other jobs (load average before each run in the last column): ratios are indicative, not exact.', '');
lines.push('| configuration | adapters | layers run once | load (s) | s per predict | adapter-texts/s | vs 16 separate | RSS after load (MiB) | RSS after predicts (MiB) | peak RSS (MiB) | load avg |');
lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const r of results) {
  const ref = r.id.endsWith('-late') ? byId['separate-16-late'] : byId['separate-16'];
  const ratio = ref && r.kind === 'multi' && r.adapters === 16 ? `${(textsPerS(r) / textsPerS(ref)).toFixed(2)}x` : r === ref ? '1.00x' : '';
  lines.push(
    `| ${r.what} | ${r.adapters} | ${r.sharedLayers ?? '—'} | ${r.loadS.toFixed(1)} | ${r.seconds.toFixed(2)} | ${textsPerS(r).toFixed(1)} | ${ratio} | ${mb(r.rssAfterLoad)} | ${mb(r.rss)} | ${mb(r.maxRss)} | ${r.loadAverageBefore.toFixed(2)} |`,
  );
}
const m1 = byId['multi-1'], m10 = byId['multi-10'], s1 = byId['separate-1'], s10 = byId['separate-10'];
if (m1 && m10) {
  lines.push('', `Memory, 1 vs 10 adapters on one base: RSS after load ${mb(m1.rssAfterLoad)} → ${mb(m10.rssAfterLoad)} MiB (+${mb(m10.rssAfterLoad - m1.rssAfterLoad)} MiB for 9 adapters)` +
    (s1 && s10 ? `; separate Classifiers: ${mb(s1.rssAfterLoad)} → ${mb(s10.rssAfterLoad)} MiB (+${mb(s10.rssAfterLoad - s1.rssAfterLoad)} MiB).` : '.'));
}
const table = lines.join('\n');
console.log(table);
const out = opt.out ?? join(RESULTS_DIR, `multi-adapter-${new Date().toISOString().slice(0, 10)}.md`);
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${table}\n\n<details><summary>Raw results (JSON)</summary>\n\n\`\`\`json\n${JSON.stringify(results, null, 1)}\n\`\`\`\n</details>\n`);
console.error(`multi-adapter: wrote ${relative(process.cwd(), out)}`);
