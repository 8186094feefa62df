// The small DistilBERT shipped in the package (models/): pretrained by lora-node's
// own MLM training on WordNet glosses, bert-base-uncased vocabulary, weights in bf16.
// Re-made by `node benchmarks/pretrain/pretrain.mjs`; see models/README.md.
import { join } from 'node:path';

import { packageRoot } from './native/package-root.js';

export const BUNDLED_MODEL_NAME = 'distilbert-wordnet-mini';

/** The bundled model's Hugging Face folder (a DistilBertForMaskedLM checkpoint with its tokenizer). */
export const bundledModelPath: string = join(packageRoot(), 'models', BUNDLED_MODEL_NAME);
