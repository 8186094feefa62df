// Is the bundled model worth shipping? The demo's LoRA fine-tuning (examples/
// risk-messages, 3 classes) from the bundled pretrained weights, against the same
// fine-tuning of the same architecture with random weights (transformers' init),
// on training sets of several sizes (stratified samples of risk-messages.csv) and
// several seeds. Trained without looking at the held-out file (no evaluation during
// training, the last weights are kept), then scored on risk-messages.eval.csv.
// Usage: node benchmarks/pretrain/compare.mjs [--model DIR] [--seeds 3] [--sizes 24,48,96,480] [--out FILE]
import { mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = join(import.meta.dirname, '..', '..');
const lib = await import(pathToFileURL(join(ROOT, 'dist', 'index.js')).href);
const { initMaskedLm } = await import(pathToFileURL(join(ROOT, 'dist', 'mlm', 'init.js')).href);
const { DEMO_TRAINING } = await import(pathToFileURL(join(ROOT, 'dist', 'cli', 'demo.js')).href);
const { Classifier, Trainer, loadExamples, bundledModelPath, classificationReport } = lib;

const { values: flags } = parseArgs({
  options: { model: { type: 'string' }, seeds: { type: 'string', default: '3' }, sizes: { type: 'string', default: '24,48,96,480' }, out: { type: 'string' } },
});
const pretrained = flags.model ?? bundledModelPath;
const examples = join(ROOT, 'examples');
const all = await loadExamples(join(examples, 'risk-messages.csv'));
const held = await loadExamples(join(examples, 'risk-messages.eval.csv'), { task: 'multi-class' });
const labels = [...new Set(all.map((e) => e.label))].sort();
const runtime = { device: 'cpu', threads: cpus().length, precision: 'fp32' };

/** n examples, the same share of each label as the full file, drawn with a seeded shuffle. */
function sample(n, seed) {
  let s = seed >>> 0;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
  const shuffled = all.map((e) => [rand(), e]).sort((a, b) => a[0] - b[0]).map(([, e]) => e);
  const out = [];
  for (const label of labels) {
    const of = shuffled.filter((e) => e.label === label);
    out.push(...of.slice(0, Math.max(1, Math.round((n * of.length) / all.length))));
  }
  return out;
}

async function run(model, train, seed) {
  const trainer = new Trainer({ model, ...DEMO_TRAINING, lora: { ...DEMO_TRAINING.lora }, labels, task: 'multi-class', seed, ...runtime });
  await trainer.train(train);
  const adapter = mkdtempSync(join(tmpdir(), 'lora-node-compare-'));
  await trainer.save(adapter);
  trainer.dispose();
  const clf = await Classifier.load(model, { ...runtime, adapter });
  const predictions = await clf.predict(held.map((e) => e.text));
  clf.dispose();
  const truth = Int32Array.from(held, (e) => labels.indexOf(e.label));
  const predicted = Int32Array.from(predictions, (p) => labels.indexOf(p.label));
  const report = classificationReport(truth, predicted, labels);
  return { accuracy: report.accuracy, f1Macro: report.macro.f1 };
}

const rows = [];
for (let seed = 1; seed <= Number(flags.seeds); seed++) {
  const random = mkdtempSync(join(tmpdir(), 'lora-node-random-init-'));
  await initMaskedLm(pretrained, random, seed);
  for (const size of flags.sizes.split(',').map(Number)) {
    const train = sample(size, seed);
    const a = await run(pretrained, train, seed);
    const b = await run(random, train, seed);
    rows.push({ seed, trainSize: train.length, pretrained: a, randomInit: b });
    console.log(`seed ${seed}, ${train.length} training examples: pretrained accuracy ${a.accuracy.toFixed(3)} f1_macro ${a.f1Macro.toFixed(3)} | random init accuracy ${b.accuracy.toFixed(3)} f1_macro ${b.f1Macro.toFixed(3)}`);
  }
}
const bySize = {};
for (const r of rows) (bySize[r.trainSize] ??= []).push(r);
const mean = (list, arm, metric) => +(list.reduce((s, r) => s + r[arm][metric], 0) / list.length).toFixed(4);
const table = Object.entries(bySize).map(([size, list]) => ({
  trainSize: Number(size),
  pretrained: { accuracy: mean(list, 'pretrained', 'accuracy'), f1Macro: mean(list, 'pretrained', 'f1Macro') },
  randomInit: { accuracy: mean(list, 'randomInit', 'accuracy'), f1Macro: mean(list, 'randomInit', 'f1Macro') },
}));
console.log('\ntrain size | pretrained acc / F1 | random init acc / F1');
for (const t of table) console.log(`${String(t.trainSize).padStart(10)} | ${t.pretrained.accuracy.toFixed(3)} / ${t.pretrained.f1Macro.toFixed(3)} | ${t.randomInit.accuracy.toFixed(3)} / ${t.randomInit.f1Macro.toFixed(3)}`);
const summary = {
  date: new Date().toISOString(),
  command: `node benchmarks/pretrain/compare.mjs --seeds ${flags.seeds} --sizes ${flags.sizes}`,
  pretrained,
  training: DEMO_TRAINING,
  data: { train: 'stratified samples of examples/risk-messages.csv', heldOut: held.length, classes: labels, chance: 1 / labels.length },
  table,
  rows,
};
if (flags.out) writeFileSync(flags.out, JSON.stringify(summary, null, 2) + '\n');
