// Loads a checkpoint into a native model and applies LoRA / an adapter: the
// common start of Classifier, Model and Trainer.
import { availableParallelism } from 'node:os';
import { join } from 'node:path';

import { ArgumentError, FormatError, fromNativeError } from '../errors.js';
import { ADAPTER_WEIGHTS, readAdapterConfig } from '../lora/adapter-config.js';
import { type LoraOptions, type ResolvedLora, loraSpec, resolveLoraOptions } from '../lora/options.js';
import { modelQuantization } from '../quantizer.js';
import { deviceOption, nonEmptyString, nonNegativeInteger, oneOf, optionsObject, positiveInteger } from '../validate.js';
import { resolveAdapterSource } from '../hub/fetch-model.js';
import { loadAddon } from './loader.js';
import type { NativeLoadOptions, NativeModelHandle } from './types.js';
import { type FourBitConfig, problemTypeOf } from '../hf-config.js';
import { type LoraNodeMetadata, readMetadata } from '../lora/metadata.js';
import type { Task } from '../task.js';
import { loadRiskHead, nativeLabels, needsRiskHead, savedRiskHeadPlan } from '../risk/head.js';

export const PRECISIONS = ['auto', 'fp32', 'bf16', 'fp16'] as const;

export interface OpenModelOptions {
  device?: unknown;
  precision?: unknown;
  threads?: unknown;
  /** A PEFT adapter folder to apply. */
  adapter?: unknown;
  /** New LoRA adapters (true or options), or false for full fine-tuning. */
  lora?: LoraOptions | boolean;
  /** Seed of LoRA initialisation and dropout. */
  seed?: unknown;
  /** Labels replacing config.json's (training data, or an adapter's lora-node.json). */
  labels?: readonly string[];
  task?: Task;
  /** Initialise a missing or mismatched head (Trainer) instead of failing (Classifier). */
  initMissingHead?: boolean;
  /** QLoRA: hold the transformer-block linears in 4 bits ({ type, blockSize, doubleQuant }). */
  quantization?: unknown;
  /** Hub settings for an adapter given as a repo id. */
  hub?: unknown;
  /** DistilBertForMaskedLM: the MLM head instead of a classification head. */
  maskedLm?: boolean;
}

export interface OpenedModel {
  handle: NativeModelHandle;
  lora: ResolvedLora | undefined;
  fullFinetune: boolean;
  /** lora-node.json of the checkpoint or adapter folder, when present. */
  metadata: LoraNodeMetadata | undefined;
  /** The 4-bit settings applied on load (undefined when none were asked for). */
  quantization: FourBitConfig | undefined;
}

export async function openModel(checkpointDir: unknown, o: OpenModelOptions): Promise<OpenedModel> {
  const dir = nonEmptyString(checkpointDir, 'checkpointDir');
  const device = deviceOption(o.device);
  const precision = oneOf(o.precision, PRECISIONS, 'options.precision', 'auto');
  const threads = positiveInteger(o.threads, 'options.threads', availableParallelism());
  const seed = nonNegativeInteger(o.seed, 'options.seed', 42);
  if (o.adapter !== undefined && o.lora !== undefined)
    throw new ArgumentError('Expected either options.adapter or options.lora, not both');
  const adapter = o.adapter === undefined ? undefined : await resolveAdapterSource(nonEmptyString(o.adapter, 'options.adapter'), o.hub);
  const fresh = o.lora === undefined || o.lora === false ? undefined : resolveLoraOptions(o.lora);
  const fromAdapter = adapter === undefined ? undefined : await readAdapterConfig(adapter);
  const metadata = await readMetadata(adapter ?? dir);
  const labels = o.labels ?? metadata?.labels;
  const task = o.task ?? metadata?.task;
  const native: NativeLoadOptions = { device, precision, threads, seed, initMissingHead: o.initMissingHead === true };
  if (o.maskedLm === true) native.maskedLm = true;
  if (o.quantization !== undefined) {
    native.quantization = modelQuantization(o.quantization, 'options.quantization');
  }
  if (labels && task) {
    const held = nativeLabels(labels, task);  // an ordinal head is one score output natively
    native.labels = held.labels;
    native.problemType = problemTypeOf(held.task);
  }
  // An adapter's own head (modules_to_save) replaces whatever head the base has.
  if (adapter !== undefined) native.initMissingHead = true;

  let handle: NativeModelHandle;
  try {
    handle = await loadAddon().NativeModel.load(dir, native);
  } catch (error) {
    throw fromNativeError(error);
  }
  try {
    const lora = fromAdapter ?? fresh;
    if (lora) handle.attachLora(loraSpec(lora, handle.linearNames()), seed);
    if (adapter) {
      await handle.loadAdapter(join(adapter, ADAPTER_WEIGHTS));
      const savesHead = lora!.modulesToSave.some((m) => 'classifier'.endsWith(m)) && lora!.modulesToSave.some((m) => 'pre_classifier'.endsWith(m));
      const { headNotice } = handle.info();
      if (headNotice && !savesHead)
        throw new FormatError('ERR_CONFIG', `${adapter}: ${headNotice}, and the adapter saves no head (modules_to_save)`);
    }
    if (o.lora === false) handle.enableFullFinetune();
    // A saved risk head (features / ordinal, lib/risk/) comes with its folder; Trainer attaches a fresh one.
    const saved = savedRiskHeadPlan(metadata);
    if (!o.initMissingHead && needsRiskHead(saved)) await loadRiskHead(handle, saved, adapter ?? dir);
    const quantization = native.quantization && {
      type: native.quantization.type!,
      doubleQuant: native.quantization.doubleQuant!,
      skip: native.quantization.skip ?? [],
    };
    return { handle, lora, fullFinetune: o.lora === false, metadata, quantization };
  } catch (error) {
    handle.dispose();
    throw fromNativeError(error);
  }
}
