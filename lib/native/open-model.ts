// Loads a checkpoint into a native model and applies LoRA / an adapter: the
// common start of Classifier, Model and Trainer.
import { availableParallelism } from 'node:os';
import { join } from 'node:path';

import { ArgumentError, FormatError, fromNativeError } from '../errors.js';
import { ADAPTER_WEIGHTS, readAdapterConfig } from '../lora/adapter-config.js';
import { type LoraOptions, type ResolvedLora, loraSpec, resolveLoraOptions } from '../lora/options.js';
import { Quantizer, type QuantizerOptions } from '../quantizer.js';
import { deviceOption, nonEmptyString, nonNegativeInteger, oneOf, optionsObject, positiveInteger } from '../validate.js';
import { loadAddon } from './loader.js';
import type { NativeLoadOptions, NativeModelHandle } from './types.js';
import { type FourBitConfig, problemTypeOf } from '../hf-config.js';
import { type LoraNodeMetadata, readMetadata } from '../lora/metadata.js';
import type { Task } from '../task.js';

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
  const adapter = o.adapter === undefined ? undefined : nonEmptyString(o.adapter, 'options.adapter');
  if (adapter !== undefined && o.lora !== undefined)
    throw new ArgumentError('Expected either options.adapter or options.lora, not both');
  const fresh = o.lora === undefined || o.lora === false ? undefined : resolveLoraOptions(o.lora);
  const fromAdapter = adapter === undefined ? undefined : await readAdapterConfig(adapter);
  const metadata = await readMetadata(adapter ?? dir);
  const labels = o.labels ?? metadata?.labels;
  const task = o.task ?? metadata?.task;
  const native: NativeLoadOptions = { device, precision, threads, seed, initMissingHead: o.initMissingHead === true };
  if (o.maskedLm === true) native.maskedLm = true;
  if (o.quantization !== undefined) {
    const q = new Quantizer(optionsObject(o.quantization, 'options.quantization') as QuantizerOptions);
    native.quantization = { type: q.type, blockSize: q.blockSize, doubleQuant: q.doubleQuant };
  }
  if (labels && task) {
    native.labels = [...labels];
    native.problemType = problemTypeOf(task);
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
    const quantization = native.quantization && { type: native.quantization.type!, doubleQuant: native.quantization.doubleQuant! };
    return { handle, lora, fullFinetune: o.lora === false, metadata, quantization };
  } catch (error) {
    handle.dispose();
    throw fromNativeError(error);
  }
}
