// Re-makes the small pretrained DistilBERT shipped in models/ with lora-node's own
// MLM training: `node benchmarks/pretrain/pretrain.mjs` (after `npm run build:all`).
// Text: WordNet 3.0 glosses from Debian's wordnet-base (installed when missing).
// Vocabulary: bert-base-uncased (test/fixtures/real-vocab/checkpoint).
// Writes models/distilbert-wordnet-mini/ (weights stored as bf16) and
// benchmarks/results/pretrain-<date>.json (config, corpus, loss curve, held-out
// masked-token accuracy). A killed run resumes from its last checkpoint when rerun.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

import { PACKAGE, WORDNET_DIR, ensureWordnet, packageVersion, split, wordnetDocuments } from './wordnet-corpus.mjs';

const ROOT = join(import.meta.dirname, '..', '..');
const { Trainer, TextTokenizer, readSafetensors, writeSafetensors } = await import(pathToFileURL(join(ROOT, 'dist', 'index.js')).href);

const { values: flags } = parseArgs({
  options: {
    out: { type: 'string', default: join(ROOT, 'models', 'distilbert-wordnet-mini') },
    work: { type: 'string', default: join(ROOT, 'benchmarks', '.work', 'pretrain') },
    // For a quick look at throughput: train on the first N documents only.
    docs: { type: 'string' },
    epochs: { type: 'string' },
  },
});
const config = JSON.parse(readFileSync(join(import.meta.dirname, 'config.json'), 'utf8'));
const t = config.training;
if (flags.epochs) t.epochs = Number(flags.epochs);
const VOCAB_DIR = join(ROOT, 'test', 'fixtures', 'real-vocab', 'checkpoint');

ensureWordnet();
const all = wordnetDocuments();
const docs = flags.docs ? all.slice(0, Number(flags.docs)) : all;
const { train, held } = split(docs, t.heldOutShare);

// The starting folder: config.json and bert-base-uncased's tokenizer (no weights: fromScratch).
const init = join(flags.work, 'init');
mkdirSync(init, { recursive: true });
writeFileSync(join(init, 'config.json'), JSON.stringify(config.model, null, 2) + '\n');
for (const file of ['vocab.txt', 'tokenizer.json', 'special_tokens_map.json']) copyFileSync(join(VOCAB_DIR, file), join(init, file));
const tokenizerConfig = JSON.parse(readFileSync(join(VOCAB_DIR, 'tokenizer_config.json'), 'utf8'));
tokenizerConfig.model_max_length = config.model.max_position_embeddings;
writeFileSync(join(init, 'tokenizer_config.json'), JSON.stringify(tokenizerConfig, null, 2) + '\n');

const tokenizer = await TextTokenizer.fromDirectory(init);
const count = (texts) => texts.reduce((n, d) => n + tokenizer.segmentIds(d.text).length, 0);
const corpus = {
  package: PACKAGE,
  version: packageVersion(),
  licence: 'WordNet 3.0 licence (permissive: use, copy, modify, distribute with the notice; /usr/share/doc/wordnet-base/copyright)',
  files: ['noun', 'verb', 'adj', 'adv'].map((p) => `${WORDNET_DIR}/data.${p}`),
  documents: { train: train.length, heldOut: held.length },
  tokens: { train: count(train), heldOut: count(held) },
};
console.log(`corpus: ${PACKAGE} ${corpus.version}, ${train.length} + ${held.length} synsets, ${corpus.tokens.train} + ${corpus.tokens.heldOut} tokens (bert-base-uncased)`);

const checkpoints = join(flags.work, 'checkpoints');
const trainer = new Trainer({
  model: init,
  task: 'mlm',
  mlm: { fromScratch: true },
  lora: false,
  epochs: t.epochs,
  batchSize: t.batchSize,
  learningRate: t.learningRate,
  weightDecay: t.weightDecay,
  warmupRatio: t.warmupRatio,
  scheduler: t.scheduler,
  maxLength: t.maxLength,
  seed: t.seed,
  precision: t.precision,
  device: 'cpu',
  threads: cpus().length,
  evaluation: { every: t.evaluateEvery, metric: 'loss' },
  checkpoints: { dir: checkpoints, every: t.checkpointEvery, keep: 1 },
});
const curve = [];
const evaluations = [];
const started = Date.now();
let window = [];
trainer.on('progress', (p) => {
  window.push(p.loss);
  if (p.step % 25 === 0 || p.step === p.totalSteps) {
    const mean = window.reduce((a, b) => a + b, 0) / window.length;
    window = [];
    curve.push({ step: p.step, epoch: +p.epoch.toFixed(3), loss: +mean.toFixed(4), learningRate: p.learningRate });
    console.log(`step ${p.step}/${p.totalSteps} loss ${mean.toFixed(3)} lr ${p.learningRate.toExponential(2)} ${p.samplesPerSecond.toFixed(1)} seq/s eta ${(p.eta / 60).toFixed(1)} min`);
  }
});
trainer.on('evaluate', (e) => {
  evaluations.push({ step: e.step, loss: +e.report.loss.toFixed(4), accuracy: +e.report.accuracy.toFixed(4), tokens: e.report.tokens });
  console.log(`held-out at step ${e.step}: masked loss ${e.report.loss.toFixed(3)}, accuracy ${e.report.accuracy.toFixed(3)} (${e.report.tokens} tokens)`);
});
const resumeFrom = existsSync(checkpoints) ? checkpoints : undefined;
if (resumeFrom) console.log(`resuming from ${checkpoints}`);
const result = await trainer.train(train, { evalExamples: held, resumeFrom });
const seconds = (Date.now() - started) / 1000;

// The shipped folder: weights stored as bf16 (round to nearest even), read back as fp32 by the loader.
rmSync(flags.out, { recursive: true, force: true });
await trainer.saveMerged(flags.out);
trainer.dispose();
const weights = join(flags.out, 'model.safetensors');
const { tensors } = await readSafetensors(weights);
const bf16 = {};
for (const [name, tensor] of Object.entries(tensors)) {
  const bits = new Uint32Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.length);
  const out = new Uint16Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = (bits[i] + 0x7fff + ((bits[i] >>> 16) & 1)) >>> 16;
  bf16[name] = { dtype: 'BF16', shape: tensor.shape, data: out };
}
await writeSafetensors(weights, bf16, { format: 'pt' });
// The WordNet licence asks for its notice on every copy, modified ones included.
copyFileSync('/usr/share/doc/wordnet-base/copyright', join(flags.out, 'WORDNET-LICENSE.txt'));
const shipped = JSON.parse(readFileSync(join(flags.out, 'config.json'), 'utf8'));
shipped.torch_dtype = 'bfloat16';
writeFileSync(join(flags.out, 'config.json'), JSON.stringify(shipped, null, 2) + '\n');

const summary = {
  date: new Date().toISOString(),
  command: 'node benchmarks/pretrain/pretrain.mjs',
  machine: { cpus: cpus().length, model: cpus()[0]?.model },
  config,
  corpus,
  steps: result.steps,
  minutes: +(seconds / 60).toFixed(1),
  finalHeldOut: result.finalEvaluation,
  chance: 1 / 30522,
  evaluations,
  lossCurve: curve,
};
mkdirSync(join(ROOT, 'benchmarks', 'results'), { recursive: true });
const file = join(ROOT, 'benchmarks', 'results', `pretrain-${summary.date.slice(0, 10)}.json`);
writeFileSync(file, JSON.stringify(summary, null, 2) + '\n');
console.log(`done in ${summary.minutes} min: held-out masked accuracy ${result.finalEvaluation.accuracy.toFixed(3)}; ${flags.out}; ${file}`);
