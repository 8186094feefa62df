// The MLM side of Trainer.train(): the base to load (the checkpoint, or a random
// initialisation of its config for fromScratch), packed train / held-out text and
// the masking spec.
import { existsSync } from 'node:fs';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { FormatError, LoraNodeError } from '../errors.js';
import type { NativeMaskingSpec } from '../native/types.js';
import { TextTokenizer } from '../tokenizer.js';
import type { PreparedData } from '../trainer/dataset.js';
import type { ResolvedTrainerOptions } from '../trainer/options.js';
import { initMaskedLm } from './init.js';
import { maskingSpec } from './masking.js';
import { type PackedText, checkTextExamples, packTexts } from './packing.js';

export interface MaskedLmRun {
  /** The folder the model loads from (a fresh temporary one for fromScratch). */
  modelDir: string;
  /** The temporary folder fromScratch created (removed on dispose). */
  initDir: string | undefined;
  train: PreparedData;
  held: PackedText | undefined;
  spec: NativeMaskingSpec;
}

export async function prepareMaskedLm(o: ResolvedTrainerOptions, trainExamples: unknown, evalExamples: unknown): Promise<MaskedLmRun> {
  const mlm = o.mlm!;
  const texts = checkTextExamples(trainExamples, 'trainExamples');
  const heldTexts = evalExamples === undefined ? undefined : checkTextExamples(evalExamples, 'evalExamples');
  const tokenizer = await TextTokenizer.fromDirectory(o.model, { maxLength: o.maxLength });
  const weights = ['model.safetensors', 'model.safetensors.index.json'].some((f) => existsSync(join(o.model, f)));
  if (!mlm.fromScratch && !weights)
    throw new LoraNodeError('ERR_IO', `${o.model} has no model.safetensors: pass mlm: { fromScratch: true } to pretrain from a random initialisation of its config.json`);
  const config = JSON.parse(await readFile(join(o.model, 'config.json'), 'utf8')) as { vocab_size?: number };
  const vocabSize = config.vocab_size ?? 30522;
  if (tokenizer.vocabSize > vocabSize)
    throw new FormatError('ERR_CONFIG', `${o.model}: the tokenizer has ${tokenizer.vocabSize} ids but config.json's vocab_size is ${vocabSize}`);
  let initDir: string | undefined;
  if (mlm.fromScratch) {
    initDir = await mkdtemp(join(tmpdir(), 'lora-node-mlm-init-'));
    await initMaskedLm(o.model, initDir, o.seed);
  }
  const packed = packTexts(tokenizer, texts, o.maxLength);
  return {
    modelDir: initDir ?? o.model,
    initDir,
    train: { ids: packed.ids, offsets: packed.offsets, labels: new Int32Array(packed.count), count: packed.count },
    held: heldTexts && packTexts(tokenizer, heldTexts, o.maxLength),
    spec: maskingSpec(tokenizer, mlm, vocabSize),
  };
}
