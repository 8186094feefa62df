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
  lossKind?: 'ce' | 'bce' | 'mse';
  classWeights?: Float32Array;
  posWeight?: Float32Array;
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
  dispose(): void;
}

export interface NativeLoadOptions {
  device: string;
  precision: string;
  threads: number;
}

export interface NativeAddon {
  runtimeInfo(): NativeRuntimeInfo;
  setThreads(threads: number): void;
  blasSelfCheck(): number;
  resolvePrecision(precision: string, device: string): { device: string; precision: string; reason: string };
  readSafetensors(path: string): Promise<SafetensorsContents>;
  writeSafetensors(path: string, tensors: Record<string, StoredTensor>, metadata?: Record<string, string>): Promise<void>;
  NativeModel: { load(dir: string, options: NativeLoadOptions): Promise<NativeModelHandle> };
}
