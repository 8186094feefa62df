// Writing what training produced: a PEFT adapter folder, or a merged plain
// Hugging Face checkpoint. Weights go through the native atomic writer;
// JSON files are written to a temporary name and renamed.
import { existsSync } from 'node:fs';
import { copyFile, lstat, mkdir, rename, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';

import { LoraNodeError } from '../errors.js';
import { nonEmptyString } from '../validate.js';
import { type FourBitConfig, configWithLabels } from '../hf-config.js';
import type { NativeModelHandle } from '../native/types.js';
import type { Task } from '../task.js';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS, adapterConfigJson } from './adapter-config.js';
import { type LoraNodeMetadata, METADATA_FILE, metadataJson } from './metadata.js';
import type { ResolvedLora } from './options.js';
import { nativeLabels, saveRiskHead } from '../risk/head.js';

/** Tokenizer files copied next to saved weights, so the folder is a complete checkpoint. */
export const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'vocab.txt', 'special_tokens_map.json'];

/** Creates the output folder `dir` (a non-empty path string, else ERR_INVALID_ARGUMENT). */
export async function makeOutputDir(dir: unknown): Promise<string> {
  const path = nonEmptyString(dir, 'dir');
  try {
    await mkdir(path, { recursive: true });
  } catch (error) {
    throw new LoraNodeError('ERR_IO', `Cannot create the folder ${path}: ${(error as Error).message}`, { cause: error });
  }
  return path;
}

/** Temp file + rename: a crash never leaves a half-written file. */
export async function writeAtomic(path: string, text: string): Promise<void> {
  const existing = await lstat(path).catch(() => undefined);
  if (existing && !existing.isFile() && !existing.isSymbolicLink())
    throw new LoraNodeError('ERR_IO', `${path}: exists and is not a regular file; not replacing it`);
  const temp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  await writeFile(temp, text);
  await rename(temp, path);
}

export interface SaveContext {
  handle: NativeModelHandle;
  checkpointDir: string;
  /** base_model_name_or_path of a saved adapter (a hub repo id); default: checkpointDir's folder name. */
  baseModelName?: string;
  labels: readonly string[];
  task: Task;
  metadata: Omit<LoraNodeMetadata, 'format' | 'labels' | 'task'>;
  /** The 4-bit settings the model was quantized with on load (undefined: as the checkpoint was). */
  quantization?: FourBitConfig;
  /** The model has a risk head (features / ordinal): written to lora_node_head.safetensors. */
  riskHead?: boolean;
}

export async function writeAdapter(ctx: SaveContext, lora: ResolvedLora, dir: string): Promise<void> {
  await makeOutputDir(dir);
  await ctx.handle.saveTrainable(join(dir, ADAPTER_WEIGHTS), { format: 'pt' });
  await writeAtomic(join(dir, ADAPTER_CONFIG), adapterConfigJson(lora, ctx.baseModelName ?? basename(ctx.checkpointDir)));
  await writeAtomic(join(dir, METADATA_FILE), metadataJson({ format: 1, labels: [...ctx.labels], task: ctx.task, ...ctx.metadata }));
  if (ctx.riskHead) await saveRiskHead(ctx.handle, dir);
}

/**
 * A plain HF checkpoint with the LoRA updates folded in (the model is unmerged again after).
 * A 4-bit base stays 4-bit: each adapted weight is dequantized, updated and re-quantized,
 * which rounds it again (use a full-precision base for an exact merge).
 */
export async function writeMerged(ctx: SaveContext, dir: string): Promise<void> {
  await makeOutputDir(dir);
  ctx.handle.mergeLora();
  try {
    await ctx.handle.saveStateDict(join(dir, 'model.safetensors'), { format: 'pt' });
  } finally {
    ctx.handle.unmergeLora();
  }
  const fourBit = ctx.handle.info().quantized ? (ctx.quantization ?? 'keep') : undefined;
  const hf = nativeLabels(ctx.labels, ctx.task);  // an ordinal head is one score output in config.json
  await writeAtomic(join(dir, 'config.json'), await configWithLabels(ctx.checkpointDir, hf.labels, hf.task, fourBit));
  for (const file of TOKENIZER_FILES)
    if (existsSync(join(ctx.checkpointDir, file))) await copyFile(join(ctx.checkpointDir, file), join(dir, file));
  await writeAtomic(join(dir, METADATA_FILE), metadataJson({ format: 1, labels: [...ctx.labels], task: ctx.task, ...ctx.metadata }));
  if (ctx.riskHead) await saveRiskHead(ctx.handle, dir);
}
