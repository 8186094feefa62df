// MultiAdapterClassifier: one DistilBERT base held once in memory, many LoRA
// adapters on it (one per risk type), all run in one native pass per batch.
// Made by Classifier.load(baseDir, { adapters: { name: dir, ... } }).
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';

import type { ClassifierOptions, PredictOptions, TokenBatch } from './classifier.js';
import { ArgumentError, FormatError, type LoraNodeError, expected, fromNativeError } from './errors.js';
import { resolveAdapterSource, resolveModelSource } from './hub/fetch-model.js';
import type { HubOptions } from './hub/settings.js';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS, readAdapterConfig } from './lora/adapter-config.js';
import { readMetadata } from './lora/metadata.js';
import type { DecisionThreshold } from './metrics/operating-point.js';
import { needsRiskHead, savedRiskHeadPlan } from './risk/head.js';
import { loraSpec } from './lora/options.js';
import { loadAddon } from './native/loader.js';
import { openModel } from './native/open-model.js';
import type { NativeModelInfo, NativeMultiModelHandle } from './native/types.js';
import { combineWindows, resolveLongText, windowBatches } from './long-text.js';
import { type Prediction, type Task, outputValues, predictionFromLogits, predictionFromValues, taskFromConfig, thresholdFor } from './task.js';
import { TextTokenizer } from './tokenizer.js';
import { isPlainObject, nonEmptyString, optionsObject, positiveInteger, textList } from './validate.js';
import { NativeHolder } from './native/native-holder.js';

export interface MultiAdapterClassifierOptions extends Omit<ClassifierOptions, 'adapter'> {
  /** PEFT LoRA adapter folders by name, all trained on this base. May be empty (add them later). */
  adapters: Record<string, string>;
}

/** One text's predictions, by adapter name. */
export type MultiPrediction = Record<string, Prediction>;

/** What an adapter brings besides its weights (from its lora-node.json, else the base's config). */
export interface AdapterInfo {
  name: string;
  dir: string;
  labels: readonly string[];
  task: Task;
  /** Multi-label: per-label thresholds tuned in training, if any. */
  thresholds: readonly number[] | undefined;
  /** Binary: the decision threshold chosen in training (options.threshold), if any. */
  decisionThreshold?: DecisionThreshold | undefined;
  /** Binary, multi-class: the softmax temperature fitted in training, if any. */
  temperature?: number | undefined;
}

export class MultiAdapterClassifier extends NativeHolder<NativeMultiModelHandle> {
  readonly device: string;
  readonly precision: NativeModelInfo['precision'];
  readonly precisionReason: string;
  readonly maxLength: number;

  private readonly tokenizer: TextTokenizer | LoraNodeError;
  private readonly baseDir: string;
  private readonly baseInfo: NativeModelInfo;
  private readonly linearNames: readonly string[];
  // Hub settings for adapters given as repo ids.
  private hub: HubOptions | undefined;
  // Names being added: a second addAdapter with the same name fails at once.
  private readonly pending = new Set<string>();
  // Forwards run one after another (as Classifier's), so they do not oversubscribe the cores.

  private constructor(
    handle: NativeMultiModelHandle,
    baseDir: string,
    baseInfo: NativeModelInfo,
    linearNames: readonly string[],
    tokenizer: TextTokenizer | LoraNodeError,
    maxLength: number,
  ) {
    super(handle, 'MultiAdapterClassifier');
    this.baseDir = baseDir;
    this.baseInfo = baseInfo;
    this.linearNames = linearNames;
    this.tokenizer = tokenizer;
    this.device = baseInfo.device;
    this.precision = baseInfo.precision;
    this.precisionReason = baseInfo.precisionReason;
    this.maxLength = maxLength;
  }

  /** Loads the base checkpoint once, then each adapter onto it. */
  static async load(baseDir: string, options: MultiAdapterClassifierOptions): Promise<MultiAdapterClassifier> {
    const o = optionsObject(options, 'options');
    const dir = await resolveModelSource(nonEmptyString(baseDir, 'checkpointDir'), o.hub as HubOptions | undefined, 'options.hub');
    if ('adapter' in o && o.adapter !== undefined) throw new ArgumentError('Expected either options.adapter or options.adapters, not both');
    const adapters = adapterDirs(o.adapters);
    const maxLength = o.maxLength === undefined ? undefined : positiveInteger(o.maxLength, 'options.maxLength');
    // The base carries no LoRA; its head (if any) serves adapters that save none.
    const { handle: base } = await openModel(dir, {
      device: o.device,
      precision: o.precision,
      threads: o.threads,
      quantization: o.quantization,
      initMissingHead: true,
    });
    let multi: NativeMultiModelHandle;
    const baseInfo = base.info();
    const linearNames = base.linearNames();
    try {
      multi = loadAddon().NativeMultiModel.fromModel(base);
    } catch (error) {
      throw fromNativeError(error);
    } finally {
      base.dispose(); // the multi-adapter model keeps its own reference to the base
    }
    const positions = baseInfo.maxPositionEmbeddings;
    let tokenizer: TextTokenizer | LoraNodeError;
    if (['tokenizer.json', 'vocab.txt'].some((file) => existsSync(join(dir, file)))) {
      try {
        tokenizer = await TextTokenizer.fromDirectory(dir, maxLength === undefined ? {} : { maxLength });
      } catch (error) {
        multi.dispose();
        throw error;
      }
    } else {
      // As Classifier: a missing tokenizer is an error only when predict() needs one.
      tokenizer = new FormatError('ERR_TOKENIZER', `${dir} has no tokenizer (looked for tokenizer.json and vocab.txt): predict() needs one`);
    }
    const length = Math.min(tokenizer instanceof TextTokenizer ? tokenizer.maxLength : (maxLength ?? positions), positions);
    const classifier = new MultiAdapterClassifier(multi, dir, baseInfo, linearNames, tokenizer, length);
    classifier.hub = o.hub as HubOptions | undefined;
    try {
      for (const [name, adapterDir] of Object.entries(adapters)) await classifier.addAdapter(name, adapterDir);
    } catch (error) {
      classifier.dispose();
      throw error;
    }
    return classifier;
  }

  /** The loaded adapters, in the order predictions list them. */
  get adapters(): AdapterInfo[] {
    const handle = this.live();
    const snapshot = handle.snapshot();
    handle.release(snapshot.id);
    return adapterInfos(snapshot.adapters);
  }

  /** Bytes each adapter adds to the shared base (LoRA matrices, biases, its own head). */
  adapterBytes(): Record<string, number> {
    return Object.fromEntries(this.live().info().adapters.map((a) => [a.name, a.bytes]));
  }

  /** Layers run once for all adapters (those before the first layer any adapter changes). */
  get sharedLayers(): number {
    return this.live().info().sharedLayers;
  }

  /**
   * Reads a PEFT adapter folder and adds it under `name`. Predictions already
   * running keep the adapters they started with.
   */
  async addAdapter(name: string, adapterDir: string): Promise<void> {
    const handle = this.live();
    const key = nonEmptyString(name, 'name');
    const pathOrId = nonEmptyString(adapterDir, 'adapterDir');
    if (this.pending.has(key) || handle.info().adapters.some((a) => a.name === key))
      throw expected('a new adapter name', 'name', key);
    this.pending.add(key);
    try {
      const dir = await resolveAdapterSource(pathOrId, this.hub);
      const lora = await readAdapterConfig(dir);
      await this.checkBaseName(dir);
      const metadata = await readMetadata(dir);
      // Feature and ordinal heads (lib/risk/) need inputs and decoding this batched pass does not have.
      if (needsRiskHead(savedRiskHeadPlan(metadata)))
        throw new FormatError('ERR_CONFIG', `${dir}: an adapter with tabular features or an ordinal head runs in a single-adapter Classifier (Classifier.load(base, { adapter })), not among several adapters`);
      const labels = metadata?.labels ?? this.baseInfo.labels;
      const task = metadata?.task ?? taskFromConfig(this.baseInfo.problemType, this.baseInfo.labels.length);
      const info: Omit<AdapterInfo, 'name'> = { dir, labels, task, thresholds: metadata?.thresholds, decisionThreshold: metadata?.decisionThreshold, temperature: metadata?.temperature };
      await handle.addAdapter({
        name: key,
        weightsPath: join(dir, ADAPTER_WEIGHTS),
        spec: loraSpec(lora, this.linearNames),
        numLabels: labels.length,
        metadata: JSON.stringify(info),
      });
    } catch (error) {
      throw fromNativeError(error);
    } finally {
      this.pending.delete(key);
    }
  }

  /**
   * Removes an adapter. Predictions already running still include it; its
   * memory is freed when the last of them ends.
   */
  removeAdapter(name: string): void {
    const handle = this.live();
    const key = nonEmptyString(name, 'name');
    try {
      handle.removeAdapter(key);
    } catch (error) {
      throw fromNativeError(error);
    }
  }

  /** predict() with options.longTexts (lib/long-text.ts): every window of every text through every adapter. */
  private async predictInWindows(
    list: string[],
    longTexts: unknown,
    adapters: AdapterInfo[],
    snapshotId: number,
    batchSize: number,
    threshold: number | undefined,
  ): Promise<MultiPrediction[]> {
    const tokenizer = this.requireTokenizer();
    const room = this.maxLength - tokenizer.specialTokensPerText;
    // Checked against every adapter's task; the resolved settings are the same for all.
    const { aggregate, overlap } = adapters.map((a) => resolveLongText(longTexts, a.task, room))[0]!;
    const outputs: number[][][][] = adapters.map(() => list.map(() => []));  // [adapter][text][window] -> values
    for await (const { rows, owners } of windowBatches(tokenizer, list, { maxLength: this.maxLength, overlap, batchSize })) {
      const logits = await this.enqueue((h) => h.forward(rows.inputIds, rows.attentionMask, rows.batchSize, rows.seqLen, snapshotId));
      owners.forEach((owner, r) =>
        adapters.forEach((a, n) => {
          const K = a.labels.length;
          outputs[n]![owner]!.push(outputValues(logits[n]!.subarray(r * K, (r + 1) * K), a.task as Exclude<Task, 'ordinal'>, a.temperature));
        }),
      );
    }
    return list.map((_, i) =>
      Object.fromEntries(
        adapters.map((a, n) => {
          const task = a.task as Exclude<Task, 'ordinal'>;
          const windows = outputs[n]![i]!;
          return [a.name, { ...predictionFromValues(combineWindows(windows, task, aggregate), a.labels, task, thresholdFor(threshold, a)), windows: windows.length }];
        }),
      ),
    );
  }

  /** Classifies texts with every loaded adapter; results are in input order, one record per text. */
  async predict(texts: string[], options?: PredictOptions): Promise<MultiPrediction[]> {
    const handle = this.live();
    const list = textList(texts, 'texts');
    const o = optionsObject(options, 'options');
    const batchSize = positiveInteger(o.batchSize, 'options.batchSize', 32);
    if (o.threshold !== undefined && (typeof o.threshold !== 'number' || !(o.threshold >= 0 && o.threshold <= 1)))
      throw expected('a number in [0, 1]', 'options.threshold', o.threshold);
    const tokenizer = this.requireTokenizer();
    // One snapshot for the whole call: adapters added or removed meanwhile do not change its results.
    const snapshot = handle.snapshot();
    try {
      const adapters = adapterInfos(snapshot.adapters);
      const results: MultiPrediction[] = list.map(() => ({}));
      if (adapters.length === 0) return results;
      if (o.longTexts !== undefined) return await this.predictInWindows(list, o.longTexts, adapters, snapshot.id, batchSize, o.threshold as number | undefined);
      // Texts of similar length share a batch (see Classifier.predict).
      const order = list.map((_, i) => i).sort((a, b) => list[a]!.length - list[b]!.length);
      for (let start = 0; start < order.length; start += batchSize) {
        const indices = order.slice(start, start + batchSize);
        const batch = tokenizer.encodeBatch(indices.map((i) => list[i]!), { maxLength: this.maxLength });
        const logits = await this.enqueue((h) => h.forward(batch.inputIds, batch.attentionMask, batch.batchSize, batch.seqLen, snapshot.id));
        indices.forEach((textIndex, row) => {
          results[textIndex] = Object.fromEntries(
            adapters.map((a, n) => {
              const K = a.labels.length;
              const p = predictionFromLogits(logits[n]!.subarray(row * K, (row + 1) * K), a.labels, a.task, thresholdFor(o.threshold as number | undefined, a), a.temperature);
              if (batch.truncated?.[row]) p.truncated = true;
              return [a.name, p];
            }),
          );
        });
      }
      return results;
    } finally {
      handle.release(snapshot.id);
    }
  }

  /** Raw logits of every adapter for token ids (see encode()): by name, each row-major [batchSize, its labels]. */
  async logits(batch: TokenBatch): Promise<Record<string, Float32Array>> {
    const handle = this.live();
    const b = optionsObject(batch, 'batch') as Partial<TokenBatch>;
    const batchSize = positiveInteger(b.batchSize, 'batch.batchSize');
    const seqLen = positiveInteger(b.seqLen, 'batch.seqLen');
    for (const key of ['inputIds', 'attentionMask'] as const)
      if (!(b[key] instanceof Int32Array) || b[key].length !== batchSize * seqLen)
        throw expected(`an Int32Array of length ${batchSize * seqLen} (batchSize × seqLen)`, `batch.${key}`, b[key]);
    const snapshot = handle.snapshot();
    try {
      if (snapshot.adapters.length === 0) return {};
      // Token ids and seqLen are range-checked natively.
      const logits = await this.enqueue((h) => h.forward(b.inputIds!, b.attentionMask!, batchSize, seqLen, snapshot.id));
      return Object.fromEntries(snapshot.adapters.map((a, n) => [a.name, logits[n]!]));
    } finally {
      handle.release(snapshot.id);
    }
  }

  /** Encodes texts exactly as predict() does (for logits()). */
  encode(texts: string[]): TokenBatch {
    this.live();
    return this.requireTokenizer().encodeBatch(textList(texts, 'texts'), { maxLength: this.maxLength });
  }

  private requireTokenizer(): TextTokenizer {
    if (this.tokenizer instanceof TextTokenizer) return this.tokenizer;
    throw this.tokenizer;
  }

  // Shapes are checked strictly in native code; the recorded base name only loosely:
  // a different folder name may be a copy of the same model, so it warns.
  private async checkBaseName(dir: string): Promise<void> {
    const config = JSON.parse(await readFile(join(dir, ADAPTER_CONFIG), 'utf8')) as Record<string, unknown>;
    const recorded = config.base_model_name_or_path;
    if (typeof recorded !== 'string' || recorded === '') return;
    const name = (path: string) => basename(path.replace(/[\\/]+$/, ''));
    if (name(recorded) !== name(this.baseDir))
      process.emitWarning(`${dir} was trained on "${recorded}", this base is ${this.baseDir}`, {
        code: 'LORA_NODE_ADAPTER_BASE',
        detail: 'Its tensor shapes match this base; check that it is the same model.',
      });
  }
}

function adapterInfos(adapters: { name: string; metadata: string }[]): AdapterInfo[] {
  return adapters.map((a) => ({ name: a.name, ...(JSON.parse(a.metadata) as Omit<AdapterInfo, 'name'>) }));
}

function adapterDirs(value: unknown): Record<string, string> {
  if (!isPlainObject(value)) throw expected('an object of adapter name -> adapter folder', 'options.adapters', value);
  for (const [name, dir] of Object.entries(value)) {
    if (name === '') throw expected('non-empty adapter names', 'options.adapters', name);
    nonEmptyString(dir, `options.adapters[${JSON.stringify(name)}]`);
  }
  return value as Record<string, string>;
}
