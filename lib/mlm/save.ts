// Writing a masked language model as transformers' DistilBertForMaskedLM saves it:
// distilbert.*, vocab_transform.*, vocab_layer_norm.*, vocab_projector.bias, and no
// vocab_projector.weight (tied to the word embeddings, so save_pretrained drops it);
// config.json with architectures ["DistilBertForMaskedLM"] and no labels.
import { existsSync } from 'node:fs';
import { copyFile, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';

import { pythonJson } from '../hf-config.js';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS, adapterConfigJson } from '../lora/adapter-config.js';
import type { ResolvedLora } from '../lora/options.js';
import { TOKENIZER_FILES, makeOutputDir, writeAtomic } from '../lora/save.js';
import type { NativeModelHandle } from '../native/types.js';

export const MLM_ARCHITECTURE = 'DistilBertForMaskedLM';

/** The source config.json turned into a DistilBertForMaskedLM one (labels and problem_type dropped). */
export async function maskedLmConfigJson(sourceDir: string): Promise<string> {
  const config = JSON.parse(await readFile(join(sourceDir, 'config.json'), 'utf8')) as Record<string, unknown>;
  for (const key of ['id2label', 'label2id', 'num_labels', 'problem_type', 'quantization_config']) delete config[key];
  config.architectures = [MLM_ARCHITECTURE];
  return pythonJson(config) + '\n';
}

export async function copyTokenizerFiles(sourceDir: string, dir: string): Promise<void> {
  for (const file of TOKENIZER_FILES)
    if (existsSync(join(sourceDir, file))) await copyFile(join(sourceDir, file), join(dir, file));
}

/** A complete HF checkpoint folder; LoRA updates are merged in for the save and taken out again. */
export async function writeMaskedLm(handle: NativeModelHandle, sourceDir: string, dir: string): Promise<void> {
  await makeOutputDir(dir);
  handle.mergeLora();
  try {
    await handle.saveStateDict(join(dir, 'model.safetensors'), { format: 'pt' });
  } finally {
    handle.unmergeLora();
  }
  await writeAtomic(join(dir, 'config.json'), await maskedLmConfigJson(sourceDir));
  await copyTokenizerFiles(sourceDir, dir);
}

/** A PEFT adapter (task_type null: PEFT has no masked-LM task type); the MLM head stays frozen under LoRA. */
export async function writeMaskedLmAdapter(handle: NativeModelHandle, lora: ResolvedLora, sourceDir: string, dir: string): Promise<void> {
  await makeOutputDir(dir);
  await handle.saveTrainable(join(dir, ADAPTER_WEIGHTS), { format: 'pt' });
  await writeAtomic(join(dir, ADAPTER_CONFIG), adapterConfigJson(lora, basename(sourceDir), null));
}
