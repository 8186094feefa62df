// MaskedLanguageModel: a DistilBertForMaskedLM checkpoint (or any DistilBERT base,
// whose MLM head is then initialised fresh) for fill-mask scoring, custom loops
// and golden tests: forward with labels (-100 = no loss), backward, gradients.
import type { TokenBatch } from '../classifier.js';
import { expected } from '../errors.js';
import type { LoraOptions, ResolvedLora } from '../lora/options.js';
import { loadAddon } from '../native/loader.js';
import { openModel } from '../native/open-model.js';
import type { NativeMaskedLmResult, NativeModelHandle, NativeModelInfo } from '../native/types.js';
import { optionsObject } from '../validate.js';
import { writeMaskedLm } from './save.js';
import { TrainableHolder } from '../native/trainable-holder.js';

export interface MaskedLanguageModelOptions {
  device?: 'auto' | 'cpu' | 'cuda' | `cuda:${number}`;
  precision?: 'auto' | 'fp32' | 'bf16' | 'fp16';
  threads?: number;
  /** New LoRA adapters (true = defaults), or false: every parameter trainable (gradients of all). */
  lora?: LoraOptions | boolean;
  seed?: number;
}

export interface MaskedLmForwardOptions {
  /** Int32Array [B × T]: the token to predict at each position, -100 where no loss is taken. */
  labels?: Int32Array;
  /** Backpropagate the loss (gradients accumulate until zeroGrad()). Needs labels. */
  backward?: boolean;
  /** Dropout active. Default false. */
  train?: boolean;
  /** Return logits at every position ([B × T × vocabSize]). Default: true without labels, false with. */
  allLogits?: boolean;
}

export class MaskedLanguageModel extends TrainableHolder {
  readonly info: NativeModelInfo;
  readonly lora: ResolvedLora | undefined;

  private constructor(private readonly checkpointDir: string, handle: NativeModelHandle, lora: ResolvedLora | undefined) {
    super(handle, 'MaskedLanguageModel');
    this.lora = lora;
    this.info = handle.info();
  }

  static async load(checkpointDir: string, options?: MaskedLanguageModelOptions): Promise<MaskedLanguageModel> {
    const o = optionsObject(options, 'options') as MaskedLanguageModelOptions;
    const lora = o.lora === true ? { modulesToSave: [] } : o.lora === undefined ? undefined : o.lora === false ? false : { modulesToSave: [], ...o.lora };
    const opened = await openModel(checkpointDir, { ...o, lora, maskedLm: true });
    return new MaskedLanguageModel(checkpointDir, opened.handle, opened.lora);
  }

  /** Why the MLM head was initialised fresh ('' when it came from the checkpoint). */
  get headNotice(): string {
    return this.info.headNotice;
  }

  async forward(batch: TokenBatch, options?: MaskedLmForwardOptions): Promise<NativeMaskedLmResult> {
    const o = optionsObject(options, 'options') as MaskedLmForwardOptions;
    const b = optionsObject(batch, 'batch') as Partial<TokenBatch>;
    for (const key of ['inputIds', 'attentionMask'] as const)
      if (!(b[key] instanceof Int32Array)) throw expected('an Int32Array', `batch.${key}`, b[key]);
    if (o.labels !== undefined && !(o.labels instanceof Int32Array)) throw expected('an Int32Array', 'options.labels', o.labels);
    if (o.backward === true && o.labels === undefined) throw expected('labels for a forward with backward: true', 'options.labels', undefined);
    const labels = o.labels ?? new Int32Array(b.inputIds!.length).fill(-100);
    const allLogits = o.allLogits ?? o.labels === undefined;
    return this.enqueue((h) =>
      loadAddon().maskedLmForward(h, b.inputIds!, b.attentionMask!, labels, b.batchSize!, b.seqLen!, {
        train: o.train === true,
        backward: o.backward === true,
        allLogits,
      }),
    );
  }


  /** Writes a DistilBertForMaskedLM checkpoint folder (LoRA merged in). */
  async save(dir: string): Promise<void> {
    await this.enqueue((h) => writeMaskedLm(h, this.checkpointDir, dir));
  }
}
