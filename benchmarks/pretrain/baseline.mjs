// The context-free baseline for the shipped model's held-out masked-token accuracy:
// always guessing the training corpus's most frequent token. `chance` (1 / vocabulary)
// in pretrain-<date>.json is far too easy a bar; this one is what a model that ignores
// context gets. `node benchmarks/pretrain/baseline.mjs` (after `npm run build:ts`);
// writes benchmarks/results/pretrain-baseline-<date>.json.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { ensureWordnet, split, wordnetDocuments } from './wordnet-corpus.mjs';

const ROOT = join(import.meta.dirname, '..', '..');
const { TextTokenizer, bundledModelPath } = await import(pathToFileURL(join(ROOT, 'dist', 'index.js')).href);
const config = JSON.parse(readFileSync(join(import.meta.dirname, 'config.json'), 'utf8'));

ensureWordnet();
const { train, held } = split(wordnetDocuments(), config.training.heldOutShare);
const tokenizer = await TextTokenizer.fromDirectory(bundledModelPath);
const vocabulary = tokenizer.vocabulary();

// Masking picks uniformly among a text's tokens (specials excluded), so a token's share of
// all held-out tokens is the accuracy of always guessing it. Texts are cut to maxLength as in training.
const counts = (docs) => {
  const n = new Map();
  let total = 0;
  for (const d of docs) {
    for (const id of tokenizer.segmentIds(d.text).slice(0, config.training.maxLength - 2)) {
      n.set(id, (n.get(id) ?? 0) + 1);
      total++;
    }
  }
  return { n, total };
};
const trainCounts = counts(train);
const heldCounts = counts(held);
const [topId] = [...trainCounts.n.entries()].reduce((best, e) => (e[1] > best[1] ? e : best));
const [heldTopId, heldTop] = [...heldCounts.n.entries()].reduce((best, e) => (e[1] > best[1] ? e : best));
const pretrain = JSON.parse(readFileSync(join(ROOT, 'benchmarks', 'results', 'pretrain-2026-11-26.json'), 'utf8'));

const summary = {
  date: new Date().toISOString(),
  command: 'node benchmarks/pretrain/baseline.mjs',
  heldOutTokens: heldCounts.total,
  mostFrequentTrainingToken: { token: vocabulary[topId], id: topId, heldOutAccuracy: +((heldCounts.n.get(topId) ?? 0) / heldCounts.total).toFixed(4) },
  bestContextFreeGuess: { token: vocabulary[heldTopId], id: heldTopId, heldOutAccuracy: +(heldTop / heldCounts.total).toFixed(4), note: 'the held-out set\'s own most frequent token: an upper bound for any single guess' },
  chance: 1 / 30522,
  shippedModel: { heldOutMaskedAccuracy: +pretrain.finalHeldOut.accuracy.toFixed(4), heldOutMaskedLoss: +pretrain.finalHeldOut.loss.toFixed(4), from: 'benchmarks/results/pretrain-2026-11-26.json' },
};
mkdirSync(join(ROOT, 'benchmarks', 'results'), { recursive: true });
const file = join(ROOT, 'benchmarks', 'results', `pretrain-baseline-${summary.date.slice(0, 10)}.json`);
writeFileSync(file, JSON.stringify(summary, null, 2) + '\n');
console.log(JSON.stringify(summary, null, 2));
