// PEFT adapter folders with seeded random values (non-zero B, so every
// adapted module changes the output), written with the library's own
// adapter_config.json, lora-node.json and safetensors writers.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';

import { writeSafetensors } from '../../lib/index.js';
import { adapterConfigJson } from '../../lib/lora/adapter-config.js';
import { metadataJson } from '../../lib/lora/metadata.js';
import { type LoraOptions, loraSpec, resolveLoraOptions } from '../../lib/lora/options.js';
import type { StoredTensor } from '../../lib/native/types.js';
import type { Task } from '../../lib/task.js';
import { random } from './synthetic.js';

export interface RandomAdapterOptions {
  lora?: LoraOptions;
  /** Written to lora-node.json with task (absent: the base's labels apply). */
  labels?: string[];
  task?: Task;
  thresholds?: number[];
  /** Rows of the saved classifier. Default: labels.length. */
  headRows?: number;
  /** Save pre_classifier and classifier. Default true. */
  saveHead?: boolean;
  /** Module names whose bias the adapter replaces (as bias: 'lora_only' or 'all' save them). */
  biases?: string[];
  /** More tensors to write (bad inputs). */
  extra?: Record<string, number[]>;
  /** Keys not to write (bad inputs). */
  omit?: string[];
  seed?: number;
}

const PREFIX = 'base_model.model.';

/** Module name -> [out, in] of a DistilBERT checkpoint folder. */
export function linearShapes(baseDir: string): Map<string, [number, number]> {
  const c = JSON.parse(readFileSync(join(baseDir, 'config.json'), 'utf8')) as { dim: number; hidden_dim: number; n_layers: number };
  const shapes = new Map<string, [number, number]>();
  for (let i = 0; i < c.n_layers; i++) {
    const p = `distilbert.transformer.layer.${i}.`;
    for (const m of ['q_lin', 'k_lin', 'v_lin', 'out_lin']) shapes.set(`${p}attention.${m}`, [c.dim, c.dim]);
    shapes.set(`${p}ffn.lin1`, [c.hidden_dim, c.dim]);
    shapes.set(`${p}ffn.lin2`, [c.dim, c.hidden_dim]);
  }
  shapes.set('pre_classifier', [c.dim, c.dim]);
  shapes.set('classifier', [-1, c.dim]);
  return shapes;
}

export async function writeRandomAdapter(dir: string, baseDir: string, o: RandomAdapterOptions = {}): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const shapes = linearShapes(baseDir);
  const lora = resolveLoraOptions(o.lora ?? {});
  const spec = loraSpec(lora, [...shapes.keys()]);
  const r = random(o.seed ?? 1);
  const values = (n: number, bound: number) => Float32Array.from({ length: n }, () => ((r(20001) - 10000) / 10000) * bound);
  const tensors: Record<string, StoredTensor> = {};
  const put = (key: string, shape: number[], bound: number) => {
    if (o.omit?.includes(key)) return;
    tensors[key] = { dtype: 'F32', shape, data: values(shape.reduce((a, b) => a * b, 1), bound) };
  };
  for (const m of spec.modules) {
    const [out, inFeatures] = shapes.get(m.module)!;
    put(`${PREFIX}${m.module}.lora_A.weight`, [m.r, inFeatures], 1 / Math.sqrt(inFeatures));
    put(`${PREFIX}${m.module}.lora_B.weight`, [out, m.r], 0.5);
  }
  const dim = shapes.get('pre_classifier')![0];
  const rows = o.headRows ?? o.labels?.length ?? 0;
  if (o.saveHead ?? true) {
    put(`${PREFIX}pre_classifier.weight`, [dim, dim], 0.2);
    put(`${PREFIX}pre_classifier.bias`, [dim], 0.1);
    put(`${PREFIX}classifier.weight`, [rows, dim], 0.3);
    put(`${PREFIX}classifier.bias`, [rows], 0.1);
  }
  for (const m of o.biases ?? []) put(`${PREFIX}${m}.bias`, [shapes.get(m)![0]], 0.3);
  for (const [key, shape] of Object.entries(o.extra ?? {})) put(key, shape, 0.1);
  await writeSafetensors(join(dir, 'adapter_model.safetensors'), tensors, { format: 'pt' });
  writeFileSync(join(dir, 'adapter_config.json'), adapterConfigJson(lora, basename(baseDir)));
  if (o.labels)
    writeFileSync(
      join(dir, 'lora-node.json'),
      metadataJson({ format: 1, labels: o.labels, task: o.task ?? 'multi-class', ...(o.thresholds ? { thresholds: o.thresholds } : {}) }),
    );
  return dir;
}
