// `lora-node demo`: the whole job in one command. Fine-tunes a LoRA adapter on
// the synthetic risk-messages dataset in examples/, evaluates it on the held-out
// file, shows a few predictions and saves the adapter. Without --model the base is
// the small pretrained DistilBERT bundled in models/ (bundledModelPath); where that
// folder is missing (a checkout before it was made), one initialised here with random
// weights, and the output says so.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { BUNDLED_MODEL_NAME, bundledModelPath } from '../bundled-model.js';
import { Classifier } from '../classifier.js';
import { labelSpace, loadExamples } from '../data/examples.js';
import { AbortError } from '../errors.js';
import { initModel } from '../init-model.js';
import { packageRoot } from '../native/package-root.js';
import type { TrainerOptions } from '../trainer/options.js';
import { Trainer } from '../trainer/trainer.js';
import { runtimeOptions } from './args.js';
import { prefetchSources } from './download.js';
import { createReporter, progressMode } from './progress.js';
import { INTERRUPTED_EXIT, interruptedMessage, trainWithProgress } from './run-training.js';
import { printResult } from './train.js';

const OPTIONS = {
  model: { type: 'string' },
  out: { type: 'string' },
  fresh: { type: 'boolean' },
  device: { type: 'string' },
  precision: { type: 'string' },
  threads: { type: 'string' },
} as const;

export const DEMO_OUT = './lora-node-demo-adapter';
const TRAIN_FILE = 'risk-messages.csv';
const EVAL_FILE = 'risk-messages.eval.csv';
const SEED = 42;
/** The freshly initialised base: small enough to train in seconds on 2 cores. */
const FRESH = { dim: 64, layers: 2, heads: 4, hidden: 256 };
/** The demo's fine-tuning of a pretrained base (the bundled one included); benchmarks/pretrain/compare.mjs reuses it. */
export const DEMO_TRAINING = {
  epochs: 5,
  batchSize: 16,
  learningRate: 2e-3,
  maxLength: 64,
  lora: { r: 8, alpha: 16, targetModules: 'all-linear' },
} as const satisfies Partial<TrainerOptions>;

export async function runDemo(args: string[]): Promise<number> {
  const { values: flags } = parseArgs({ args, options: OPTIONS });
  const out = flags.out || DEMO_OUT;
  const runtime = runtimeOptions(flags);
  const started = performance.now();

  const examplesDir = join(packageRoot(), 'examples');
  const train = await loadExamples(join(examplesDir, TRAIN_FILE));
  const held = await loadExamples(join(examplesDir, EVAL_FILE), { task: 'multi-class' });
  const labels = labelSpace(train, 'multi-class');
  console.log('lora-node demo: a risk classifier for support-inbox messages (labels: ' + labels.join(', ') + ')');
  console.log(`data: ${train.length} training and ${held.length} held-out messages from ${examplesDir}`);
  console.log('      (synthetic: written by a template script in examples/, see examples/README.md)');

  let model = flags.model;
  const bundled = model === undefined && !flags.fresh && existsSync(join(bundledModelPath, 'model.safetensors'));
  if (bundled) {
    model = bundledModelPath;
    console.log(`base model: ${BUNDLED_MODEL_NAME}, the small DistilBERT bundled with lora-node (${bundledModelPath}),`);
    console.log('  pretrained with lora-node\'s own masked-language-model training on WordNet glosses (see models/README.md)');
  } else if (model === undefined) {
    model = join(out, 'base-model');
    const base = await initModel(model, { texts: train.map((e) => e.text), labels, seed: SEED, ...FRESH });
    console.log(
      `base model: a small DistilBERT (${FRESH.layers} layers, dim ${FRESH.dim}, ${FRESH.heads} heads, ` +
        `${(base.parameters / 1000).toFixed(0)}k parameters, ${base.vocabSize}-token vocabulary from the training texts), written to ${model}`,
    );
    console.log('  NOTE: this base is UNTRAINED (random weights). The numbers below show that the machinery works');
    console.log('  (tokenizer, LoRA training, evaluation, adapter files); they say nothing about a real model.');
    console.log('  For a useful classifier pass --model DIR with a pretrained DistilBERT (e.g. distilbert-base-uncased).');
  } else {
    console.log(`base model: ${model}`);
    await prefetchSources({ model });
  }

  // A random base needs a large learning rate; a big pretrained one (--model) a gentler one.
  const fresh = !bundled && flags.model === undefined;
  const options: TrainerOptions = {
    model,
    ...runtime,
    ...DEMO_TRAINING,
    lora: { ...DEMO_TRAINING.lora },
    ...(flags.model ? { epochs: 3, learningRate: 5e-4 } : fresh ? { learningRate: 3e-3 } : {}),
    seed: SEED,
  };
  console.log(`training: LoRA r=8 alpha=16 on all linear layers, ${options.epochs} epochs, batch 16, learning rate ${options.learningRate}\n`);

  using trainer = new Trainer(options);
  const trainStarted = performance.now();
  let result;
  try {
    result = await trainWithProgress(trainer, train, { evalExamples: held }, createReporter(progressMode(false)));
  } catch (error) {
    if (!(error instanceof AbortError)) throw error;
    console.error(interruptedMessage(error, undefined));
    return INTERRUPTED_EXIT;
  }
  printResult(result, (performance.now() - trainStarted) / 1000);
  await trainer.save(out);

  // The saved adapter, loaded back as an application would, on the held-out messages.
  using classifier = await Classifier.load(model, { ...runtime, adapter: out });
  const predictions = await classifier.predict(held.map((e) => e.text));
  const rows = held.map((e, i) => ({ example: e, prediction: predictions[i]! }));
  const wrong = rows.filter((r) => r.prediction.label !== r.example.label);
  console.log(`\nthe saved adapter, loaded back: ${held.length - wrong.length} of ${held.length} held-out messages right`);
  const shown = [...labels.flatMap((label) => rows.filter((r) => r.example.label === label && !wrong.includes(r)).slice(0, 2)), ...wrong.slice(0, 3)];
  console.log('true label -> predicted (probability)  message');
  for (const { example, prediction } of shown) {
    const mark = prediction.label === example.label ? ' ' : '✗';
    const text = example.text.length > 72 ? example.text.slice(0, 69) + '...' : example.text;
    console.log(`${mark} ${String(example.label).padEnd(9)} -> ${prediction.label.padEnd(9)} ${prediction.score.toFixed(3)}  ${text}`);
  }

  console.log(`\nadapter saved to ${out} (adapter_config.json, adapter_model.safetensors, lora-node.json)`);
  console.log(`try it: npx lora-node predict --model ${model} --adapter ${out} "Your account is locked, confirm your password at secure-check.net"`);
  console.log(`done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return 0;
}
