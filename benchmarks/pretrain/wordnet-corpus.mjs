// The pretraining text: every WordNet 3.0 synset as one short document,
// "<its words>: <its gloss>" (the gloss holds a definition and usage examples),
// read from Debian's wordnet-base (/usr/share/wordnet/data.{noun,verb,adj,adv}).
// Licence: the WordNet 3.0 licence (permissive; /usr/share/doc/wordnet-base/copyright).
import { existsSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

export const WORDNET_DIR = '/usr/share/wordnet';
export const PACKAGE = 'wordnet-base';
const PARTS = ['noun', 'verb', 'adj', 'adv'];

/** Installs wordnet-base with apt-get when it is missing (root only). */
export function ensureWordnet() {
  if (PARTS.every((p) => existsSync(`${WORDNET_DIR}/data.${p}`))) return;
  if (process.getuid?.() !== 0) throw new Error(`${WORDNET_DIR} is missing: run "apt-get install -y ${PACKAGE}" as root`);
  execFileSync('apt-get', ['install', '-y', '--no-install-recommends', PACKAGE], { stdio: 'inherit' });
}

export function packageVersion() {
  try {
    return execFileSync('dpkg-query', ['-W', '-f=${Version}', PACKAGE], { encoding: 'utf8' });
  } catch {
    return 'unknown';
  }
}

/** One { id, text } per synset, in file order. */
export function wordnetDocuments() {
  const docs = [];
  for (const part of PARTS) {
    for (const line of readFileSync(`${WORDNET_DIR}/data.${part}`, 'utf8').split('\n')) {
      if (line === '' || line.startsWith('  ')) continue; // the licence header lines start with two spaces
      const bar = line.indexOf(' | ');
      if (bar < 0) continue;
      const fields = line.slice(0, bar).split(' ');
      const count = parseInt(fields[3], 16);
      const words = [];
      for (let i = 0; i < count; i++) words.push(fields[4 + 2 * i].replace(/\(.*\)$/, '').replace(/_/g, ' '));
      const gloss = line.slice(bar + 3).trim();
      docs.push({ id: `${part}:${fields[0]}`, text: `${[...new Set(words)].join(', ')}: ${gloss}` });
    }
  }
  return docs;
}

/** A deterministic split: about `share` of the documents held out, chosen by a hash of their id. */
export function split(docs, share) {
  const held = [];
  const train = [];
  for (const d of docs) {
    let h = 2166136261;
    for (let i = 0; i < d.id.length; i++) h = Math.imul(h ^ d.id.charCodeAt(i), 16777619) >>> 0;
    (h / 2 ** 32 < share ? held : train).push({ text: d.text });
  }
  return { train, held };
}
