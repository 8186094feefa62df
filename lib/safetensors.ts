// safetensors files from JavaScript, through the native reader/writer
// (validated headers, atomic writes).
import { fromNativeError } from './errors.js';
import { loadAddon } from './native/loader.js';
import type { SafetensorsContents, StoredTensor } from './native/types.js';
import { nonEmptyString } from './validate.js';

export type { SafetensorsContents, StoredTensor, SafetensorsDtype, TensorData } from './native/types.js';

export async function readSafetensors(path: string): Promise<SafetensorsContents> {
  try {
    return await loadAddon().readSafetensors(nonEmptyString(path, 'path'));
  } catch (error) {
    throw fromNativeError(error);
  }
}

export async function writeSafetensors(
  path: string,
  tensors: Record<string, StoredTensor>,
  metadata?: Record<string, string>,
): Promise<void> {
  try {
    await loadAddon().writeSafetensors(nonEmptyString(path, 'path'), tensors, metadata);
  } catch (error) {
    throw fromNativeError(error);
  }
}
