// Classifier: a Hugging Face DistilBERT sequence-classification checkpoint,
// loaded into libtorch, classifying texts off the JavaScript thread.
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { FormatError, LoraNodeError, expected } from './errors.js';
import { resolveModelSource } from './hub/fetch-model.js';
import type { HubOptions } from './hub/settings.js';
import { type EncodedFeatures, encodeFeatures, featureRows, range } from './features/encode.js';
import type { FeatureSchema, Features } from './features/schema.js';
import type { LoraNodeMetadata } from './lora/metadata.js';
import type { DecisionThreshold } from './metrics/operating-point.js';
import { openModel } from './native/open-model.js';
import { outputWidth } from './risk/head.js';
import type { ModelQuantizationOptions } from './quantizer.js';
import type { NativeModelHandle, NativeModelInfo } from './native/types.js';
import { type LongTextOptions, combineWindows, resolveLongText, windowBatches } from './long-text.js';
import { type Prediction, type Task, outputValues, predictionFromLogits, predictionFromValues, taskFromConfig, thresholdFor } from './task.js';
import { type EncodedBatch, TextTokenizer } from './tokenizer.js';
import { isPlainObject, nonEmptyString, optionsObject, positiveInteger, textList } from './validate.js';
import { MultiAdapterClassifier, type MultiAdapterClassifierOptions } from './multi-classifier.js';
import { NativeHolder } from './native/native-holder.js';

export type Device = 'auto' | 'cpu' | 'cuda' | `cuda:${number}`;
export type Precision = 'auto' | 'fp32' | 'bf16' | 'fp16';

export interface ClassifierOptions {
  /** 'auto' picks CUDA when this libtorch has a GPU. Default 'auto'. */
  device?: Device;
  /** libtorch intra-op threads. Default: the available cores. */
  threads?: number;
  /** Longest input in tokens, special tokens included. Default: the tokenizer's, at most 512. */
  maxLength?: number;
  /** Matmul precision; 'auto' uses bf16 where the hardware runs it fast. Default 'auto'. */
  precision?: Precision;
  /** A PEFT LoRA adapter folder to apply on top of the checkpoint. */
  adapter?: string;
  /** Hold the transformer-block linears in 4 bits (a 4-bit checkpoint is read as 4-bit anyway). */
  quantization?: ModelQuantizationOptions;
  /** For a hub repo id (checkpoint or adapter): revision, cacheDir, token, offline... Default: the HF_* variables. */
  hub?: HubOptions;
}

export interface PredictOptions {
  /** Texts per forward pass. Default 32. */
  batchSize?: number;
  /**
   * Multi-label: probability above which a label is on. Binary: probability of the second
   * label above which it is predicted. Default: the threshold(s) chosen in training, else 0.5.
   */
  threshold?: number;
  /** One features object per text, for a model trained with features (see `Classifier.features`). */
  features?: Features[];
  /**
   * Read texts longer than maxLength in overlapping windows and combine them ('mean' of the
   * windows' probabilities, or 'max': the strongest window); see lib/long-text.ts. Default: a
   * long text is cut to its first maxLength tokens (its prediction says truncated: true).
   */
  longTexts?: LongTextOptions;
}

/** Token ids for `logits()`: row-major [batchSize, seqLen]. */
export type TokenBatch = EncodedBatch;

export class Classifier extends NativeHolder<NativeModelHandle> {
  readonly labels: readonly string[];
  readonly task: Task;
  readonly device: string;
  readonly precision: NativeModelInfo['precision'];
  /** Why `precision` was chosen (shown by `doctor`). */
  readonly precisionReason: string;
  readonly maxLength: number;
  /** Multi-label: per-label thresholds tuned on the evaluation set (from lora-node.json), if any. */
  readonly thresholds: readonly number[] | undefined;
  /** Binary: the decision threshold chosen in training (options.threshold, from lora-node.json), if any. */
  readonly decisionThreshold: DecisionThreshold | undefined;
  /** Binary, multi-class: the softmax temperature fitted in training (options.calibrate), if any. */
  readonly temperature: number | undefined;
  /** The tabular features this model takes beside the text (from lora-node.json), if any. */
  readonly features: FeatureSchema | undefined;

  // Absent when the checkpoint ships no tokenizer: logits() still works, predict() explains.
  private readonly tokenizer: TextTokenizer | undefined;
  private readonly tokenizerProblem: LoraNodeError | undefined;
  private readonly info: NativeModelInfo;

  private constructor(
    handle: NativeModelHandle,
    tokenizer: TextTokenizer | LoraNodeError,
    maxLength: number,
    metadata?: LoraNodeMetadata,
  ) {
    super(handle, 'Classifier');
    this.thresholds = metadata?.thresholds;
    this.decisionThreshold = metadata?.decisionThreshold;
    this.temperature = metadata?.temperature;
    this.features = metadata?.features;
    this.tokenizer = tokenizer instanceof LoraNodeError ? undefined : tokenizer;
    this.tokenizerProblem = tokenizer instanceof LoraNodeError ? tokenizer : undefined;
    this.info = handle.info();
    // An ordinal model holds one score output natively; its classes are lora-node.json's.
    const ordinal = metadata?.task === 'ordinal';
    this.labels = Object.freeze([...(ordinal ? metadata.labels : this.info.labels)]);
    this.task = ordinal ? 'ordinal' : taskFromConfig(this.info.problemType, this.info.labels.length);
    this.device = this.info.device;
    this.precision = this.info.precision;
    this.precisionReason = this.info.precisionReason;
    this.maxLength = maxLength;
  }

  /** Loads an HF checkpoint folder (config.json, model.safetensors, tokenizer.json or vocab.txt). */
  // --- one base, many adapters: options.adapters gives a MultiAdapterClassifier (lib/multi-classifier.ts) ---
  static load(checkpointDir: string, options: MultiAdapterClassifierOptions): Promise<MultiAdapterClassifier>;
  static load(checkpointDir: string, options?: ClassifierOptions): Promise<Classifier>;
  static async load(
    checkpointDir: string,
    options?: ClassifierOptions | MultiAdapterClassifierOptions,
  ): Promise<Classifier | MultiAdapterClassifier> {
    if (isPlainObject(options) && 'adapters' in options && options.adapters !== undefined)
      return MultiAdapterClassifier.load(checkpointDir, options as unknown as MultiAdapterClassifierOptions);
    // --- end one base, many adapters ---
    const o = optionsObject(options, 'options');
    const dir = await resolveModelSource(nonEmptyString(checkpointDir, 'checkpointDir'), o.hub as HubOptions | undefined, 'options.hub');
    const maxLength = o.maxLength === undefined ? undefined : positiveInteger(o.maxLength, 'options.maxLength');
    const { handle, metadata } = await openModel(dir, {
      device: o.device,
      precision: o.precision,
      threads: o.threads,
      adapter: o.adapter,
      quantization: o.quantization,
      hub: o.hub,
    });
    const positions = handle.info().maxPositionEmbeddings;
    const hasTokenizer = ['tokenizer.json', 'vocab.txt'].some((file) => existsSync(join(dir, file)));
    if (!hasTokenizer) {
      const problem = new FormatError(
        'ERR_TOKENIZER',
        `${dir} has no tokenizer (looked for tokenizer.json and vocab.txt): predict() needs one; logits() takes token ids`,
      );
      return new Classifier(handle, problem, Math.min(maxLength ?? positions, positions), metadata);
    }
    try {
      const tokenizer = await TextTokenizer.fromDirectory(dir, maxLength === undefined ? {} : { maxLength });
      return new Classifier(handle, tokenizer, Math.min(tokenizer.maxLength, positions), metadata);
    } catch (error) {
      handle.dispose();
      throw error;
    }
  }

  /** Classifies texts; results are in input order. */
  async predict(texts: string[], options?: PredictOptions): Promise<Prediction[]> {
    this.live();
    const list = textList(texts, 'texts');
    const o = optionsObject(options, 'options');
    const batchSize = positiveInteger(o.batchSize, 'options.batchSize', 32);
    if (o.threshold !== undefined && (typeof o.threshold !== 'number' || !(o.threshold >= 0 && o.threshold <= 1)))
      throw expected('a number in [0, 1]', 'options.threshold', o.threshold);
    const threshold = thresholdFor(o.threshold as number | undefined, this);
    const features = this.encodeFeatures(o.features, list.length);
    if (o.longTexts !== undefined) return this.predictInWindows(list, o.longTexts, { batchSize, threshold, features });
    // Texts of similar length share a batch, so little compute goes to padding;
    // right padding is masked, so a text's logits do not depend on its batch.
    const order = list.map((_, i) => i).sort((a, b) => list[a]!.length - list[b]!.length);
    const results: Prediction[] = new Array<Prediction>(list.length);
    const K = outputWidth(this.labels, this.task);
    for (let start = 0; start < order.length; start += batchSize) {
      const indices = order.slice(start, start + batchSize);
      const batch = this.requireTokenizer().encodeBatch(indices.map((i) => list[i]!), { maxLength: this.maxLength });
      const logits = await this.run(batch, features && featureRows(features, indices));
      indices.forEach((textIndex, row) => {
        results[textIndex] = predictionFromLogits(logits.subarray(row * K, (row + 1) * K), this.labels, this.task, threshold, this.temperature);
        if (batch.truncated?.[row]) results[textIndex]!.truncated = true;
      });
    }
    return results;
  }

  /** predict() with options.longTexts: every window of every text, then one output per text. */
  private async predictInWindows(
    list: string[],
    longTexts: unknown,
    o: { batchSize: number; threshold: number | readonly number[] | undefined; features: EncodedFeatures | undefined },
  ): Promise<Prediction[]> {
    const tokenizer = this.requireTokenizer();
    const { aggregate, overlap } = resolveLongText(longTexts, this.task, this.maxLength - tokenizer.specialTokensPerText);
    const task = this.task as Exclude<Task, 'ordinal'>;
    const K = outputWidth(this.labels, this.task);
    const outputs: number[][][] = list.map(() => []);
    for await (const { rows, owners } of windowBatches(tokenizer, list, { maxLength: this.maxLength, overlap, batchSize: o.batchSize })) {
      const logits = await this.run(rows, o.features && featureRows(o.features, owners));
      owners.forEach((owner, r) => outputs[owner]!.push(outputValues(logits.subarray(r * K, (r + 1) * K), task, this.temperature)));
    }
    return outputs.map((windows) => ({ ...predictionFromValues(combineWindows(windows, task, aggregate), this.labels, task, o.threshold), windows: windows.length }));
  }

  /**
   * Raw logits for token ids: Float32Array, row-major [batchSize, numLabels] (ordinal: the K-1
   * cumulative logits). A model trained with features takes them as in predict().
   */
  async logits(batch: TokenBatch, options?: { features?: Features[] }): Promise<Float32Array> {
    this.live();
    const b = this.checkBatch(batch);
    const features = this.encodeFeatures(optionsObject(options, 'options').features, b.batchSize);
    return this.run(b, features && featureRows(features, range(0, b.batchSize)));
  }

  /** Logits plus every layer's hidden states (index 0 = embeddings), for inspection and tests. */
  async forwardWithHiddenStates(batch: TokenBatch): Promise<{ logits: Float32Array; hiddenStates: Float32Array[] }> {
    this.live();
    const b = this.checkBatch(batch);
    const out = await this.enqueue((h) => h.forward(b.inputIds, b.attentionMask, b.batchSize, b.seqLen, { wantHidden: true }));
    return { logits: out.logits, hiddenStates: out.hiddenStates ?? [] };
  }

  /** Encodes texts exactly as predict() does (for logits()). */
  encode(texts: string[]): TokenBatch {
    this.live();
    return this.requireTokenizer().encodeBatch(textList(texts, 'texts'), { maxLength: this.maxLength });
  }

  private requireTokenizer(): TextTokenizer {
    if (!this.tokenizer) throw this.tokenizerProblem!;
    return this.tokenizer;
  }

  private checkBatch(batch: TokenBatch): TokenBatch {
    const b = optionsObject(batch, 'batch') as Partial<TokenBatch>;
    const batchSize = positiveInteger(b.batchSize, 'batch.batchSize');
    const seqLen = positiveInteger(b.seqLen, 'batch.seqLen');
    if (seqLen > this.info.maxPositionEmbeddings)
      throw expected(`a seqLen of at most ${this.info.maxPositionEmbeddings} (max_position_embeddings)`, 'batch.seqLen', seqLen);
    for (const key of ['inputIds', 'attentionMask'] as const) {
      const array = b[key];
      if (!(array instanceof Int32Array)) throw expected('an Int32Array', `batch.${key}`, array);
      if (array.length !== batchSize * seqLen)
        throw expected(`an Int32Array of length ${batchSize * seqLen} (batchSize × seqLen)`, `batch.${key}`, array);
    }
    const ids = b.inputIds!;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (id < 0 || id >= this.info.vocabSize)
        throw expected(`token ids in [0, ${this.info.vocabSize})`, `batch.inputIds[${i}]`, id);
    }
    return { inputIds: ids, attentionMask: b.attentionMask!, batchSize, seqLen };
  }

  private async run(batch: TokenBatch, features?: { numericFeatures?: Float32Array; categoricalFeatures?: Int32Array }): Promise<Float32Array> {
    const out = await this.enqueue((h) => h.forward(batch.inputIds, batch.attentionMask, batch.batchSize, batch.seqLen, features));
    return out.logits;
  }

  /** options.features checked against the model's features (rules in lib/features/encode.ts). */
  private encodeFeatures(given: unknown, count: number): EncodedFeatures | undefined {
    if (!this.features) {
      if (given !== undefined) throw expected('no options.features (this model was trained on text alone)', 'options.features', given);
      return undefined;
    }
    const names = [...this.features.numeric, ...this.features.categorical].map((f) => f.name).join(', ');
    if (!Array.isArray(given) || given.length !== count)
      throw expected(`an array of ${count} feature objects (one per text, with ${names})`, 'options.features', given);
    return encodeFeatures(this.features, given, 'options.features', 'ERR_INVALID_ARGUMENT');
  }
}
