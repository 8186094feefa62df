// MLM training text: plain text files or { text } examples, tokenized once and
// packed into full-length sequences [CLS] ... [SEP] (documents joined by [SEP]),
// as transformers' run_mlm.py groups texts, so no batch slot is spent on padding.
import { readFile } from 'node:fs/promises';

import { FormatError, LoraNodeError, describeReceived, expected } from '../errors.js';
import type { TextTokenizer } from '../tokenizer.js';
import { nonEmptyString } from '../validate.js';

export interface TextExample {
  text: string;
}

export interface PackedText {
  ids: Int32Array;
  /** N + 1 positions into ids. */
  offsets: Int32Array;
  count: number;
  /** Text tokens (specials excluded). */
  tokens: number;
}

/** { text } examples (a label is allowed and ignored); errors name the set and index. */
export function checkTextExamples(examples: unknown, name: string): TextExample[] {
  if (!Array.isArray(examples) || examples.length === 0) throw expected('a non-empty array of { text } examples', name, examples);
  examples.forEach((e, i) => {
    const text = (e as { text?: unknown } | null)?.text;
    if (typeof text !== 'string' || text.trim().length === 0)
      throw new LoraNodeError('ERR_DATA', `${name}[${i}]: Expected a non-empty string for text but received ${describeReceived(text)}`);
  });
  return examples as TextExample[];
}

/** A plain UTF-8 text file as documents: paragraphs separated by blank lines. */
export async function loadTextFile(file: string): Promise<TextExample[]> {
  nonEmptyString(file, 'file');
  let content: string;
  try {
    content = await readFile(file, 'utf8');
  } catch (error) {
    throw new LoraNodeError('ERR_IO', `Cannot read ${file}: ${(error as Error).message}`, { cause: error });
  }
  const documents = content
    .split(/\r?\n\s*\r?\n/)
    .map((p) => p.replace(/\s+/g, ' ').trim())
    .filter((p) => p.length > 0);
  if (documents.length === 0) throw new FormatError('ERR_DATA', `${file}: no text found`);
  return documents.map((text) => ({ text }));
}

/** Sequences of at most maxLength tokens: [CLS] up to maxLength - 2 text tokens [SEP]. */
export function packTexts(tokenizer: TextTokenizer, texts: readonly TextExample[], maxLength: number): PackedText {
  const { cls, sep } = tokenizer.specialTokenIds;
  if (cls === undefined || sep === undefined) throw new FormatError('ERR_TOKENIZER', 'The tokenizer has no [CLS] or [SEP] token to frame packed sequences');
  if (maxLength < 3) throw expected('an integer >= 3', 'maxLength', maxLength);
  const stream: number[] = [];
  for (const { text } of texts) {
    if (stream.length > 0) stream.push(sep); // document boundary
    for (const id of tokenizer.segmentIds(text)) stream.push(id);
  }
  if (stream.length === 0) throw new FormatError('ERR_DATA', 'the texts hold no tokens to pack');
  const body = maxLength - 2;
  const count = Math.ceil(stream.length / body);
  const ids = new Int32Array(stream.length + 2 * count);
  const offsets = new Int32Array(count + 1);
  let at = 0;
  for (let n = 0; n < count; n++) {
    const chunk = stream.slice(n * body, (n + 1) * body);
    ids[at++] = cls;
    ids.set(chunk, at);
    at += chunk.length;
    ids[at++] = sep;
    offsets[n + 1] = at;
  }
  return { ids, offsets, count, tokens: stream.length };
}
