// The whole native surface of build/Release/lora_node.node, typed in one place.

export type SafetensorsDtype = 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'U8' | 'F64' | 'I8' | 'I16' | 'BOOL';

export type TensorData =
  | Float32Array
  | Float64Array
  | Uint16Array
  | BigInt64Array
  | Int32Array
  | Int16Array
  | Int8Array
  | Uint8Array;

export interface StoredTensor {
  dtype: SafetensorsDtype;
  shape: number[];
  data: TensorData;
}

export interface SafetensorsContents {
  metadata: Record<string, string>;
  tensors: Record<string, StoredTensor>;
}

export interface NativeRuntimeInfo {
  torchVersion: string;
  cudaAvailable: boolean;
  cudaDeviceCount: number;
  cudaDevices: string[];
  builtWithCudaKernels: boolean;
  intraOpThreads: number;
  cpu: { avx2: boolean; avx512f: boolean; avx512bf16: boolean; amxBf16: boolean };
  blas: { library: string; kind: string; core: string; config: string };
  parallelInfo: string;
  /** What lora-node did to glibc malloc's thresholds (see native/core/runtime.h). */
  allocator: string;
}

export interface NativeModelInfo {
  labels: string[];
  problemType: string;
  vocabSize: number;
  maxPositionEmbeddings: number;
  padTokenId: number;
  dim: number;
  layers: number;
  parameters: number;
  device: string;
  precision: 'fp32' | 'bf16' | 'fp16';
  precisionReason: string;
  threads: number;
  /** Why the head was initialised fresh ('' when loaded from the checkpoint). */
  headNotice: string;
  /** The transformer-block linears are held in 4 bits (QLoRA). */
  quantized: boolean;
  /** Loaded with the MLM head (maskedLm: true) instead of a classification head. */
  maskedLm: boolean;
  /** Bytes held by the transformer-block linear weights (packed codes + statistics when quantized). */
  baseLinearBytes: number;
  baseLinearParams: number;
}

export interface NativeForwardResult {
  logits: Float32Array;
  loss?: number;
  lastHiddenState?: Float32Array;
  hiddenStates?: Float32Array[];
}

export interface NativeForwardOptions {
  wantHidden?: boolean;
  /** Dropout active. */
  train?: boolean;
  /** Backpropagate the loss; gradients accumulate until zeroGrad(). Needs labels. */
  backward?: boolean;
  /** Class ids (Int32Array [B]) or targets (Float32Array [B*K]). */
  labels?: Int32Array | Float32Array;
  lossKind?: 'ce' | 'bce' | 'mse' | 'ordinal';
  classWeights?: Float32Array;
  posWeight?: Float32Array;
  /** Risk head: encoded features, [B × 2·Fnum] and [B × Fcat] (lib/features/encode.ts). */
  numericFeatures?: Float32Array;
  categoricalFeatures?: Int32Array;
}

/** A targeted module resolved from LoraOptions. */
export interface NativeLoraModule {
  module: string;
  r: number;
  alpha: number;
}

export interface NativeLoraSpec {
  modules: NativeLoraModule[];
  dropout: number;
  useRslora: boolean;
  init: 'kaiming' | 'gaussian' | 'zeros';
  bias: 'none' | 'all' | 'lora_only';
  modulesToSave: string[];
}

export interface NativeModelHandle {
  info(): NativeModelInfo;
  forward(
    inputIds: Int32Array,
    attentionMask: Int32Array,
    batchSize: number,
    seqLen: number,
    options?: NativeForwardOptions,
  ): Promise<NativeForwardResult>;
  attachLora(spec: NativeLoraSpec, seed: number): void;
  enableFullFinetune(): void;
  loadAdapter(path: string): Promise<void>;
  trainableNames(): string[];
  linearNames(): string[];
  gradients(): Record<string, Float32Array>;
  zeroGrad(): void;
  mergeLora(): void;
  unmergeLora(): void;
  saveTrainable(path: string, metadata?: Record<string, string>): Promise<void>;
  saveStateDict(path: string, metadata?: Record<string, string>): Promise<void>;
  snapshotTrainable(): void;
  restoreTrainable(): void;
  dispose(): void;
}

// --- one base, many adapters ---

/** One adapter to read against the shared base. */
export interface NativeAdapterSource {
  name: string;
  /** adapter_model.safetensors */
  weightsPath: string;
  spec: NativeLoraSpec;
  /** Labels the caller has for it: its head must have as many outputs. */
  numLabels: number;
  /** Opaque to the addon; handed back by snapshot(). */
  metadata: string;
}

export interface NativeMultiModelHandle {
  info(): { layers: number; sharedLayers: number; adapters: { name: string; bytes: number }[] };
  /** Reads the adapter on the pool, then adds it (ERR_INVALID_ARGUMENT on a duplicate name). */
  addAdapter(source: NativeAdapterSource): Promise<void>;
  /** ERR_INVALID_ARGUMENT for an unknown name. */
  removeAdapter(name: string): void;
  /** The current adapter set, held until release(id). */
  snapshot(): { id: number; adapters: { name: string; metadata: string }[] };
  release(id: number): void;
  /** One [batchSize, K] logits array per adapter of the snapshot, in its order. */
  forward(inputIds: Int32Array, attentionMask: Int32Array, batchSize: number, seqLen: number, snapshotId: number): Promise<Float32Array[]>;
  dispose(): void;
}

export interface NativeLoadOptions {
  device: string;
  precision: string;
  threads: number;
  /** Training labels replacing config.json's id2label. */
  labels?: string[];
  problemType?: string;
  /** Initialise a missing or mismatched head instead of failing. */
  initMissingHead?: boolean;
  seed?: number;
  /** Quantize the transformer-block linears to 4 bits on load. */
  quantization?: { type?: 'nf4' | 'fp4'; blockSize?: number; doubleQuant?: boolean; skip?: string[] };
  /** DistilBertForMaskedLM: load (or initialise) the MLM head instead of a classification head. */
  maskedLm?: boolean;
}

export interface NativeTrainerData {
  /** Every example's token ids back to back (no padding). */
  ids: Int32Array;
  /** N + 1 positions into ids. */
  offsets: Int32Array;
  /** Class ids [N] or float targets [N × K]. */
  labels: Int32Array | Float32Array;
  /** Risk head: encoded features, [N × 2·Fnum] and [N × Fcat]. */
  numericFeatures?: Float32Array;
  categoricalFeatures?: Int32Array;
}

/** native/core/risk_head.h: features fused beside the text, ordinal thresholds. */
export interface NativeRiskHeadSpec {
  numericWidth: number;
  /** Rows per categorical feature (categories + the unknown bucket 0). */
  categories: number[];
  embeddingDims: number[];
  /** Width of the fusion MLP (0 or absent: the model's dim). */
  hidden?: number;
  /** K for an ordinal head, 0 otherwise. */
  ordinalClasses: number;
  /** K-1 starting thresholds (default: coral-pytorch's (K-1 ... 1) / (K-1)). */
  ordinalThresholds?: number[];
}

export interface NativeTrainerConfig {
  epochs: number;
  batchSize: number;
  learningRate: number;
  weightDecay: number;
  warmupSteps: number;
  warmupRatio: number;
  scheduler: 'linear' | 'cosine' | 'constant';
  maxGradNorm: number;
  gradientAccumulationSteps: number;
  seed: number;
  lossKind: 'ce' | 'bce' | 'mse' | 'ordinal';
  classWeights?: Float32Array;
  posWeight?: Float32Array;
  /** Masked-language-model training (the model loaded with maskedLm: true). */
  masking?: NativeMaskingSpec;
}

/** DataCollatorForLanguageModeling's masking (native/core/mlm_masking.h). */
export interface NativeMaskingSpec {
  probability: number;
  maskFraction?: number;
  randomFraction?: number;
  wholeWord?: boolean;
  maskTokenId: number;
  /** [vocabSize]: 1 = never masked, never a random replacement. */
  special: Uint8Array;
  /** [vocabSize]: 1 = a "##" continuation piece (whole-word masking). */
  continuation?: Uint8Array;
}

export interface NativeMaskedLmResult {
  /** Mean cross-entropy over the labelled positions (0 when none). */
  loss: number;
  /** Labelled positions whose most likely token is the label. */
  correct: number;
  count: number;
  /** [B × T × vocabSize] when allLogits. */
  logits?: Float32Array;
}

export interface NativeStepReport {
  step: number;
  totalSteps: number;
  epoch: number;
  loss: number;
  learningRate: number;
  gradNorm: number;
  samples: number;
  /** Seconds since this run started. */
  seconds: number;
}

export interface NativeTrainerHandle {
  run(untilStep: number, onStep: (report: NativeStepReport) => void): Promise<{ step: number; finished: boolean; aborted: boolean }>;
  abort(): void;
  info(): { step: number; totalSteps: number; stepsPerEpoch: number; warmupSteps: number; running: boolean };
  saveState(path: string): Promise<void>;
  loadState(path: string): Promise<void>;
  dispose(): void;
}

export interface NativeAddon {
  runtimeInfo(): NativeRuntimeInfo;
  /** flock(LOCK_EX | LOCK_NB) on `path` (created if missing): a handle, -1 when held elsewhere, null without flock (Windows). */
  tryLockFile(path: string): number | null;
  unlockFile(handle: number): void;
  setThreads(threads: number): void;
  blasSelfCheck(): number;
  resolvePrecision(precision: string, device: string): { device: string; precision: string; reason: string };
  readSafetensors(path: string): Promise<SafetensorsContents>;
  writeSafetensors(path: string, tensors: Record<string, StoredTensor>, metadata?: Record<string, string>): Promise<void>;
  NativeModel: { load(dir: string, options: NativeLoadOptions): Promise<NativeModelHandle> };
  /** One base shared by many adapters (native/addon/multi_adapter_binding.cpp). */
  NativeMultiModel: { fromModel(model: NativeModelHandle): NativeMultiModelHandle };
  /** lr[0..steps] of a transformers schedule (used by the golden tests). */
  lrSchedule(kind: 'linear' | 'cosine' | 'constant', baseLr: number, warmupSteps: number, totalSteps: number, steps: number): Float64Array;
  warmupSteps(warmupSteps: number, warmupRatio: number, totalSteps: number): number;
  /** Runs AdamW steps on given gradients (used by the golden tests). */
  adamwRun(o: {
    params: Record<string, Float32Array>;
    shapes?: Record<string, number[]>;
    gradSteps: Record<string, Float32Array>[];
    lr: number | number[];
    betas: [number, number];
    eps: number;
    weightDecay: number;
    maxGradNorm?: number;
    device?: string;
    roundTripState?: boolean;
  }): { params: Record<string, Float32Array>[]; totalNorms: number[]; coefs: number[]; weightDecays: Record<string, number> };
  /** Risk head (native/addon/risk_head_binding.cpp); its parameters join trainableNames(). */
  attachRiskHead(model: NativeModelHandle, spec: NativeRiskHeadSpec, seed: number): void;
  saveRiskHead(model: NativeModelHandle, path: string): Promise<void>;
  loadRiskHead(model: NativeModelHandle, path: string): Promise<void>;
  /** Masks tokens as the MLM training loop does, keyed by (seed, epoch, examples[b]). */
  maskTokens(
    inputIds: Int32Array,
    attentionMask: Int32Array,
    batchSize: number,
    seqLen: number,
    options: { spec: NativeMaskingSpec; seed: number; epoch: number; examples?: Int32Array },
  ): { inputIds: Int32Array; labels: Int32Array };
  /** The MLM head's loss and accuracy at labelled positions (labels -100 elsewhere); all logits on request. */
  maskedLmForward(
    model: NativeModelHandle,
    inputIds: Int32Array,
    attentionMask: Int32Array,
    labels: Int32Array,
    batchSize: number,
    seqLen: number,
    options?: { train?: boolean; backward?: boolean; allLogits?: boolean },
  ): Promise<NativeMaskedLmResult>;
  NativeTrainer: new (model: NativeModelHandle, data: NativeTrainerData, config: NativeTrainerConfig) => NativeTrainerHandle;
  /** Fused training kernels beside the ATen ops they replace (native/addon/train_ops_binding.cpp; tests and benchmarks). */
  trainOpsDropout(o: { input: Float32Array; dtype?: 'float32' | 'bfloat16'; p: number; seed: number; calls: number; grad?: Float32Array }): {
    outputs: Float32Array[];
    grads: Float32Array[];
  };
  trainOpsAttention(o: {
    scores: Float32Array;
    shape: [number, number, number, number];
    keyMask: Uint8Array;
    dtype?: 'float32' | 'bfloat16';
    p: number;
    seed: number;
    grad: Float32Array;
  }): { fused: { out: Float32Array; gradScores: Float32Array }; reference: { out: Float32Array; gradScores: Float32Array } };
  trainOpsResidualNorm(o: {
    y: Float32Array;
    residual: Float32Array;
    weight: Float32Array;
    bias: Float32Array;
    shape: [number, number];
    dtype?: 'float32' | 'bfloat16';
    p: number;
    seed: number;
    grad: Float32Array;
    grad16: Float32Array;
  }): Record<'fused' | 'reference', Record<'out' | 'out16' | 'gradY' | 'gradResidual' | 'gradWeight' | 'gradBias', Float32Array>>;
  trainOpsBiasGelu(o: { y: Float32Array; bias: Float32Array; shape: [number, number]; dtype?: 'float32' | 'bfloat16'; grad: Float32Array }): Record<
    'fused' | 'reference',
    Record<'out' | 'gradY' | 'gradBias', Float32Array>
  >;
  trainOpsBench(o: { op: 'dropout' | 'attention' | 'gelu'; dtype?: 'float32' | 'bfloat16'; shape: [number, number, number, number]; p: number; reps: number }): {
    fusedMs: number;
    atenMs: number;
  };
  /** bitsandbytes 4-bit blockwise quantization (native/addon/quant_binding.cpp). */
  quantize4bit(data: Float32Array | Uint16Array, shape: number[], options?: NativeQuantizeOptions): Promise<NativePacked4bit>;
  dequantize4bit(packed: NativePacked4bitInput, options?: { dtype?: NativeQuantDtype }): Promise<Float32Array | Uint16Array>;
  parseQuantState(json: string): NativeQuantState;
  /** The code tables: NF4 and FP4 levels (weight.quant_map), the 8-bit dynamic map (weight.nested_quant_map). */
  quantMaps(): { nf4: Float32Array; fp4: Float32Array; dynamic: Float32Array };
  /** Seconds of each of `repeats` native copies of `bytes` bytes (after a warm-up). */
  copyBenchmark(bytes: number, repeats: number): Promise<number[]>;
  /** Seconds of each of `repeats` dequantizations into a preallocated buffer (after a warm-up). */
  dequantizeBenchmark(packed: NativePacked4bitInput, repeats: number, options?: { dtype?: NativeQuantDtype }): Promise<number[]>;
}

// --- 4-bit quantization ---

export type NativeQuantType = 'nf4' | 'fp4';
/** The weights' dtype, written into the quant_state JSON ("dtype"). */
export type NativeQuantDtype = 'float32' | 'bfloat16' | 'float16';

export interface NativeQuantizeOptions {
  type?: NativeQuantType;
  blockSize?: number;
  doubleQuant?: boolean;
  /** bfloat16/float16: data is a Uint16Array of raw bits, or a Float32Array of values exactly of that dtype. */
  dtype?: NativeQuantDtype;
}

/** Weights in 4 bits, as bitsandbytes keeps them; n = product of shape. */
export interface NativePacked4bit {
  type: NativeQuantType;
  blockSize: number;
  dtype: NativeQuantDtype;
  shape: number[];
  /** ceil(n/2) bytes, two codes a byte: element 2i in the high nibble, 2i+1 in the low one. */
  data: Uint8Array;
  /** Per block of blockSize elements: Float32Array (doubleQuant false), or Uint8Array 8-bit codes (doubleQuant true). */
  absmax: Float32Array | Uint8Array;
  /** doubleQuant: the scale of each block of nestedBlockSize absmax codes. */
  nestedAbsmax?: Float32Array;
  /** doubleQuant: the mean of the float32 absmax, subtracted before the 8-bit quantization. */
  offset?: number;
  /** doubleQuant: 256. */
  nestedBlockSize?: number;
  /** bitsandbytes' quant_state JSON (the bytes of weight.quant_state.bitsandbytes__nf4). */
  quantState: string;
}

/** Fields that quantState names may be left out; fields given must agree with it. */
export type NativePacked4bitInput = Partial<NativePacked4bit> & Pick<NativePacked4bit, 'data' | 'absmax'>;

export interface NativeQuantState {
  quantType: NativeQuantType;
  blockSize: number;
  dtype: NativeQuantDtype;
  shape: number[];
  nestedBlockSize?: number;
  nestedDtype?: 'float32';
  nestedOffset?: number;
}
