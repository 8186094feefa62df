// MLM from scratch: a DistilBertForMaskedLM of a folder's config.json with
// random weights, as transformers' _init_weights sets them (Linear and Embedding
// N(0, initializer_range), padding row zero, biases 0, LayerNorm 1/0), next to a
// copy of the folder's tokenizer files.
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { FormatError } from '../errors.js';
import { gaussian, initWeights } from '../init-model.js';
import { writeAtomic } from '../lora/save.js';
import type { StoredTensor } from '../native/types.js';
import { writeSafetensors } from '../safetensors.js';
import { copyTokenizerFiles, maskedLmConfigJson } from './save.js';

function size(config: Record<string, unknown>, key: string, fallback: number, file: string): number {
  const v = config[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw new FormatError('ERR_CONFIG', `${file}: expected a positive integer for ${key}`);
  return v;
}

export async function initMaskedLm(sourceDir: string, outDir: string, seed: number): Promise<void> {
  const file = join(sourceDir, 'config.json');
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  } catch (error) {
    throw new FormatError('ERR_CONFIG', `${file}: cannot read a config.json to initialise from (${(error as Error).message})`);
  }
  const dim = size(config, 'dim', 768, file);
  const std = typeof config.initializer_range === 'number' ? config.initializer_range : 0.02;
  const tensors = initWeights({
    dim,
    layers: size(config, 'n_layers', 6, file),
    hidden: size(config, 'hidden_dim', 3072, file),
    maxPositions: size(config, 'max_position_embeddings', 512, file),
    vocabSize: size(config, 'vocab_size', 30522, file),
    labels: ['LABEL_0', 'LABEL_1'],
    seed,
  });
  for (const name of Object.keys(tensors)) if (/^(pre_)?classifier\./.test(name)) delete tensors[name];
  const normal = gaussian(seed + 1);
  const tensor = (shape: number[], value: (i: number) => number): StoredTensor => {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = value(i);
    return { dtype: 'F32', shape, data };
  };
  tensors['vocab_transform.weight'] = tensor([dim, dim], () => normal() * std);
  tensors['vocab_transform.bias'] = tensor([dim], () => 0);
  tensors['vocab_layer_norm.weight'] = tensor([dim], () => 1);
  tensors['vocab_layer_norm.bias'] = tensor([dim], () => 0);
  tensors['vocab_projector.bias'] = tensor([size(config, 'vocab_size', 30522, file)], () => 0);
  await mkdir(outDir, { recursive: true });
  await writeSafetensors(join(outDir, 'model.safetensors'), tensors, { format: 'pt' });
  await writeAtomic(join(outDir, 'config.json'), await maskedLmConfigJson(sourceDir));
  await copyTokenizerFiles(sourceDir, outDir);
}
