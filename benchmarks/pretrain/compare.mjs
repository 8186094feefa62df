// Is the bundled model worth shipping? The demo's LoRA fine-tuning (examples/
// risk-messages, 3 classes) from the bundled pretrained weights, against the same
// fine-tuning of the same architecture with random weights (transformers' init),
// over several seeds; held-out accuracy and macro F1 on risk-messages.eval.csv.
// Usage: node benchmarks/pretrain/compare.mjs [--model DIR] [--seeds 3]
import { mkdtempSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = join(import.meta.dirname, '..', '..');
const lib = await import(pathToFileURL(join(ROOT, 'dist', 'index.js')).href);
const { initMaskedLm } = await import(pathToFileURL(join(ROOT, 'dist', 'mlm', 'init.js')).href);
const { DEMO_TRAINING } = await import(pathToFileURL(join(ROOT, 'dist', 'cli', 'demo.js')).href);
const { Trainer, loadExamples, bundledModelPath } = lib;

const { values: flags } = parseArgs({ options: { model: { type: 'string' }, seeds: { type: 'string', default: '3' }, out: { type: 'string' } } });
const pretrained = flags.model ?? bundledModelPath;
const examples = join(ROOT, 'examples');
const train = await loadExamples(join(examples, 'risk-messages.csv'));
const held = await loadExamples(join(examples, 'risk-messages.eval.csv'), { task: 'multi-class' });

async function run(model, seed) {
  const trainer = new Trainer({ model, ...DEMO_TRAINING, seed, device: 'cpu', threads: cpus().length, precision: 'fp32' });
  const r = await trainer.train(train, { evalExamples: held });
  trainer.dispose();
  return { accuracy: r.finalEvaluation.accuracy, f1Macro: r.finalEvaluation.macro.f1 };
}

const rows = [];
for (let seed = 1; seed <= Number(flags.seeds); seed++) {
  const random = mkdtempSync(join(tmpdir(), 'lora-node-random-init-'));
  await initMaskedLm(pretrained, random, seed);
  const a = await run(pretrained, seed);
  const b = await run(random, seed);
  rows.push({ seed, pretrained: a, randomInit: b });
  console.log(`seed ${seed}: pretrained accuracy ${a.accuracy.toFixed(3)} f1_macro ${a.f1Macro.toFixed(3)} | random init accuracy ${b.accuracy.toFixed(3)} f1_macro ${b.f1Macro.toFixed(3)}`);
}
const mean = (k, m) => rows.reduce((s, r) => s + r[k][m], 0) / rows.length;
const summary = {
  date: new Date().toISOString(),
  command: 'node benchmarks/pretrain/compare.mjs',
  pretrained,
  training: DEMO_TRAINING,
  data: { train: train.length, heldOut: held.length, classes: 3, chance: 1 / 3 },
  rows,
  mean: {
    pretrained: { accuracy: mean('pretrained', 'accuracy'), f1Macro: mean('pretrained', 'f1Macro') },
    randomInit: { accuracy: mean('randomInit', 'accuracy'), f1Macro: mean('randomInit', 'f1Macro') },
  },
};
console.log(JSON.stringify(summary.mean));
if (flags.out) (await import('node:fs')).writeFileSync(flags.out, JSON.stringify(summary, null, 2) + '\n');
