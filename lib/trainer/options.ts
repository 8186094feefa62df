// Trainer options: validation with one wording, and transformers-like defaults.
import { availableParallelism } from 'node:os';

import { ArgumentError, expected } from '../errors.js';
import type { LoraOptions } from '../lora/options.js';
import { type ModelQuantizationOptions, modelQuantization } from '../quantizer.js';
import type { HubOptions } from '../hub/settings.js';
import { type MlmOptions, type ResolvedMlm, resolveMlmOptions } from '../mlm/masking.js';
import { CALIBRATION_TASKS } from '../metrics/calibration.js';
import { THRESHOLD_TASKS, type ThresholdTarget, thresholdTarget } from '../metrics/operating-point.js';
import { METRIC_NAMES, type MetricName } from '../metrics/index.js';
import { TASKS, type Task } from '../task.js';
import { deviceOption, isPlainObject, nonEmptyString, nonNegativeInteger, oneOf, optionsObject, positiveInteger } from '../validate.js';

export interface TrainerOptions {
  /** Checkpoint folder: a fine-tuned classifier, DistilBertForMaskedLM or DistilBertModel. */
  model: string;
  /** 'mlm': masked-language-model pretraining on { text } examples (see `mlm`). */
  task?: Task | 'mlm';
  /** Masking options for task 'mlm'. */
  mlm?: MlmOptions;
  /** Label names in id order (default: sorted labels of the training data). */
  labels?: string[];
  /** LoRA options (default: PEFT defaults on q_lin, v_lin), or false for full fine-tuning. */
  lora?: LoraOptions | false;
  epochs?: number;
  batchSize?: number;
  /** Default 2e-4 with LoRA, 5e-5 for full fine-tuning. */
  learningRate?: number;
  weightDecay?: number;
  warmupRatio?: number;
  warmupSteps?: number;
  scheduler?: 'linear' | 'cosine' | 'constant';
  /** Global gradient-norm clip; 0 turns it off. Default 1. */
  maxGradNorm?: number;
  gradientAccumulationSteps?: number;
  maxLength?: number;
  seed?: number;
  /** 'balanced' (n / (K · count)) or one weight per label; multi-label: per-label pos_weight. */
  classWeights?: 'balanced' | number[];
  device?: 'auto' | 'cpu' | 'cuda' | `cuda:${number}`;
  threads?: number;
  precision?: 'auto' | 'fp32' | 'bf16' | 'fp16';
  evaluation?: { every?: 'epoch' | number; metric?: MetricName };
  earlyStopping?: { patience?: number; metric?: MetricName; minDelta?: number };
  /**
   * Binary: choose the decision threshold on P(positive label) (the second label) on the
   * evaluation examples, for the best F1, a minimum precision or a minimum recall; multi-label:
   * one per label for that target (default: the best F1 per label). Saved with the adapter;
   * Classifier.predict applies it.
   */
  threshold?: ThresholdTarget;
  /**
   * Binary, multi-class: fit a softmax temperature on the evaluation examples (temperature
   * scaling), so predicted probabilities match observed frequencies. Saved with the adapter.
   */
  calibrate?: boolean;
  checkpoints?: { dir: string; every?: 'epoch' | number; keep?: number };
  /** QLoRA: hold the frozen transformer-block linears in 4 bits ({ type: 'nf4', blockSize: 64, doubleQuant: true }). */
  quantization?: ModelQuantizationOptions;
  /** For a hub repo id in `model`: revision, cacheDir, token, offline... Default: the HF_* variables. */
  hub?: HubOptions;
}

export interface ResolvedTrainerOptions {
  model: string;
  task: Task | 'mlm' | undefined;
  mlm: ResolvedMlm | undefined;
  labels: string[] | undefined;
  lora: LoraOptions | false;
  epochs: number;
  batchSize: number;
  learningRate: number;
  weightDecay: number;
  warmupRatio: number;
  warmupSteps: number;
  scheduler: 'linear' | 'cosine' | 'constant';
  maxGradNorm: number;
  gradientAccumulationSteps: number;
  maxLength: number;
  seed: number;
  classWeights: 'balanced' | number[] | undefined;
  device: string;
  threads: number;
  precision: 'auto' | 'fp32' | 'bf16' | 'fp16';
  evaluation: { every: 'epoch' | number; metric: MetricName | undefined };
  earlyStopping: { patience: number; metric: MetricName | undefined; minDelta: number } | undefined;
  threshold: ThresholdTarget | undefined;
  calibrate: boolean;
  checkpoints: { dir: string; every: 'epoch' | number; keep: number } | undefined;
  quantization: ModelQuantizationOptions | undefined;
  hub: HubOptions | undefined;
}

/** 'binary' or 'multi-label': tasks as options name them in messages. */
const taskList = (tasks: readonly string[]): string => tasks.map((t) => `'${t}'`).join(' or ');

function nonNegativeNumber(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) throw expected('a non-negative number', name, value);
  return value;
}

function every(value: unknown, name: string): 'epoch' | number {
  if (value === undefined || value === 'epoch') return 'epoch';
  return positiveInteger(value, name);
}

function metric(value: unknown, name: string): MetricName | undefined {
  if (value === undefined) return undefined;
  return oneOf(value, METRIC_NAMES, name);
}

export function resolveTrainerOptions(options: unknown): ResolvedTrainerOptions {
  if (!isPlainObject(options)) throw expected('an options object with at least { model }', 'options', options);
  const o = options;
  const lora = o.lora === undefined ? {} : o.lora;
  if (lora !== false && !isPlainObject(lora)) throw expected('LoRA options or false', 'options.lora', lora);
  const warmupRatio = nonNegativeNumber(o.warmupRatio, 'options.warmupRatio', o.warmupSteps === undefined ? 0.06 : 0);
  if (warmupRatio > 1) throw expected('a number in [0, 1]', 'options.warmupRatio', warmupRatio);
  if (o.labels !== undefined && (!Array.isArray(o.labels) || o.labels.length === 0 || !o.labels.every((l) => typeof l === 'string')))
    throw expected('a non-empty array of strings', 'options.labels', o.labels);
  if (o.labels !== undefined && new Set(o.labels as string[]).size !== (o.labels as string[]).length)
    throw new ArgumentError('Expected distinct names in options.labels but received duplicates');
  let classWeights: ResolvedTrainerOptions['classWeights'];
  if (o.classWeights === 'balanced') classWeights = 'balanced';
  else if (o.classWeights !== undefined) {
    if (!Array.isArray(o.classWeights) || !o.classWeights.every((w) => typeof w === 'number' && w > 0 && Number.isFinite(w)))
      throw expected("'balanced' or an array of positive numbers", 'options.classWeights', o.classWeights);
    classWeights = o.classWeights as number[];
  }
  const evaluation = optionsObject(o.evaluation, 'options.evaluation');
  const early = o.earlyStopping === undefined ? undefined : optionsObject(o.earlyStopping, 'options.earlyStopping');
  const checkpoints = o.checkpoints === undefined ? undefined : optionsObject(o.checkpoints, 'options.checkpoints');
  return {
    model: nonEmptyString(o.model, 'options.model'),
    task: o.task === undefined ? undefined : oneOf(o.task, [...TASKS, 'mlm'] as const, 'options.task'),
    mlm: (() => {
      if (o.task !== 'mlm') {
        if (o.mlm !== undefined) throw expected("task 'mlm' with options.mlm", 'options.task', o.task);
        return undefined;
      }
      if (o.quantization !== undefined) throw new ArgumentError("Expected no options.quantization with task 'mlm' (MLM trains full or LoRA)");
      if (o.classWeights !== undefined) throw new ArgumentError("Expected no options.classWeights with task 'mlm'");
      return resolveMlmOptions(o.mlm);
    })(),
    labels: o.labels as string[] | undefined,
    lora: lora as LoraOptions | false,
    epochs: positiveInteger(o.epochs, 'options.epochs', 3),
    batchSize: positiveInteger(o.batchSize, 'options.batchSize', 16),
    learningRate: (() => {
      const lr = nonNegativeNumber(o.learningRate, 'options.learningRate', lora === false ? 5e-5 : 2e-4);
      if (lr === 0) throw expected('a positive number', 'options.learningRate', lr);
      return lr;
    })(),
    weightDecay: nonNegativeNumber(o.weightDecay, 'options.weightDecay', 0.01),
    warmupRatio,
    warmupSteps: nonNegativeInteger(o.warmupSteps, 'options.warmupSteps', 0),
    scheduler: oneOf(o.scheduler, ['linear', 'cosine', 'constant'] as const, 'options.scheduler', 'linear'),
    maxGradNorm: nonNegativeNumber(o.maxGradNorm, 'options.maxGradNorm', 1),
    gradientAccumulationSteps: positiveInteger(o.gradientAccumulationSteps, 'options.gradientAccumulationSteps', 1),
    maxLength: positiveInteger(o.maxLength, 'options.maxLength', 128),
    seed: nonNegativeInteger(o.seed, 'options.seed', 42),
    classWeights,
    device: deviceOption(o.device),
    threads: positiveInteger(o.threads, 'options.threads', availableParallelism()),
    precision: oneOf(o.precision, ['auto', 'fp32', 'bf16', 'fp16'] as const, 'options.precision', 'auto'),
    evaluation: { every: every(evaluation.every, 'options.evaluation.every'), metric: metric(evaluation.metric, 'options.evaluation.metric') },
    earlyStopping: early && {
      patience: positiveInteger(early.patience, 'options.earlyStopping.patience', 3),
      metric: metric(early.metric, 'options.earlyStopping.metric'),
      minDelta: nonNegativeNumber(early.minDelta, 'options.earlyStopping.minDelta', 0),
    },
    threshold: (() => {
      if (o.threshold === undefined) return undefined;
      const target = thresholdTarget(o.threshold, 'options.threshold');
      if (o.task !== undefined && !(THRESHOLD_TASKS as readonly unknown[]).includes(o.task))
        throw new ArgumentError(`Expected task ${taskList(THRESHOLD_TASKS)} with options.threshold (decision thresholds on label probabilities) but received task '${String(o.task)}'`);
      return target;
    })(),
    calibrate: (() => {
      if (o.calibrate === undefined || o.calibrate === false) return false;
      if (o.calibrate !== true) throw expected('a boolean', 'options.calibrate', o.calibrate);
      if (o.task !== undefined && !(CALIBRATION_TASKS as readonly unknown[]).includes(o.task))
        throw new ArgumentError(`Expected task ${taskList(CALIBRATION_TASKS)} with options.calibrate (a softmax temperature) but received task '${String(o.task)}'`);
      return true;
    })(),
    quantization: o.quantization === undefined ? undefined : modelQuantization(o.quantization, 'options.quantization'),
    hub: o.hub === undefined ? undefined : (optionsObject(o.hub, 'options.hub') as HubOptions),
    checkpoints: checkpoints && {
      dir: nonEmptyString(checkpoints.dir, 'options.checkpoints.dir'),
      every: every(checkpoints.every, 'options.checkpoints.every'),
      keep: positiveInteger(checkpoints.keep, 'options.checkpoints.keep', 2),
    },
  };
}
