// config.json as transformers writes it (PretrainedConfig.to_json_string):
// json.dumps(indent=2, sort_keys=True) + "\n", ASCII-escaped, with labels in
// id2label/label2id and problem_type only when they differ from the defaults.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import type { Task } from './task.js';

const PROBLEM_TYPES: Record<Task, string> = {
  binary: 'single_label_classification',
  'multi-class': 'single_label_classification',
  'multi-label': 'multi_label_classification',
  regression: 'regression',
  // An ordinal model's classifier is one score output (lib/risk/head.ts); its thresholds are ours.
  ordinal: 'regression',
};

export function problemTypeOf(task: Task): string {
  return PROBLEM_TYPES[task];
}

/** Python's json.dumps(obj, indent=2, sort_keys=True) for JSON-compatible values. */
export function pythonJson(value: unknown, indent = ''): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') return Number.isInteger(value) || !Number.isFinite(value) ? String(value) : pythonFloat(value);
  if (typeof value === 'string') return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  const inner = indent + '  ';
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    return `[\n${value.map((v) => inner + pythonJson(v, inner)).join(',\n')}\n${indent}]`;
  }
  const keys = Object.keys(value as object).sort();
  if (keys.length === 0) return '{}';
  return `{\n${keys.map((k) => `${inner}${pythonJson(k)}: ${pythonJson((value as Record<string, unknown>)[k], inner)}`).join(',\n')}\n${indent}}`;
}

// Python's repr of a float: shortest round-trip digits, exponent form below 1e-4 and from 1e16.
function pythonFloat(n: number): string {
  const abs = Math.abs(n);
  if (abs !== 0 && (abs < 1e-4 || abs >= 1e16)) {
    const [mantissa, exponent] = n.toExponential().split('e') as [string, string];
    const e = Number(exponent);
    return `${mantissa}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
  }
  return String(n);
}

/** transformers' BitsAndBytesConfig for a 4-bit checkpoint (the head and embeddings stay full precision). */
export interface FourBitConfig {
  type: 'nf4' | 'fp4';
  doubleQuant: boolean;
  /** Block linears kept in full precision (besides the head, which always is). */
  skip?: readonly string[];
}

function quantizationConfig(q: FourBitConfig): Record<string, unknown> {
  return {
    _load_in_4bit: true,
    _load_in_8bit: false,
    bnb_4bit_compute_dtype: 'float32',
    bnb_4bit_quant_storage: 'uint8',
    bnb_4bit_quant_type: q.type,
    bnb_4bit_use_double_quant: q.doubleQuant,
    llm_int8_enable_fp32_cpu_offload: false,
    llm_int8_has_fp16_weight: false,
    llm_int8_skip_modules: ['pre_classifier', 'classifier', ...(q.skip ?? [])],
    llm_int8_threshold: 6.0,
    load_in_4bit: true,
    load_in_8bit: false,
    quant_method: 'bitsandbytes',
  };
}

/** The checkpoint's config.json with our labels, problem type and architecture (and 4-bit settings). */
export async function configWithLabels(
  checkpointDir: string,
  labels: readonly string[],
  task: Task,
  fourBit?: FourBitConfig | 'keep',
): Promise<string> {
  const config = JSON.parse(await readFile(join(checkpointDir, 'config.json'), 'utf8')) as Record<string, unknown>;
  const defaultNames = labels.length === 2 && labels[0] === 'LABEL_0' && labels[1] === 'LABEL_1';
  delete config.id2label;
  delete config.label2id;
  delete config.num_labels;
  if (!defaultNames) {
    config.id2label = Object.fromEntries(labels.map((l, i) => [String(i), l]));
    config.label2id = Object.fromEntries(labels.map((l, i) => [l, i]));
  }
  config.problem_type = problemTypeOf(task);
  config.architectures = ['DistilBertForSequenceClassification'];
  // 'keep': the weights are 4-bit as the source checkpoint saved them.
  if (fourBit && fourBit !== 'keep') config.quantization_config = quantizationConfig(fourBit);
  else if (!fourBit) delete config.quantization_config;
  return pythonJson(config) + '\n';
}
