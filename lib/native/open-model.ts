// Loads a checkpoint into a native model and applies LoRA / an adapter: the
// common start of Classifier, Model and Trainer.
import { availableParallelism } from 'node:os';
import { join } from 'node:path';

import { ArgumentError, fromNativeError } from '../errors.js';
import { ADAPTER_WEIGHTS, readAdapterConfig } from '../lora/adapter-config.js';
import { type LoraOptions, type ResolvedLora, loraSpec, resolveLoraOptions } from '../lora/options.js';
import { deviceOption, nonEmptyString, nonNegativeInteger, oneOf, positiveInteger } from '../validate.js';
import { loadAddon } from './loader.js';
import type { NativeModelHandle } from './types.js';

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
}

export interface OpenedModel {
  handle: NativeModelHandle;
  lora: ResolvedLora | undefined;
  fullFinetune: boolean;
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

  let handle: NativeModelHandle;
  try {
    handle = await loadAddon().NativeModel.load(dir, { device, precision, threads });
  } catch (error) {
    throw fromNativeError(error);
  }
  try {
    const lora = fromAdapter ?? fresh;
    if (lora) handle.attachLora(loraSpec(lora, handle.linearNames()), seed);
    if (adapter) await handle.loadAdapter(join(adapter, ADAPTER_WEIGHTS));
    if (o.lora === false) handle.enableFullFinetune();
    return { handle, lora, fullFinetune: o.lora === false };
  } catch (error) {
    handle.dispose();
    throw fromNativeError(error);
  }
}
