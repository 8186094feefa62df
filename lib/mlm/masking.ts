// MLM options and the masking spec the native loop applies (native/core/mlm_masking.h):
// special tokens are never masked, "##" pieces belong to the word before them.
import { FormatError, expected } from '../errors.js';
import type { NativeMaskingSpec } from '../native/types.js';
import type { TextTokenizer } from '../tokenizer.js';
import { optionsObject } from '../validate.js';

export interface MlmOptions {
  /** Share of tokens selected for prediction. Default 0.15. */
  probability?: number;
  /** Select whole words: a word's "##" pieces are masked with it. Default false. */
  wholeWordMasking?: boolean;
  /** Ignore the checkpoint's weights and start from a random initialisation of its config.json. Default false. */
  fromScratch?: boolean;
}

export interface ResolvedMlm {
  probability: number;
  wholeWordMasking: boolean;
  fromScratch: boolean;
}

export function resolveMlmOptions(value: unknown): ResolvedMlm {
  const o = optionsObject(value, 'options.mlm');
  const probability = o.probability ?? 0.15;
  if (typeof probability !== 'number' || !(probability > 0 && probability < 1))
    throw expected('a number in (0, 1)', 'options.mlm.probability', probability);
  for (const key of ['wholeWordMasking', 'fromScratch'] as const)
    if (o[key] !== undefined && typeof o[key] !== 'boolean') throw expected('a boolean', `options.mlm.${key}`, o[key]);
  return { probability, wholeWordMasking: o.wholeWordMasking === true, fromScratch: o.fromScratch === true };
}

/** The native masking spec for a tokenizer's vocabulary (80% [MASK], 10% random, 10% unchanged). */
export function maskingSpec(tokenizer: TextTokenizer, options: ResolvedMlm, vocabSize = tokenizer.vocabSize): NativeMaskingSpec {
  const ids = tokenizer.specialTokenIds;
  if (ids.mask === undefined) throw new FormatError('ERR_TOKENIZER', 'The tokenizer has no mask token ([MASK]); masked-language modelling needs one');
  const special = new Uint8Array(vocabSize);
  for (const id of ids.all) if (id < vocabSize) special[id] = 1;
  const spec: NativeMaskingSpec = { probability: options.probability, maskFraction: 0.8, randomFraction: 0.1, maskTokenId: ids.mask, special };
  if (options.wholeWordMasking) {
    const continuation = new Uint8Array(vocabSize);
    tokenizer.vocabulary().forEach((token, id) => {
      if (id < vocabSize && token.startsWith('##')) continuation[id] = 1;
    });
    spec.wholeWord = true;
    spec.continuation = continuation;
  }
  return spec;
}
