#!/usr/bin/env node
// The pretraining text of the bundled tiny DistilBERT: the glosses of WordNet 3.0
// (Debian package `wordnet-base`, WordNet 3.0 licence: free use, copy, modify and
// distribute with the copyright notice; see /usr/share/doc/wordnet-base/copyright).
// Each synset's gloss (definitions and example sentences) becomes one line; every
// 50th line goes to the held-out file, so the split is fixed and reproducible.
//
//   node scripts/pretrain/corpus.mjs --out DIR     -> DIR/train.txt, DIR/heldout.txt
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { aptInstall, whyNoApt } from '../lib/apt.mjs';

const WORDNET = '/usr/share/wordnet';
const PARTS = ['data.noun', 'data.verb', 'data.adj', 'data.adv'];
const HELD_OUT_EVERY = 50;

/** One gloss per synset line: the text after "| " (WordNet's data file format, wndb(5WN)). */
export function glossesOf(dataFileText) {
  const out = [];
  for (const line of dataFileText.split('\n')) {
    if (line.startsWith('  ') || !line.includes(' | ')) continue; // the licence header lines start with two spaces
    const gloss = line.slice(line.indexOf(' | ') + 3).trim();
    if (gloss) out.push(gloss);
  }
  return out;
}

function ensureWordnet() {
  if (PARTS.every((p) => existsSync(join(WORDNET, p)))) return;
  const osRelease = existsSync('/etc/os-release') ? readFileSync('/etc/os-release', 'utf8') : '';
  const why = whyNoApt({ osRelease, uid: process.getuid?.() ?? -1, env: process.env });
  if (why) throw new Error(`${WORDNET} is missing and apt-get cannot run here (${why}): install the Debian package wordnet-base`);
  if (aptInstall(['wordnet-base'], (m) => console.error(m)) !== 0) throw new Error('apt-get install wordnet-base failed');
}

function main() {
  const { values } = parseArgs({ options: { out: { type: 'string', default: 'corpus' } } });
  ensureWordnet();
  const glosses = PARTS.flatMap((p) => glossesOf(readFileSync(join(WORDNET, p), 'utf8')));
  const train = glosses.filter((_, i) => i % HELD_OUT_EVERY !== HELD_OUT_EVERY - 1);
  const heldout = glosses.filter((_, i) => i % HELD_OUT_EVERY === HELD_OUT_EVERY - 1);
  mkdirSync(values.out, { recursive: true });
  writeFileSync(join(values.out, 'train.txt'), train.join('\n') + '\n');
  writeFileSync(join(values.out, 'heldout.txt'), heldout.join('\n') + '\n');
  const words = (lines) => lines.reduce((n, l) => n + l.split(/\s+/).length, 0);
  console.log(`${values.out}: ${train.length} train glosses (${words(train)} words), ${heldout.length} held out (${words(heldout)} words)`);
}

if (import.meta.url === `file://${process.argv[1]}`) main();
