// Text -> token ids for BERT-family checkpoints, matching HF `tokenizers` (Rust) id for id.
// One engine (@huggingface/tokenizers) runs both tokenizer.json and the vocab.txt fallback;
// we add what it lacks: truncation, padding into flat buffers, and a Rust-exact BertNormalizer.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { LoraNodeError, FormatError, expected } from './errors.js';

export interface TokenizerOptions {
  /** Longest sequence, special tokens included. Default: model_max_length capped at 512. */
  maxLength?: number;
}

export interface EncodeBatchOptions extends TokenizerOptions {
  /** Second segments, one per text (`[CLS] text [SEP] pair [SEP]`). */
  pairs?: string[];
}

export interface TextEncoding {
  ids: number[];
  tokens: string[];
  typeIds: number[];
}

/** Row-major [batchSize, seqLen] buffers, right-padded with the pad token. */
export interface EncodedBatch {
  inputIds: Int32Array;
  attentionMask: Int32Array;
  batchSize: number;
  seqLen: number;
  /** From encodeBatch: per row, whether its text (or pair) was cut to fit maxLength. */
  truncated?: boolean[];
}

/** The tokenizer_config.json fields we read; the rest is passed through to the engine. */
export interface TokenizerConfig {
  do_lower_case?: boolean;
  strip_accents?: boolean | null;
  tokenize_chinese_chars?: boolean;
  model_max_length?: number;
  [key: string]: unknown;
}

const DEFAULT_MAX_LENGTH = 512;

/**
 * The part of the engine's Tokenizer we use. Its bundled .d.ts files import each other without
 * file extensions, which NodeNext cannot resolve, so the package types as `any`: we type it here.
 */
interface Engine {
  normalizer: ((text: string) => string) | null;
  post_processor: ((a: string[], b: string[] | null, addSpecialTokens: boolean) => ProcessedTokens) | null;
  model: { unk_token_id?: number } | null;
  tokenize(text: string, options: { add_special_tokens: boolean }): string[];
  token_to_id(token: string): number | undefined;
  get_vocab(withAddedTokens: boolean): Map<string, number>;
}
interface ProcessedTokens {
  tokens: string[];
  token_type_ids?: Array<number | undefined>;
}
const EngineTokenizer = Tokenizer as unknown as new (tokenizerJson: object, config: object) => Engine;

export class TextTokenizer {
  readonly #engine: Engine;
  readonly #unkTokenId: number;
  readonly #padTokenId: number;
  readonly #vocabSize: number;
  readonly #maxLength: number;
  /** How many special tokens the template adds to a single sequence / a pair. */
  readonly #addedSingle: number;
  readonly #addedPair: number;
  readonly #specialIds: SpecialTokenIds;

  private constructor(engine: Engine, config: TokenizerConfig, tokenizerJson: TokenizerJsonLike, options: TokenizerOptions) {
    this.#engine = engine;
    this.#unkTokenId = engine.model?.unk_token_id ?? 0;
    this.#addedSingle = this.#withSpecials([], null).ids.length;
    this.#addedPair = this.#withSpecials([], []).ids.length;
    this.#padTokenId = findPadTokenId(engine, config, tokenizerJson);
    let maxId = -1;
    for (const id of engine.get_vocab(true).values()) maxId = Math.max(maxId, id);
    this.#vocabSize = maxId + 1;
    this.#maxLength = options.maxLength ?? defaultMaxLength(config);
    this.#checkMaxLength(this.#maxLength, false);
    this.#specialIds = findSpecialIds(engine, config, tokenizerJson, this.#padTokenId, this.#unkTokenId);
  }

  /** Loads `tokenizer.json` (+ `tokenizer_config.json`), or builds the same pipeline from `vocab.txt`. */
  static async fromDirectory(dir: string, options: TokenizerOptions = {}): Promise<TextTokenizer> {
    if (typeof dir !== 'string' || dir.length === 0) throw expected('a directory path string', 'dir', dir);
    if (typeof options !== 'object' || options === null) throw expected('an options object', 'options', options);
    const config = ((await readJson(path.join(dir, 'tokenizer_config.json'))) ?? {}) as TokenizerConfig;
    let tokenizerJson = (await readJson(path.join(dir, 'tokenizer.json'))) as TokenizerJsonLike | undefined;
    if (tokenizerJson === undefined) {
      const vocabText = await readText(path.join(dir, 'vocab.txt'));
      if (vocabText === undefined) {
        throw new FormatError('ERR_TOKENIZER', `No tokenizer found in ${dir}: looked for tokenizer.json and vocab.txt`);
      }
      tokenizerJson = bertTokenizerJson(vocabText, config);
    }
    let engine: Engine;
    try {
      engine = new EngineTokenizer(tokenizerJson, config);
    } catch (error) {
      throw new FormatError('ERR_TOKENIZER', `Unsupported tokenizer in ${dir}: ${(error as Error).message}`, { cause: error });
    }
    useRustBertNormalizer(engine, tokenizerJson);
    return new TextTokenizer(engine, config, tokenizerJson, options);
  }

  /** Number of embedding rows the ids need (largest id + 1). */
  get vocabSize(): number {
    return this.#vocabSize;
  }

  get padTokenId(): number {
    return this.#padTokenId;
  }

  /** Special tokens the template adds to one text ([CLS] and [SEP]: 2). */
  get specialTokensPerText(): number {
    return this.#addedSingle;
  }

  get maxLength(): number {
    return this.#maxLength;
  }

  /** Token ids of a text without special tokens and without truncation (MLM packs them). */
  segmentIds(text: string): number[] {
    if (typeof text !== 'string') throw expected('a string', 'text', text);
    return this.#segment(text).map((t) => this.#engine.token_to_id(t) ?? this.#unkTokenId);
  }

  /** The vocabulary by id ('' where an id has no token). */
  vocabulary(): string[] {
    const tokens = new Array<string>(this.#vocabSize).fill('');
    for (const [token, id] of this.#engine.get_vocab(true)) tokens[id] = token;
    return tokens;
  }

  /** The ids of [PAD] [UNK] [CLS] [SEP] [MASK] (as tokenizer_config.json names them) and of every special added token. */
  get specialTokenIds(): SpecialTokenIds {
    return this.#specialIds;
  }

  /** One sequence (or pair) with special tokens, no truncation or padding. */
  encode(text: string, pair?: string): TextEncoding {
    if (typeof text !== 'string') throw expected('a string', 'text', text);
    if (pair !== undefined && typeof pair !== 'string') throw expected('a string or undefined', 'pair', pair);
    return this.#withSpecials(this.#segment(text), pair === undefined ? null : this.#segment(pair));
  }

  /** Truncates each text to maxLength (specials kept), right-pads to the longest row. */
  encodeBatch(texts: string[], options: EncodeBatchOptions = {}): EncodedBatch {
    checkStrings(texts, 'texts');
    if (typeof options !== 'object' || options === null) throw expected('an options object', 'options', options);
    const { pairs } = options;
    if (pairs !== undefined) {
      checkStrings(pairs, 'options.pairs');
      if (pairs.length !== texts.length) {
        throw expected(`an array of length ${texts.length} (one per text)`, 'options.pairs', pairs);
      }
    }
    const maxLength = options.maxLength ?? this.#maxLength;
    this.#checkMaxLength(maxLength, pairs !== undefined);

    const truncated: boolean[] = [];
    const rows = texts.map((text, i) => {
      const a = this.#segment(text);
      if (pairs === undefined) {
        truncated.push(a.length > maxLength - this.#addedSingle);
        return this.#withSpecials(a.slice(0, maxLength - this.#addedSingle), null).ids;
      }
      const b = this.#segment(pairs[i] as string);
      const [na, nb] = longestFirst(a.length, b.length, maxLength - this.#addedPair);
      truncated.push(na < a.length || nb < b.length);
      return this.#withSpecials(a.slice(0, na), b.slice(0, nb)).ids;
    });

    return { ...this.#padded(rows), truncated };
  }

  /**
   * Long texts as overlapping windows, each a full sequence with the specials: window k holds
   * text tokens [k·step, k·step + room) with room = maxLength − specials and step = room − overlap.
   * A text that fits is one window. Returns the windows as one padded batch and, per window,
   * the index of its text.
   */
  encodeWindows(texts: string[], options: { maxLength?: number; overlap: number }): { batch: EncodedBatch; text: number[] } {
    checkStrings(texts, 'texts');
    const maxLength = options.maxLength ?? this.#maxLength;
    this.#checkMaxLength(maxLength, false);
    const room = maxLength - this.#addedSingle;
    if (!Number.isSafeInteger(options.overlap) || options.overlap < 0 || options.overlap >= room)
      throw expected(`an integer in [0, ${room - 1}] (tokens shared by neighbouring windows of ${room} text tokens)`, 'overlap', options.overlap);
    const step = room - options.overlap;
    const rows: number[][] = [];
    const owner: number[] = [];
    texts.forEach((text, i) => {
      const tokens = this.#segment(text);
      for (let start = 0; ; start += step) {
        rows.push(this.#withSpecials(tokens.slice(start, start + room), null).ids);
        owner.push(i);
        if (start + room >= tokens.length) break;
      }
    });
    return { batch: this.#padded(rows), text: owner };
  }

  /** Rows of ids, right-padded to the longest into one batch. */
  #padded(rows: number[][]): EncodedBatch {
    const batchSize = rows.length;
    const seqLen = rows.reduce((longest, r) => Math.max(longest, r.length), 0); // no spread: rows can be a whole dataset
    const inputIds = new Int32Array(batchSize * seqLen).fill(this.#padTokenId);
    const attentionMask = new Int32Array(batchSize * seqLen);
    rows.forEach((ids, b) => {
      inputIds.set(ids, b * seqLen);
      attentionMask.fill(1, b * seqLen, b * seqLen + ids.length);
    });
    return { inputIds, attentionMask, batchSize, seqLen };
  }

  /** Tokens of one segment, before the template adds [CLS]/[SEP]. */
  #segment(text: string): string[] {
    return this.#engine.tokenize(text, { add_special_tokens: false });
  }

  /**
   * Applies the post-processor template ourselves: the engine's encode() cannot truncate
   * before the template, and it treats an empty pair "" as no pair at all.
   */
  #withSpecials(a: string[], b: string[] | null): TextEncoding {
    const processor = this.#engine.post_processor;
    const out = processor
      ? processor(a, b, true)
      : { tokens: [...a, ...(b ?? [])], token_type_ids: [...a.map(() => 0), ...(b ?? []).map(() => 1)] };
    const tokens = out.tokens;
    const ids = tokens.map((t) => this.#engine.token_to_id(t) ?? this.#unkTokenId);
    const typeIds = out.token_type_ids?.map((t) => t ?? 0) ?? tokens.map(() => 0);
    return { ids, tokens, typeIds };
  }

  #checkMaxLength(maxLength: unknown, isPair: boolean): void {
    const min = isPair ? this.#addedPair + 1 : this.#addedSingle + 1;
    if (typeof maxLength !== 'number' || !Number.isInteger(maxLength) || maxLength < min) {
      throw expected(`an integer >= ${min}`, 'maxLength', maxLength);
    }
  }
}

/**
 * Rust tokenizers' LongestFirst split of `budget` tokens between two segments
 * (tokenizers/src/utils/truncation.rs): the longer side gets the odd token, ties favour the pair.
 */
export function longestFirst(n1: number, n2: number, budget: number): [number, number] {
  if (n1 + n2 <= budget) return [n1, n2];
  let short = Math.min(n1, n2);
  let long = short > budget ? short : Math.max(short, budget - short);
  if (short + long > budget) {
    short = Math.floor(budget / 2);
    long = short + (budget % 2);
  }
  return n1 > n2 ? [long, short] : [short, long];
}

// ---- vocab.txt fallback: the tokenizer.json that HF's BertConverter would save --------------

interface TokenizerJsonLike {
  added_tokens?: Array<{ id: number; content: string }>;
  padding?: { pad_id?: number } | null;
  model: { vocab?: unknown; [key: string]: unknown };
  [key: string]: unknown;
}

/** Builds the tokenizer.json object of a BERT WordPiece tokenizer from vocab.txt text. */
export function bertTokenizerJson(vocabText: string, config: TokenizerConfig = {}): TokenizerJsonLike {
  // As transformers' load_vocab reads it: universal newlines, line i is id i, a repeat keeps the last id.
  const lines = vocabText.split(/\r\n|\r|\n/);
  if (lines.at(-1) === '') lines.pop(); // the final newline ends the last token, it is not one
  const vocab: Record<string, number> = Object.create(null) as Record<string, number>; // tokens may be "__proto__"
  lines.forEach((line, id) => {
    vocab[line] = id;
  });
  const special = (key: string, fallback: string): string => tokenContent(config[key]) ?? fallback;
  const [unk, sep, pad, cls, mask] = [
    special('unk_token', '[UNK]'),
    special('sep_token', '[SEP]'),
    special('pad_token', '[PAD]'),
    special('cls_token', '[CLS]'),
    special('mask_token', '[MASK]'),
  ];
  for (const token of [unk, sep, pad, cls]) {
    if (!(token in vocab)) throw new FormatError('ERR_TOKENIZER', `vocab.txt has no special token ${token}`);
  }
  const addedTokens = [pad, unk, cls, sep, mask]
    .filter((token) => token in vocab)
    .map((token) => ({
      id: vocab[token] as number,
      content: token,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    }))
    .sort((x, y) => x.id - y.id);
  const specialToken = (token: string, typeId: number) => ({ SpecialToken: { id: token, type_id: typeId } });
  const sequence = (id: 'A' | 'B', typeId: number) => ({ Sequence: { id, type_id: typeId } });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    normalizer: {
      type: 'BertNormalizer',
      clean_text: true,
      handle_chinese_chars: config.tokenize_chinese_chars ?? true,
      strip_accents: config.strip_accents ?? null,
      lowercase: config.do_lower_case ?? true,
    },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [specialToken(cls, 0), sequence('A', 0), specialToken(sep, 0)],
      pair: [specialToken(cls, 0), sequence('A', 0), specialToken(sep, 0), sequence('B', 1), specialToken(sep, 1)],
      special_tokens: {
        [cls]: { id: cls, ids: [vocab[cls] as number], tokens: [cls] },
        [sep]: { id: sep, ids: [vocab[sep] as number], tokens: [sep] },
      },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: unk,
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 100,
      vocab,
    },
  };
}

// ---- BertNormalizer exactly as Rust tokenizers runs it ------------------------------------

/**
 * The JS port differs from Rust on three points, fixed here:
 * - it lowercases the whole string, so JS applies the final-sigma rule (ΟΔΟΣ -> οδος);
 *   Rust maps each char alone (-> οδοσ);
 * - it tests CJK per UTF-16 unit, so ideographs above U+FFFF (U+20000...) are not spaced;
 * - it strips accents after lowercasing; Rust strips first.
 */
export function rustBertNormalize(text: string, config: BertNormalizerConfig): string {
  const { clean_text, handle_chinese_chars, strip_accents, lowercase } = config;
  let out = '';
  for (const char of text) {
    if (clean_text) {
      if (char === '\0' || char === '\uFFFD' || isControl(char)) continue;
      if (/^\s$/u.test(char)) {
        out += ' ';
        continue;
      }
    }
    out += handle_chinese_chars && isChineseChar(char.codePointAt(0) as number) ? ` ${char} ` : char;
  }
  if (strip_accents ?? lowercase) out = out.normalize('NFD').replace(/\p{Mn}/gu, '');
  if (lowercase) out = Array.from(out, (char) => char.toLowerCase()).join('');
  return out;
}

export interface BertNormalizerConfig {
  clean_text?: boolean;
  handle_chinese_chars?: boolean;
  strip_accents?: boolean | null;
  lowercase?: boolean;
}

/**
 * Rust `is_control`: unicode_categories' is_other (Cc, Cf, Co), except \t \n \r.
 * Lone surrogates (Cs) cannot reach Rust at all; dropping them is the nearest behaviour.
 */
function isControl(char: string): boolean {
  return char !== '\t' && char !== '\n' && char !== '\r' && /^[\p{Cc}\p{Cf}\p{Co}\p{Cs}]$/u.test(char);
}

/** Rust's ranges verbatim, 0x2B920 included (tokenizers/src/normalizers/bert.rs). */
function isChineseChar(cp: number): boolean {
  return (
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) ||
    (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) ||
    (cp >= 0x2b920 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0x2f800 && cp <= 0x2fa1f)
  );
}

/** Swaps the engine's top-level BertNormalizer (a public field it calls as a function). */
function useRustBertNormalizer(engine: Engine, tokenizerJson: TokenizerJsonLike): void {
  const config = tokenizerJson['normalizer'] as ({ type?: unknown } & BertNormalizerConfig) | null | undefined;
  if (config?.type === 'BertNormalizer') engine.normalizer = (text) => rustBertNormalize(text, config);
}

// ---- helpers -----------------------------------------------------------------------------

function checkStrings(value: unknown, name: string): asserts value is string[] {
  if (!Array.isArray(value)) throw expected('an array of strings', name, value);
  if (value.length === 0) throw expected('a non-empty array of strings', name, value);
  value.forEach((item, i) => {
    if (typeof item !== 'string') throw expected('a string', `${name}[${i}]`, item);
  });
}

function defaultMaxLength(config: TokenizerConfig): number {
  const m = config.model_max_length;
  // Checkpoints without a limit store a huge sentinel (1e30): cap at what BERT positions allow.
  return typeof m === 'number' && Number.isInteger(m) && m > 0 ? Math.min(m, DEFAULT_MAX_LENGTH) : DEFAULT_MAX_LENGTH;
}

/** A special token in tokenizer_config.json is a string or an AddedToken object. */
function tokenContent(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  const content = (value as { content?: unknown } | null | undefined)?.content;
  return typeof content === 'string' ? content : undefined;
}

export interface SpecialTokenIds {
  pad: number;
  unk: number;
  cls: number | undefined;
  sep: number | undefined;
  mask: number | undefined;
  /** Every special id, sorted. */
  all: number[];
}

function findSpecialIds(engine: Engine, config: TokenizerConfig, json: TokenizerJsonLike, pad: number, unk: number): SpecialTokenIds {
  const id = (key: string, fallback: string): number | undefined => engine.token_to_id(tokenContent(config[key]) ?? fallback) ?? undefined;
  const ids = { pad, unk, cls: id('cls_token', '[CLS]'), sep: id('sep_token', '[SEP]'), mask: id('mask_token', '[MASK]') };
  const all = new Set<number>([pad, unk]);
  for (const v of [ids.cls, ids.sep, ids.mask]) if (v !== undefined) all.add(v);
  for (const t of json.added_tokens ?? []) if ((t as { special?: unknown }).special === true) all.add(t.id);
  return { ...ids, all: [...all].sort((a, b) => a - b) };
}

function findPadTokenId(engine: Engine, config: TokenizerConfig, tokenizerJson: TokenizerJsonLike): number {
  const pad = tokenContent(config['pad_token']);
  const id = (pad === undefined ? undefined : engine.token_to_id(pad)) ?? tokenizerJson.padding?.pad_id ?? engine.token_to_id('[PAD]');
  if (id === undefined) throw new FormatError('ERR_TOKENIZER', `The tokenizer has no pad token (looked for ${pad ?? '[PAD]'})`);
  return id;
}

async function readText(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new LoraNodeError('ERR_IO', `Cannot read ${file}: ${(error as Error).message}`, { cause: error });
  }
}

async function readJson(file: string): Promise<object | undefined> {
  const text = await readText(file);
  if (text === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not a JSON object');
    return value;
  } catch (error) {
    throw new FormatError('ERR_TOKENIZER', `Invalid JSON in ${file}: ${(error as Error).message}`, { cause: error });
  }
}
