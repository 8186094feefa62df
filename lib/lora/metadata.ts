// lora-node.json: what PEFT's files do not record — labels, task, tuned
// thresholds, maxLength — kept beside an adapter or merged checkpoint.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { FormatError } from '../errors.js';
import { type FeatureSchema, isFeatureSchema } from '../features/schema.js';
import { CALIBRATION_TASKS } from '../metrics/calibration.js';
import { type DecisionThreshold, isDecisionThreshold } from '../metrics/operating-point.js';
import { TASKS, type Task } from '../task.js';
import { isPlainObject } from '../validate.js';

export const METADATA_FILE = 'lora-node.json';

export interface LoraNodeMetadata {
  format: 1;
  labels: string[];
  task: Task;
  /** Multi-label: per-label probability thresholds tuned on the evaluation set. */
  thresholds?: number[];
  /** Binary: the decision threshold on P(labels[1]) chosen on the evaluation set (options.threshold). */
  decisionThreshold?: DecisionThreshold;
  /** Binary, multi-class: probabilities are softmax(logits / temperature) (options.calibrate). */
  temperature?: number;
  maxLength?: number;
  baseModel?: string;
  /** Tabular features the model takes (statistics and categories from training); see lib/features/. */
  features?: FeatureSchema;
}

export function metadataJson(m: LoraNodeMetadata): string {
  return JSON.stringify(m, null, 2) + '\n';
}

/** Reads lora-node.json if the folder has one. */
export async function readMetadata(dir: string): Promise<LoraNodeMetadata | undefined> {
  let text: string;
  try {
    text = await readFile(join(dir, METADATA_FILE), 'utf8');
  } catch {
    return undefined;
  }
  let m: unknown;
  try {
    m = JSON.parse(text);
  } catch (error) {
    throw new FormatError('ERR_CONFIG', `${join(dir, METADATA_FILE)}: not valid JSON (${(error as Error).message})`);
  }
  if (!isPlainObject(m) || !Array.isArray(m.labels) || !m.labels.every((l) => typeof l === 'string') || !(TASKS as readonly unknown[]).includes(m.task))
    throw new FormatError('ERR_CONFIG', `${join(dir, METADATA_FILE)}: expected { labels: string[], task } (see lib/lora/metadata.ts)`);
  if (m.features !== undefined && !isFeatureSchema(m.features))
    throw new FormatError('ERR_CONFIG', `${join(dir, METADATA_FILE)}: expected features { numeric: [{ name, mean, std }], categorical: [{ name, categories, embeddingDim }] }`);
  if (m.decisionThreshold !== undefined && (m.task !== 'binary' || !isDecisionThreshold(m.decisionThreshold) || m.decisionThreshold.positiveLabel !== (m.labels as string[])[1]))
    throw new FormatError('ERR_CONFIG', `${join(dir, METADATA_FILE)}: expected decisionThreshold { threshold in [0, 1), positiveLabel: the second label } on a binary task`);
  if (m.temperature !== undefined && (typeof m.temperature !== 'number' || !(m.temperature > 0) || !Number.isFinite(m.temperature) || !(CALIBRATION_TASKS as readonly unknown[]).includes(m.task)))
    throw new FormatError('ERR_CONFIG', `${join(dir, METADATA_FILE)}: expected temperature, a positive number, on a binary or multi-class task`);
  if (m.task === 'ordinal' && (m.labels as string[]).length < 2)
    throw new FormatError('ERR_CONFIG', `${join(dir, METADATA_FILE)}: an ordinal task needs at least 2 labels`);
  return m as unknown as LoraNodeMetadata;
}
