// Model: the low-level handle for custom loops and golden tests — forward with
// an optional loss and backward, gradients by PEFT key, adapters, merging.
import type { TokenBatch } from './classifier.js';
import { expected } from './errors.js';
import type { LoraOptions, ResolvedLora } from './lora/options.js';
import { type SaveContext, writeAdapter, writeMerged } from './lora/save.js';
import type { FourBitConfig } from './hf-config.js';
import { resolveModelSource } from './hub/fetch-model.js';
import type { HubOptions } from './hub/settings.js';
import { openModel } from './native/open-model.js';
import type { ModelQuantizationOptions } from './quantizer.js';
import type { NativeForwardOptions, NativeModelHandle, NativeModelInfo } from './native/types.js';
import { type Task, taskFromConfig } from './task.js';
import { nonEmptyString, optionsObject } from './validate.js';
import { TrainableHolder } from './native/trainable-holder.js';

export interface ModelOptions {
  device?: 'auto' | 'cpu' | 'cuda' | `cuda:${number}`;
  precision?: 'auto' | 'fp32' | 'bf16' | 'fp16';
  threads?: number;
  /** A PEFT adapter folder (adapter_config.json + adapter_model.safetensors) to apply. */
  adapter?: string;
  /** Attach new LoRA adapters (true = defaults), or false for full fine-tuning. */
  lora?: LoraOptions | boolean;
  /** Seed of LoRA initialisation and dropout masks. Default 42. */
  seed?: number;
  /** QLoRA: hold the transformer-block linears in 4 bits ({ type: 'nf4', blockSize: 64, doubleQuant: true }). */
  quantization?: ModelQuantizationOptions;
  /** For a hub repo id (checkpoint or adapter): revision, cacheDir, token, offline... Default: the HF_* variables. */
  hub?: HubOptions;
}

export interface ForwardOptions {
  /** Class ids (Int32Array [B]) or targets (Float32Array [B × numLabels]) to compute the loss. */
  labels?: Int32Array | Float32Array;
  /** Dropout active. Default false. */
  train?: boolean;
  /** Backpropagate the loss into the trainable parameters (gradients accumulate until zeroGrad()). */
  backward?: boolean;
  classWeights?: Float32Array;
  posWeight?: Float32Array;
  /** Override the loss that problem_type selects: cross-entropy, BCE-with-logits or MSE. */
  lossKind?: 'ce' | 'bce' | 'mse';
}

export class Model extends TrainableHolder {
  readonly labels: readonly string[];
  readonly task: Task;
  readonly info: NativeModelInfo;
  readonly lora: ResolvedLora | undefined;

  private constructor(
    private readonly checkpointDir: string,
    handle: NativeModelHandle,
    lora: ResolvedLora | undefined,
    private readonly quantization?: FourBitConfig,
    /** The hub repo id the checkpoint came from (base_model_name_or_path of saved adapters). */
    private readonly repoId?: string,
  ) {
    super(handle, 'Model');
    this.lora = lora;
    this.info = handle.info();
    this.labels = Object.freeze([...this.info.labels]);
    this.task = taskFromConfig(this.info.problemType, this.info.labels.length);
  }

  static async load(checkpointDir: string, options?: ModelOptions): Promise<Model> {
    const o = optionsObject(options, 'options');
    const dir = await resolveModelSource(nonEmptyString(checkpointDir, 'checkpointDir'), o.hub as HubOptions | undefined, 'options.hub');
    const opened = await openModel(dir, o);
    return new Model(dir, opened.handle, opened.lora, opened.quantization, dir === checkpointDir ? undefined : checkpointDir);
  }

  async forward(batch: TokenBatch, options?: ForwardOptions): Promise<{ logits: Float32Array; loss?: number }> {
    const o = optionsObject(options, 'options') as ForwardOptions;
    const b = optionsObject(batch, 'batch') as Partial<TokenBatch>;
    for (const key of ['inputIds', 'attentionMask'] as const)
      if (!(b[key] instanceof Int32Array)) throw expected('an Int32Array', `batch.${key}`, b[key]);
    const native: NativeForwardOptions = { train: o.train === true, backward: o.backward === true };
    if (o.labels !== undefined) native.labels = o.labels;
    if (o.classWeights !== undefined) native.classWeights = o.classWeights;
    if (o.posWeight !== undefined) native.posWeight = o.posWeight;
    if (o.lossKind !== undefined) native.lossKind = o.lossKind;
    const out = await this.enqueue((h) => h.forward(b.inputIds!, b.attentionMask!, b.batchSize!, b.seqLen!, native));
    return out.loss === undefined ? { logits: out.logits } : { logits: out.logits, loss: out.loss };
  }


  /** Folds scale·B·A into the base weights (forward unchanged up to rounding). */
  mergeLora(): void {
    this.live().mergeLora();
  }

  unmergeLora(): void {
    this.live().unmergeLora();
  }

  /** Writes a PEFT adapter folder: adapter_config.json + adapter_model.safetensors (+ lora-node.json). */
  async saveAdapter(dir: string): Promise<void> {
    const lora = this.lora;
    if (!lora) throw expected('a model with LoRA adapters (load with lora or adapter)', 'saveAdapter()', 'a model without');
    await this.enqueue((handle) => writeAdapter(this.saveContext(handle), lora, dir));
  }

  /** Writes a plain Hugging Face checkpoint with the LoRA updates merged into the weights. */
  async saveMerged(dir: string): Promise<void> {
    await this.enqueue((handle) => writeMerged(this.saveContext(handle), dir));
  }

  private saveContext(handle: NativeModelHandle): SaveContext {
    const ctx: SaveContext = { handle, checkpointDir: this.checkpointDir, labels: this.labels, task: this.task, metadata: {} };
    if (this.quantization) ctx.quantization = this.quantization;
    if (this.repoId) ctx.baseModelName = this.repoId;
    return ctx;
  }
}
