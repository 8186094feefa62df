#!/usr/bin/env node
// Writes a DistilBERT-base-shaped Hugging Face checkpoint folder with random
// weights (config.json + model.safetensors) using lora-node's own safetensors
// writer, plus the bert-base-uncased tokenizer files. Parameter names and shapes are those of transformers'
// DistilBertForSequenceClassification; weights N(0, 0.02) from a seeded PRNG,
// LayerNorm weight 1 / bias 0, biases 0.
//
//   node benchmarks/infer/make-model.mjs [--out DIR] [--seed N] [--force]
import { copyFileSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { MODEL_DIR, MODEL_SHAPE, REPO_ROOT, loraNodeApi, parseArgs, seededRandom } from './common.mjs';

// Classifier.load wants a tokenizer beside the weights: the bert-base-uncased
// vocabulary (30522 entries, the size of this model's embedding) from the
// real-vocab golden fixture.
const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'vocab.txt'];
const TOKENIZER_SOURCES = [
  join(REPO_ROOT, 'test', 'fixtures', 'real-vocab', 'checkpoint'),
  join(REPO_ROOT, '..', 'shared', 'golden', 'real-vocab', 'checkpoint'),
];

function copyTokenizer(dir) {
  if (existsSync(join(dir, 'vocab.txt'))) return;
  const source = TOKENIZER_SOURCES.find((d) => TOKENIZER_FILES.every((f) => existsSync(join(d, f))));
  if (!source) throw new Error(`no tokenizer to copy: looked in ${TOKENIZER_SOURCES.join(', ')}`);
  for (const f of TOKENIZER_FILES) copyFileSync(join(source, f), join(dir, f));
}

function config(s) {
  const id2label = {};
  const label2id = {};
  for (let i = 0; i < s.labels; i++) {
    id2label[String(i)] = `LABEL_${i}`;
    label2id[`LABEL_${i}`] = i;
  }
  return {
    activation: 'gelu',
    architectures: ['DistilBertForSequenceClassification'],
    attention_dropout: 0.1,
    dim: s.dim,
    dropout: 0.1,
    hidden_dim: s.hidden,
    id2label,
    initializer_range: 0.02,
    label2id,
    max_position_embeddings: s.maxPositions,
    model_type: 'distilbert',
    n_heads: s.heads,
    n_layers: s.layers,
    pad_token_id: 0,
    problem_type: 'single_label_classification',
    qa_dropout: 0.1,
    seq_classif_dropout: 0.2,
    sinusoidal_pos_embds: false,
    tie_weights_: true,
    torch_dtype: 'float32',
    transformers_version: '4.31.0',
    vocab_size: s.vocab,
  };
}

// name -> shape, kind ('normal' | 'ones' | 'zeros'), in HF state_dict order.
function parameterList(s) {
  const list = [];
  const add = (name, shape, kind) => list.push({ name, shape, kind });
  const linear = (prefix, out, inp) => {
    add(`${prefix}.weight`, [out, inp], 'normal');
    add(`${prefix}.bias`, [out], 'zeros');
  };
  const layerNorm = (prefix) => {
    add(`${prefix}.weight`, [s.dim], 'ones');
    add(`${prefix}.bias`, [s.dim], 'zeros');
  };
  add('distilbert.embeddings.word_embeddings.weight', [s.vocab, s.dim], 'normal');
  add('distilbert.embeddings.position_embeddings.weight', [s.maxPositions, s.dim], 'normal');
  layerNorm('distilbert.embeddings.LayerNorm');
  for (let i = 0; i < s.layers; i++) {
    const p = `distilbert.transformer.layer.${i}`;
    for (const lin of ['q_lin', 'k_lin', 'v_lin', 'out_lin']) linear(`${p}.attention.${lin}`, s.dim, s.dim);
    layerNorm(`${p}.sa_layer_norm`);
    linear(`${p}.ffn.lin1`, s.hidden, s.dim);
    linear(`${p}.ffn.lin2`, s.dim, s.hidden);
    layerNorm(`${p}.output_layer_norm`);
  }
  linear('pre_classifier', s.dim, s.dim);
  linear('classifier', s.labels, s.dim);
  return list;
}

function fillNormal(data, std, rand) {
  // Box–Muller, two values per pair of uniforms.
  for (let i = 0; i < data.length; i += 2) {
    const u1 = 1 - rand();
    const u2 = rand();
    const r = std * Math.sqrt(-2 * Math.log(u1));
    data[i] = r * Math.cos(2 * Math.PI * u2);
    if (i + 1 < data.length) data[i + 1] = r * Math.sin(2 * Math.PI * u2);
  }
}

/** Makes the checkpoint in `dir` unless config.json and model.safetensors are there. */
export async function ensureModel({ dir = MODEL_DIR, seed = 42, force = false, log = console.error } = {}) {
  if (!force && existsSync(join(dir, 'config.json')) && existsSync(join(dir, 'model.safetensors'))) {
    copyTokenizer(dir);
    return { dir, made: false };
  }
  const { writeSafetensors, source } = await loraNodeApi();
  if (typeof writeSafetensors !== 'function') throw new Error(`writeSafetensors is not available from ${source}`);
  const s = MODEL_SHAPE;
  const rand = seededRandom(seed);
  const tensors = {};
  let count = 0;
  for (const { name, shape, kind } of parameterList(s)) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    if (kind === 'normal') fillNormal(data, 0.02, rand);
    else if (kind === 'ones') data.fill(1);
    tensors[name] = { dtype: 'F32', shape, data };
    count += data.length;
  }
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  log(`make-model: writing ${count.toLocaleString('en-US')} parameters with ${source} to ${dir}`);
  await writeSafetensors(join(tmp, 'model.safetensors'), tensors, { format: 'pt' });
  writeFileSync(join(tmp, 'config.json'), `${JSON.stringify(config(s), null, 2)}\n`);
  copyTokenizer(tmp);
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return { dir, made: true, parameters: count };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { values } = parseArgs({
    options: { out: { type: 'string' }, seed: { type: 'string' }, force: { type: 'boolean' } },
  });
  const result = await ensureModel({ dir: values.out ?? MODEL_DIR, seed: Number(values.seed ?? 42), force: !!values.force });
  console.log(result.made ? `wrote ${result.dir}` : `${result.dir} already exists (use --force to remake it)`);
}
