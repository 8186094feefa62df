// A fresh, untrained DistilBERT sequence-classification checkpoint, written as
// transformers would save one: config.json, model.safetensors (HF names, weights
// initialised as DistilBertPreTrainedModel._init_weights does) and a WordPiece
// vocab.txt built from the caller's texts. Its weights are random: it exercises
// the machinery (tokenizer, training, adapters) without a download.
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';

import { ArgumentError, expected } from './errors.js';
import { problemTypeOf, pythonJson } from './hf-config.js';
import { writeAtomic } from './lora/save.js';
import type { StoredTensor } from './native/types.js';
import { writeSafetensors } from './safetensors.js';
import type { Task } from './task.js';
import { nonEmptyString, nonNegativeInteger, oneOf, optionsObject, positiveInteger, textList } from './validate.js';

export interface InitModelOptions {
  /** Texts the vocabulary is built from (words seen at least `minCount` times become tokens). */
  texts: string[];
  /** Label names in id order (config.json id2label). */
  labels: string[];
  /** Default: 'binary' for 2 labels, else 'multi-class'. Sets problem_type. */
  task?: Task;
  /** Hidden size. Default 64. */
  dim?: number;
  /** Transformer blocks. Default 2. */
  layers?: number;
  /** Attention heads; must divide dim. Default 4. */
  heads?: number;
  /** Feed-forward size. Default 256. */
  hidden?: number;
  /** max_position_embeddings. Default 512. */
  maxPositions?: number;
  /** How often a word must occur to become a whole-word token. Default 2. */
  minCount?: number;
  /** Seed of the weight initialisation. Default 42. */
  seed?: number;
}

export interface InitModelResult {
  dir: string;
  vocabSize: number;
  parameters: number;
  config: Record<string, unknown>;
}

/** The same ids and order as BERT's vocab.txt: [PAD]=0, [UNK]=1, [CLS]=2, [SEP]=3, [MASK]=4. */
export const SPECIAL_TOKENS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'] as const;
const INITIALIZER_RANGE = 0.02;
/** WordPiece gives [UNK] for longer words (max_input_chars_per_word), so they are not tokens. */
const MAX_WORD_CHARS = 100;

/** Writes the checkpoint into `dir` (created if needed; files written atomically). */
export async function initModel(dir: string, options: InitModelOptions): Promise<InitModelResult> {
  nonEmptyString(dir, 'dir');
  const o = resolve(options);
  const vocab = buildVocab(o.texts, o.minCount);
  const config = initConfig({ ...o, vocabSize: vocab.length });
  const tensors = initWeights({ ...o, vocabSize: vocab.length });
  await mkdir(dir, { recursive: true });
  await writeSafetensors(join(dir, 'model.safetensors'), tensors, { format: 'pt' });
  await writeAtomic(join(dir, 'config.json'), pythonJson(config) + '\n');
  await writeAtomic(join(dir, 'vocab.txt'), vocab.join('\n') + '\n');
  await writeAtomic(join(dir, 'tokenizer_config.json'), pythonJson(TOKENIZER_CONFIG) + '\n');
  const parameters = Object.values(tensors).reduce((n, t) => n + t.data.length, 0);
  return { dir, vocabSize: vocab.length, parameters, config };
}

type Resolved = Required<Omit<InitModelOptions, 'task'>> & { task: Task };

function resolve(options: InitModelOptions): Resolved {
  const o = optionsObject(options, 'options');
  const texts = textList(o.texts, 'options.texts');
  const labels = o.labels;
  if (!Array.isArray(labels) || labels.length === 0 || !labels.every((l) => typeof l === 'string' && l !== ''))
    throw expected('a non-empty array of label names', 'options.labels', labels);
  if (new Set(labels).size !== labels.length) throw new ArgumentError('Expected distinct names in options.labels but received duplicates');
  const task = oneOf(o.task, ['binary', 'multi-class', 'multi-label', 'regression'] as const, 'options.task', labels.length === 2 ? 'binary' : 'multi-class');
  const dim = positiveInteger(o.dim, 'options.dim', 64);
  const heads = positiveInteger(o.heads, 'options.heads', 4);
  if (dim % heads !== 0) throw expected(`a number of heads that divides dim (${dim})`, 'options.heads', heads);
  return {
    texts,
    labels: labels as string[],
    task,
    dim,
    heads,
    layers: positiveInteger(o.layers, 'options.layers', 2),
    hidden: positiveInteger(o.hidden, 'options.hidden', 256),
    maxPositions: positiveInteger(o.maxPositions, 'options.maxPositions', 512),
    minCount: positiveInteger(o.minCount, 'options.minCount', 2),
    seed: nonNegativeInteger(o.seed, 'options.seed', 42),
  };
}

// ---- config.json and tokenizer_config.json ----

const TOKENIZER_CONFIG = {
  clean_up_tokenization_spaces: true,
  cls_token: '[CLS]',
  do_lower_case: true,
  mask_token: '[MASK]',
  model_max_length: 512,
  pad_token: '[PAD]',
  sep_token: '[SEP]',
  strip_accents: null,
  tokenize_chinese_chars: true,
  tokenizer_class: 'DistilBertTokenizer',
  unk_token: '[UNK]',
};

/** DistilBertConfig's fields with the given sizes and labels. */
export function initConfig(o: Omit<Resolved, 'texts' | 'minCount' | 'seed'> & { vocabSize: number }): Record<string, unknown> {
  return {
    activation: 'gelu',
    architectures: ['DistilBertForSequenceClassification'],
    attention_dropout: 0.1,
    dim: o.dim,
    dropout: 0.1,
    hidden_dim: o.hidden,
    id2label: Object.fromEntries(o.labels.map((l, i) => [String(i), l])),
    initializer_range: INITIALIZER_RANGE,
    label2id: Object.fromEntries(o.labels.map((l, i) => [l, i])),
    max_position_embeddings: o.maxPositions,
    model_type: 'distilbert',
    n_heads: o.heads,
    n_layers: o.layers,
    pad_token_id: 0,
    problem_type: problemTypeOf(o.task),
    qa_dropout: 0.1,
    seq_classif_dropout: 0.2,
    sinusoidal_pos_embds: false,
    torch_dtype: 'float32',
    vocab_size: o.vocabSize,
  };
}

// ---- weights ----

/**
 * Every DistilBertForSequenceClassification tensor under its HF name, as _init_weights sets it:
 * Linear and Embedding weights ~ N(0, initializer_range), the padding row zero, biases zero,
 * LayerNorm weight 1 and bias 0.
 */
export function initWeights(o: { dim: number; layers: number; hidden: number; maxPositions: number; labels: string[]; seed: number; vocabSize: number }): Record<string, StoredTensor> {
  const normal = gaussian(o.seed);
  const tensors: Record<string, StoredTensor> = {};
  const put = (name: string, shape: number[], fill: 'normal' | 'zero' | 'one'): Float32Array => {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    if (fill === 'one') data.fill(1);
    if (fill === 'normal') for (let i = 0; i < data.length; i++) data[i] = normal() * INITIALIZER_RANGE;
    tensors[name] = { dtype: 'F32', shape, data };
    return data;
  };
  const linear = (name: string, out: number, inp: number): void => {
    put(`${name}.weight`, [out, inp], 'normal');
    put(`${name}.bias`, [out], 'zero');
  };
  const layerNorm = (name: string): void => {
    put(`${name}.weight`, [o.dim], 'one');
    put(`${name}.bias`, [o.dim], 'zero');
  };
  put('distilbert.embeddings.word_embeddings.weight', [o.vocabSize, o.dim], 'normal').fill(0, 0, o.dim); // padding_idx 0
  put('distilbert.embeddings.position_embeddings.weight', [o.maxPositions, o.dim], 'normal');
  layerNorm('distilbert.embeddings.LayerNorm');
  for (let l = 0; l < o.layers; l++) {
    const layer = `distilbert.transformer.layer.${l}`;
    for (const lin of ['q_lin', 'k_lin', 'v_lin', 'out_lin']) linear(`${layer}.attention.${lin}`, o.dim, o.dim);
    layerNorm(`${layer}.sa_layer_norm`);
    linear(`${layer}.ffn.lin1`, o.hidden, o.dim);
    linear(`${layer}.ffn.lin2`, o.dim, o.hidden);
    layerNorm(`${layer}.output_layer_norm`);
  }
  linear('pre_classifier', o.dim, o.dim);
  linear('classifier', o.labels.length, o.dim);
  return tensors;
}

/** Standard normal samples: Box–Muller over a seeded mulberry32 stream (deterministic). */
export function gaussian(seed: number): () => number {
  let s = seed >>> 0;
  const uniform = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) + 0.5) / 4294967296; // in (0, 1)
  };
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const value = spare;
      spare = undefined;
      return value;
    }
    const radius = Math.sqrt(-2 * Math.log(uniform()));
    const angle = 2 * Math.PI * uniform();
    spare = radius * Math.sin(angle);
    return radius * Math.cos(angle);
  };
}

// ---- vocab.txt ----

/**
 * A WordPiece vocabulary for `texts`, normalised and split as BERT's uncased tokenizer does:
 * the 5 special tokens, ASCII punctuation (and any other punctuation seen), the words seen at
 * least `minCount` times (most frequent first), then every character seen (plus a-z, 0-9)
 * both as a word start and as a "##" continuation, so every word tokenizes without [UNK].
 */
export function buildVocab(texts: readonly string[], minCount = 2): string[] {
  const counts = new Map<string, number>();
  const punctuation = new Set<string>(ASCII_PUNCTUATION);
  const chars = new Set<string>('abcdefghijklmnopqrstuvwxyz0123456789');
  for (const text of texts) {
    for (const piece of preTokenize(text)) {
      if (isPunctuation(piece)) {
        punctuation.add(piece);
        continue;
      }
      for (const c of piece) chars.add(c);
      counts.set(piece, (counts.get(piece) ?? 0) + 1);
    }
  }
  const byCodePoint = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
  const words = [...counts]
    .filter(([word, n]) => n >= minCount && [...word].length > 1 && [...word].length <= MAX_WORD_CHARS)
    .sort((a, b) => b[1] - a[1] || byCodePoint(a[0], b[0]))
    .map(([word]) => word);
  const single = [...chars].sort(byCodePoint);
  const tokens = [...SPECIAL_TOKENS, ...[...punctuation].sort(byCodePoint), ...words, ...single, ...single.map((c) => `##${c}`)];
  return [...new Set(tokens)];
}

const ASCII_PUNCTUATION = Array.from({ length: 127 - 33 }, (_, i) => String.fromCharCode(33 + i)).filter((c) => !/[A-Za-z0-9]/.test(c));

/** BERT's _is_punctuation: ASCII symbols and Unicode category P*. */
function isPunctuation(c: string): boolean {
  return ASCII_PUNCTUATION.includes(c) || /^\p{P}$/u.test(c);
}

/** BertNormalizer (clean text, CJK spacing, strip accents, lowercase) then BertPreTokenizer. */
export function preTokenize(text: string): string[] {
  const normalized = text
    .replace(/[\p{Cc}\p{Cf}]/gu, (c) => (/\s/.test(c) ? ' ' : ''))
    .replace(/[\u4e00-\u9fff\u3400-\u4dbf\uf900-\ufaff\u{20000}-\u{2fa1f}]/gu, (c) => ` ${c} `)
    .normalize('NFD')
    .replace(/\p{Mn}/gu, '')
    .toLowerCase();
  return normalized
    .split(/\s+/)
    .flatMap((word) => word.split(/([!-/:-@[-`{-~]|\p{P})/u))
    .filter((piece) => piece !== '');
}
