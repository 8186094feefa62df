// The risk head on a native model (native/core/risk_head.h): tabular features
// fused beside the text and ordinal thresholds. Its tensors live in
// lora_node_head.safetensors beside lora-node.json, so adapter_model.safetensors
// stays a plain PEFT adapter.
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { FormatError, fromNativeError } from '../errors.js';
import type { FeatureSchema } from '../features/schema.js';
import { loadAddon } from '../native/loader.js';
import type { NativeModelHandle } from '../native/types.js';
import type { Task } from '../task.js';

export const RISK_HEAD_FILE = 'lora_node_head.safetensors';
/**
 * An ordinal model's classifier has one output, the severity score s (logit_k = s + threshold_k),
 * so in Hugging Face / PEFT terms it is a one-output regression head named this.
 */
export const ORDINAL_SCORE_LABEL = 'ordinal_score';

export interface RiskHeadPlan {
  features?: FeatureSchema | undefined;
  /** Ordinal: the number of classes K. */
  ordinalClasses?: number | undefined;
  /** Ordinal, fresh heads: K-1 starting thresholds (see ordinalStartThresholds). */
  ordinalThresholds?: number[] | undefined;
}

export function needsRiskHead(plan: RiskHeadPlan): boolean {
  return plan.features !== undefined || (plan.ordinalClasses ?? 0) > 0;
}

/** Labels and task as the native model holds them: an ordinal head is one score output. */
export function nativeLabels(labels: readonly string[], task: Task): { labels: string[]; task: Task } {
  return task === 'ordinal' ? { labels: [ORDINAL_SCORE_LABEL], task: 'regression' } : { labels: [...labels], task };
}

/** Width of the model's output rows: K-1 cumulative logits for ordinal, else one per label. */
export function outputWidth(labels: readonly string[], task: Task): number {
  return task === 'ordinal' ? labels.length - 1 : labels.length;
}

/** Fresh risk-head parameters (seeded) on a model opened for training. */
export function attachRiskHead(handle: NativeModelHandle, plan: RiskHeadPlan, seed: number): void {
  const f = plan.features;
  try {
    loadAddon().attachRiskHead(handle, {
      numericWidth: f ? 2 * f.numeric.length : 0,
      categories: f ? f.categorical.map((c) => c.categories.length + 1) : [],
      embeddingDims: f ? f.categorical.map((c) => c.embeddingDim) : [],
      ordinalClasses: plan.ordinalClasses ?? 0,
      ...(plan.ordinalThresholds ? { ordinalThresholds: plan.ordinalThresholds } : {}),
    }, seed);
  } catch (error) {
    throw fromNativeError(error);
  }
}

/** The plan a saved lora-node.json describes. */
export function savedRiskHeadPlan(metadata: { task: Task; labels: readonly string[]; features?: FeatureSchema | undefined } | undefined): RiskHeadPlan {
  if (!metadata) return {};
  return { features: metadata.features, ordinalClasses: metadata.task === 'ordinal' ? metadata.labels.length : undefined };
}

/** Attaches and reads the saved risk head of an adapter or merged-checkpoint folder. */
export async function loadRiskHead(handle: NativeModelHandle, plan: RiskHeadPlan, dir: string): Promise<void> {
  attachRiskHead(handle, plan, 0);
  await loadRiskHeadWeights(handle, dir, plan);
}

/** Reads saved values into the attached risk head (a checkpoint being resumed, or a saved model). */
export async function loadRiskHeadWeights(handle: NativeModelHandle, dir: string, plan: RiskHeadPlan): Promise<void> {
  const path = join(dir, RISK_HEAD_FILE);
  if (!existsSync(path))
    throw new FormatError('ERR_MISSING_TENSOR', `${dir}: lora-node.json describes ${describe(plan)} but ${RISK_HEAD_FILE} is missing`);
  await loadAddon().loadRiskHead(handle, path).catch((error: unknown) => {
    throw fromNativeError(error);
  });
}

export async function saveRiskHead(handle: NativeModelHandle, dir: string): Promise<void> {
  await loadAddon().saveRiskHead(handle, join(dir, RISK_HEAD_FILE)).catch((error: unknown) => {
    throw fromNativeError(error);
  });
}

function describe(plan: RiskHeadPlan): string {
  const parts = [plan.features ? 'features' : '', plan.ordinalClasses ? 'an ordinal head' : ''].filter(Boolean);
  return parts.join(' and ');
}
