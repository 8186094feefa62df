// Soak: does memory stay flat in a long-lived process? Two loops, RSS after each round
// (after a V8 GC when run with --expose-gc):
//   predict  — one Classifier, rounds of 100 predict() calls of 32 texts;
//   lifecycle — rounds of 5 × (Trainer: train 1 epoch + evaluate, dispose; Classifier: load, predict, dispose).
// node --expose-gc benchmarks/soak/run.mjs [--rounds N]   (after npm run build:ts)
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const ROOT = join(import.meta.dirname, '..', '..');
const L = await import(pathToFileURL(join(ROOT, 'dist', 'index.js')).href);
const { values: flags } = parseArgs({ options: { rounds: { type: 'string', default: '12' } } });
const rounds = Number(flags.rounds);
const mib = () => {
  globalThis.gc?.();
  return process.memoryUsage().rss / 2 ** 20;
};

const predictRss = [];
{
  const clf = await L.Classifier.load(join(ROOT, 'test', 'fixtures', 'real-vocab', 'checkpoint'), { device: 'cpu' });
  const texts = Array.from({ length: 32 }, (_, i) => `message ${i} about a refund and a parcel that never arrived ${'and again '.repeat(i % 8)}`);
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < 100; i++) await clf.predict(texts);
    predictRss.push(mib());
  }
  clf.dispose();
}

const lifecycleRss = [];
{
  const tiny = join(ROOT, 'test', 'fixtures', 'tiny', 'checkpoint');
  const examples = Array.from({ length: 64 }, (_, i) => ({ text: `the movie was ${i % 2 ? 'good' : 'bad'} , it is ${i % 2 ? 'good' : 'bad'}`, label: i % 2 ? 'pos' : 'neg' }));
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < 5; i++) {
      const trainer = new L.Trainer({ model: tiny, epochs: 1, batchSize: 16, device: 'cpu', precision: 'fp32', threads: 2 });
      await trainer.train(examples, { evalExamples: examples.slice(0, 16) });
      trainer.dispose();
      const clf = await L.Classifier.load(tiny, { device: 'cpu', precision: 'fp32' });
      await clf.predict(['a text']);
      clf.dispose();
    }
    lifecycleRss.push(mib());
  }
}

const growth = (series) => {
  const half = Math.floor(series.length / 2);
  return ((series.at(-1) - series[half]) / (series.length - 1 - half)).toFixed(3);
};
console.log(`| loop | round 1 RSS (MiB) | middle | last | growth per round, second half (MiB) |`);
console.log(`|---|---:|---:|---:|---:|`);
for (const [name, s] of [['predict (100 × 32 texts per round)', predictRss], ['lifecycle (5 × train + load + predict per round)', lifecycleRss]])
  console.log(`| ${name} | ${s[0].toFixed(1)} | ${s[Math.floor(s.length / 2)].toFixed(1)} | ${s.at(-1).toFixed(1)} | ${growth(s)} |`);
console.log(`\nrounds: ${rounds}; gc between rounds: ${typeof globalThis.gc === 'function'}; node ${process.version}`);
