// A DistilBertForMaskedLM checkpoint made from a golden set: its encoder plus the
// golden MLM head (mlm.params.*), saved as transformers saves one (no classifier,
// no vocab_projector.weight, which is tied to the word embeddings).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { readSafetensors, writeSafetensors } from '../../lib/index.js';
import { copyCheckpoint } from './checkpoint-copy.js';
import { type GoldenSet, golden } from './golden.js';

export const MLM_HEAD = ['vocab_transform.weight', 'vocab_transform.bias', 'vocab_layer_norm.weight', 'vocab_layer_norm.bias', 'vocab_projector.bias'];

export async function maskedLmCheckpoint(set: GoldenSet): Promise<string> {
  const dir = copyCheckpoint(set);
  const file = join(dir, 'model.safetensors');
  const { tensors } = await readSafetensors(file);
  const out: typeof tensors = {};
  for (const [name, t] of Object.entries(tensors)) if (name.startsWith('distilbert.')) out[name] = t;
  const g = golden(set);
  for (const name of MLM_HEAD) {
    const t = g.tensors.get(`mlm.params.${name}`)!;
    out[name] = { dtype: 'F32', shape: t.shape, data: t.data as Float32Array };
  }
  await writeSafetensors(file, out, { format: 'pt' });
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  for (const key of ['id2label', 'label2id', 'problem_type']) delete config[key];
  config.architectures = ['DistilBertForMaskedLM'];
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  return dir;
}
