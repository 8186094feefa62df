// adapter_config.json as PEFT writes and reads it (LoraConfig, task SEQ_CLS).
// We write only long-standing keys; on reading, unknown keys are ignored.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { FormatError } from '../errors.js';
import { isPlainObject } from '../validate.js';
import { type ResolvedLora, resolveLoraOptions } from './options.js';

export const ADAPTER_CONFIG = 'adapter_config.json';
export const ADAPTER_WEIGHTS = 'adapter_model.safetensors';

/** taskType: PEFT's task_type (null for a masked-language-model adapter, which PEFT has no task type for). */
export function adapterConfigJson(lora: ResolvedLora, baseModel: string, taskType: string | null = 'SEQ_CLS'): string {
  const config: Record<string, unknown> = {
    alpha_pattern: lora.alphaPattern,
    base_model_name_or_path: baseModel,
    bias: lora.bias,
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: lora.init,
    layers_pattern: null,
    layers_to_transform: lora.layersToTransform,
    lora_alpha: lora.alpha,
    lora_dropout: lora.dropout,
    modules_to_save: lora.modulesToSave,
    peft_type: 'LORA',
    r: lora.r,
    rank_pattern: lora.rankPattern,
    revision: null,
    target_modules: lora.targetModules,
    task_type: taskType,
    use_rslora: lora.useRslora,
  };
  // PEFT writes json.dumps(..., indent=2, sort_keys=True).
  const sorted = Object.fromEntries(Object.keys(config).sort().map((k) => [k, config[k]]));
  return JSON.stringify(sorted, null, 2) + '\n';
}

function bad(file: string, message: string): FormatError {
  return new FormatError('ERR_CONFIG', `${file}: ${message}`);
}

/** Reads a PEFT LoRA adapter_config.json into our resolved options. */
export async function readAdapterConfig(dir: string): Promise<ResolvedLora> {
  const file = join(dir, ADAPTER_CONFIG);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new FormatError('ERR_CONFIG', `missing ${file}: a PEFT adapter folder needs adapter_config.json`);
  }
  let c: unknown;
  try {
    c = JSON.parse(text);
  } catch (error) {
    throw bad(file, `not valid JSON (${(error as Error).message})`);
  }
  if (!isPlainObject(c)) throw bad(file, 'expected a JSON object');
  if (c.peft_type !== 'LORA') throw bad(file, `peft_type is ${JSON.stringify(c.peft_type)}; lora-node reads "LORA" adapters`);
  if (c.fan_in_fan_out === true) throw bad(file, 'fan_in_fan_out: true (Conv1D layouts) does not apply to DistilBERT');
  if (c.use_dora === true) throw bad(file, 'use_dora: true (DoRA) is not supported');
  const init = c.init_lora_weights;
  try {
    return resolveLoraOptions({
      r: c.r,
      alpha: c.lora_alpha,
      dropout: c.lora_dropout ?? 0,
      targetModules: c.target_modules ?? undefined,
      bias: c.bias ?? 'none',
      modulesToSave: c.modules_to_save ?? [],
      useRslora: c.use_rslora ?? false,
      init: init === 'gaussian' ? 'gaussian' : true,
      layersToTransform: typeof c.layers_to_transform === 'number' ? [c.layers_to_transform] : (c.layers_to_transform ?? undefined),
      rankPattern: c.rank_pattern ?? undefined,
      alphaPattern: c.alpha_pattern ?? undefined,
    });
  } catch (error) {
    throw bad(file, (error as Error).message);
  }
}
