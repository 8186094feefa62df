import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TextTokenizer, bertTokenizerJson, longestFirst, type TokenizerConfig } from '../../lib/tokenizer.js';
import { int64Tensor, readSafetensors } from '../helpers/safetensors.js';
import { caught } from '../helpers/errors.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/', import.meta.url));
const SETS = ['tiny', 'small-multilabel', 'real-vocab'] as const;
/** What the vocab.txt fallback may read: everything but tokenizer.json. */
const FALLBACK_FILES = ['vocab.txt', 'tokenizer_config.json', 'special_tokens_map.json'];

interface TokenizationCase {
  text: string;
  pair?: string;
  ids: number[];
  tokens: string[];
  type_ids: number[];
}
interface Golden {
  tokenization: TokenizationCase[];
  batches: Record<string, { texts: string[] }>;
}

const tmpDirs: string[] = [];
function tmpDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'lora-node-tokenizer-'));
  tmpDirs.push(dir);
  return dir;
}
afterAll(() => tmpDirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

/** A checkpoint's tokenizer files without tokenizer.json, in a fresh folder. */
function fallbackDir(checkpoint: string): string {
  const dir = tmpDir();
  for (const name of FALLBACK_FILES) copyFileSync(path.join(checkpoint, name), path.join(dir, name));
  return dir;
}


function caseName(c: TokenizationCase, i: number): string {
  const text = JSON.stringify(c.text).slice(0, 40);
  return `case ${i}: ${text}${c.pair === undefined ? '' : ` + ${JSON.stringify(c.pair)}`}`;
}

describe.each(SETS)('TextTokenizer on %s', (set) => {
  const dir = path.join(FIXTURES, set);
  const checkpoint = path.join(dir, 'checkpoint');
  const golden = JSON.parse(readFileSync(path.join(dir, 'golden.json'), 'utf8')) as Golden;
  const tensors = readSafetensors(path.join(dir, 'golden.safetensors'));
  let tokenizer: TextTokenizer;
  let fallback: TextTokenizer;

  beforeAll(async () => {
    tokenizer = await TextTokenizer.fromDirectory(checkpoint);
    fallback = await TextTokenizer.fromDirectory(fallbackDir(checkpoint));
  });

  golden.tokenization.forEach((c, i) => {
    it(`matches golden ${caseName(c, i)}`, () => {
      const encoding = tokenizer.encode(c.text, c.pair);
      expect(encoding).toEqual({ ids: c.ids, tokens: c.tokens, typeIds: c.type_ids });
    });
  });

  it('has the pair case and the empty first segment among the goldens', () => {
    expect(golden.tokenization.some((c) => c.pair !== undefined && c.text !== '')).toBe(true);
    expect(golden.tokenization.some((c) => c.pair !== undefined && c.text === '')).toBe(true);
  });

  it.each(['padded', 'single'])('encodeBatch equals %s.input_ids / attention_mask', (batch) => {
    const texts = golden.batches[batch]?.texts ?? [];
    const ids = int64Tensor(tensors, `${batch}.input_ids`);
    const mask = int64Tensor(tensors, `${batch}.attention_mask`);
    const encoded = tokenizer.encodeBatch(texts);
    expect([encoded.batchSize, encoded.seqLen]).toEqual(ids.shape);
    expect(Array.from(encoded.inputIds)).toEqual(ids.values);
    expect(Array.from(encoded.attentionMask)).toEqual(mask.values);
    expect(Array.from(fallback.encodeBatch(texts).inputIds)).toEqual(ids.values);
  });

  it('builds from vocab.txt the same tokenizer.json the checkpoint has', () => {
    const vocab = readFileSync(path.join(checkpoint, 'vocab.txt'), 'utf8');
    const config = JSON.parse(readFileSync(path.join(checkpoint, 'tokenizer_config.json'), 'utf8')) as TokenizerConfig;
    const saved = JSON.parse(readFileSync(path.join(checkpoint, 'tokenizer.json'), 'utf8')) as unknown;
    expect(bertTokenizerJson(vocab, config)).toEqual(saved);
  });

  it('gives the same encodings from vocab.txt on every golden case', () => {
    for (const c of golden.tokenization) {
      expect(fallback.encode(c.text, c.pair), JSON.stringify(c.text)).toEqual(tokenizer.encode(c.text, c.pair));
    }
  });

  it('reports vocab size, pad id and max length of the checkpoint', () => {
    const config = JSON.parse(readFileSync(path.join(checkpoint, 'config.json'), 'utf8')) as { vocab_size: number };
    for (const t of [tokenizer, fallback]) {
      expect(t.vocabSize).toBe(config.vocab_size);
      expect(t.padTokenId).toBe(0);
      expect(t.maxLength).toBe(512);
    }
  });
});

describe('truncation', () => {
  const checkpoint = path.join(FIXTURES, 'tiny', 'checkpoint');
  const long = 'The acting is not very good, but the story is great and the actors played it funny.';
  let tokenizer: TextTokenizer;
  beforeAll(async () => {
    tokenizer = await TextTokenizer.fromDirectory(checkpoint);
  });

  it('keeps [CLS] first and [SEP] last, cutting text tokens from the right', () => {
    const full = tokenizer.encode(long).ids;
    const { inputIds, attentionMask, seqLen } = tokenizer.encodeBatch([long, 'Boring.'], { maxLength: 8 });
    expect(seqLen).toBe(8);
    expect(Array.from(inputIds.subarray(0, 8))).toEqual([...full.slice(0, 7), full.at(-1)]);
    expect(inputIds[0]).toBe(2); // [CLS]
    expect(inputIds[7]).toBe(3); // [SEP]
    // The short row is untouched and padded.
    expect(Array.from(inputIds.subarray(8))).toEqual([...tokenizer.encode('Boring.').ids, 0, 0, 0, 0]);
    expect(Array.from(attentionMask.subarray(8))).toEqual([1, 1, 1, 1, 0, 0, 0, 0]);
  });

  it('says which rows were cut; a text that exactly fits is not', () => {
    const tokens = tokenizer.encode(long).ids.length; // with [CLS] and [SEP]
    expect(tokenizer.encodeBatch([long, 'Boring.'], { maxLength: 8 }).truncated).toEqual([true, false]);
    expect(tokenizer.encodeBatch([long], { maxLength: tokens }).truncated).toEqual([false]);
    expect(tokenizer.encodeBatch([long], { maxLength: tokens - 1 }).truncated).toEqual([true]);
    expect(tokenizer.encodeBatch(['Boring.'], { pairs: [long], maxLength: 10 }).truncated).toEqual([true]);
  });

  it('encodeWindows: overlapping windows of maxLength, each with [CLS] and [SEP]; a text that fits is one', () => {
    const text = tokenizer.encode(long).ids.slice(1, -1); // 21 text tokens
    // maxLength 10: 8 text tokens a window; overlap 3: windows start at 0, 5, 10, 15 (the last one reaches the end).
    const { batch, text: owner } = tokenizer.encodeWindows([long, 'Boring.'], { maxLength: 10, overlap: 3 });
    expect(owner).toEqual([0, 0, 0, 0, 1]);
    expect(batch.batchSize).toBe(5);
    expect(batch.seqLen).toBe(10);
    const row = (r: number) => Array.from(batch.inputIds.subarray(r * 10, (r + 1) * 10));
    for (const [r, start] of [[0, 0], [1, 5], [2, 10]] as const) expect(row(r)).toEqual([2, ...text.slice(start, start + 8), 3]);
    expect(row(3)).toEqual([2, ...text.slice(15), 3, 0, 0]); // 6 tokens left, padded
    expect(Array.from(batch.attentionMask.subarray(30, 40))).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 0, 0]);
    expect(row(4).slice(0, 4)).toEqual(tokenizer.encode('Boring.').ids);
    expect(tokenizer.specialTokensPerText).toBe(2);
    expect(() => tokenizer.encodeWindows([long], { maxLength: 10, overlap: 8 })).toThrow(/Expected an integer in \[0, 7\] .* for overlap but received number 8/);
  });

  it('uses the maxLength given at load time as the default', async () => {
    const short = await TextTokenizer.fromDirectory(checkpoint, { maxLength: 6 });
    expect(short.maxLength).toBe(6);
    const { inputIds, seqLen } = short.encodeBatch([long]);
    expect(seqLen).toBe(6);
    expect(inputIds.at(-1)).toBe(3);
  });

  it('splits a pair longest-first, as Rust tokenizers does', () => {
    const a = tokenizer.encode(long).ids.slice(1, -1); // 21 text tokens
    const b = tokenizer.encode('Boring.').ids.slice(1, -1); // 2 text tokens
    const { inputIds } = tokenizer.encodeBatch([long], { pairs: ['Boring.'], maxLength: 10 });
    // budget 10 - 3 specials = 7: the short pair keeps its 2, the long text gets 5
    expect(Array.from(inputIds)).toEqual([2, ...a.slice(0, 5), 3, ...b, 3]);
    const both = tokenizer.encodeBatch([long], { pairs: [long], maxLength: 10 });
    // both long: 7 = 3 + 4, the pair side takes the odd token
    expect(Array.from(both.inputIds)).toEqual([2, ...a.slice(0, 3), 3, ...a.slice(0, 4), 3]);
  });

  it.each([
    [10, 3, 7, [4, 3]],
    [3, 10, 7, [3, 4]],
    [10, 10, 15, [7, 8]],
    [10, 9, 15, [8, 7]],
    [9, 10, 15, [7, 8]],
    [9, 9, 4, [2, 2]],
    [20, 2, 100, [20, 2]],
    [30, 1, 5, [4, 1]],
  ])('longestFirst(%i, %i, budget %i) = %j', (n1, n2, budget, want) => {
    expect(longestFirst(n1, n2, budget)).toEqual(want);
  });
});

describe('normalization follows Rust tokenizers where the JS engine differs', () => {
  let tokenizer: TextTokenizer;
  beforeAll(async () => {
    tokenizer = await TextTokenizer.fromDirectory(path.join(FIXTURES, 'real-vocab', 'checkpoint'));
  });

  it('lowercases char by char (no final sigma)', () => {
    const tokens = tokenizer.encode('ΟΔΟΣ').tokens;
    expect(tokens).toEqual(tokenizer.encode('οδοσ').tokens);
    expect(tokens.join(' ')).not.toContain('ς');
  });

  it('spaces out CJK ideographs above U+FFFF', () => {
    expect(tokenizer.encode('a\u{20000}b').tokens).toEqual(tokenizer.encode('a \u{20000} b').tokens);
  });

  it('keeps an empty second segment', () => {
    expect(tokenizer.encode('x', '')).toEqual({ ids: [101, 1060, 102, 102], tokens: ['[CLS]', 'x', '[SEP]', '[SEP]'], typeIds: [0, 0, 0, 1] });
  });
});

describe('vocab.txt fallback', () => {
  const vocab = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'hello', '##s', '__proto__'].join('\r\n') + '\r\n';

  it('reads CRLF lines as ids and keeps odd tokens as plain keys', async () => {
    const dir = tmpDir();
    writeFileSync(path.join(dir, 'vocab.txt'), vocab);
    const tokenizer = await TextTokenizer.fromDirectory(dir);
    expect(tokenizer.vocabSize).toBe(8);
    expect(tokenizer.encode('HELLOS hello').ids).toEqual([2, 5, 6, 5, 3]);
    const built = bertTokenizerJson(vocab).model.vocab as Record<string, number>;
    expect([built['hello'], Object.hasOwn(built, '__proto__'), built['__proto__']]).toEqual([5, true, 7]);
  });

  it('follows do_lower_case: false', async () => {
    const dir = tmpDir();
    writeFileSync(path.join(dir, 'vocab.txt'), vocab);
    writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({ do_lower_case: false, model_max_length: 128 }));
    const tokenizer = await TextTokenizer.fromDirectory(dir);
    expect(tokenizer.encode('Hello hello').tokens).toEqual(['[CLS]', '[UNK]', 'hello', '[SEP]']);
    expect(tokenizer.maxLength).toBe(128);
  });
});

describe('errors', () => {
  const checkpoint = path.join(FIXTURES, 'tiny', 'checkpoint');
  let tokenizer: TextTokenizer;
  beforeAll(async () => {
    tokenizer = await TextTokenizer.fromDirectory(checkpoint);
  });

  it('names the directory and the files looked for when there is no tokenizer', async () => {
    const dir = tmpDir();
    const error = await TextTokenizer.fromDirectory(dir).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ERR_TOKENIZER', name: 'FormatError' });
    expect((error as Error).message).toBe(`No tokenizer found in ${dir}: looked for tokenizer.json and vocab.txt`);
  });

  it('rejects malformed tokenizer.json and a vocab.txt without [CLS]', async () => {
    const bad = tmpDir();
    writeFileSync(path.join(bad, 'tokenizer.json'), '{ not json');
    await expect(TextTokenizer.fromDirectory(bad)).rejects.toMatchObject({ code: 'ERR_TOKENIZER' });
    const noCls = tmpDir();
    writeFileSync(path.join(noCls, 'vocab.txt'), '[PAD]\n[UNK]\n[SEP]\nhello\n');
    await expect(TextTokenizer.fromDirectory(noCls)).rejects.toMatchObject({
      code: 'ERR_TOKENIZER',
      message: 'vocab.txt has no special token [CLS]',
    });
  });

  it('validates fromDirectory arguments', async () => {
    await expect(TextTokenizer.fromDirectory(5 as unknown as string)).rejects.toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
      message: 'Expected a directory path string for dir but received number 5',
    });
    await expect(TextTokenizer.fromDirectory(checkpoint, { maxLength: 1 })).rejects.toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
      message: 'Expected an integer >= 3 for maxLength but received number 1',
    });
  });

  it.each([
    [5, 'Expected an array of strings for texts but received number 5'],
    ['hello', 'Expected an array of strings for texts but received the string "hello"'],
    [[], 'Expected a non-empty array of strings for texts but received an array of length 0'],
    [['a', 'b', 3], 'Expected a string for texts[2] but received number 3'],
    [['a', null], 'Expected a string for texts[1] but received null'],
  ])('encodeBatch(%j) throws', (texts, message) => {
    const error = caught(() => tokenizer.encodeBatch(texts as string[]));
    expect(error).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message });
  });

  it('validates encodeBatch options and encode arguments', () => {
    expect(caught(() => tokenizer.encodeBatch(['a'], { maxLength: 2.5 }))).toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
      message: 'Expected an integer >= 3 for maxLength but received number 2.5',
    });
    expect(caught(() => tokenizer.encodeBatch(['a'], { pairs: ['b'], maxLength: 3 }))).toMatchObject({
      message: 'Expected an integer >= 4 for maxLength but received number 3',
    });
    expect(caught(() => tokenizer.encodeBatch(['a', 'b'], { pairs: ['c'] }))).toMatchObject({
      message: 'Expected an array of length 2 (one per text) for options.pairs but received an array of length 1',
    });
    expect(caught(() => tokenizer.encodeBatch(['a'], { pairs: [7 as unknown as string] }))).toMatchObject({
      message: 'Expected a string for options.pairs[0] but received number 7',
    });
    expect(caught(() => tokenizer.encode(5 as unknown as string))).toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
      message: 'Expected a string for text but received number 5',
    });
  });
});
