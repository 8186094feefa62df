// lora-node: fine-tune and run transformer encoders for text classification on libtorch.
export { Classifier } from './classifier.js';
export type { ClassifierOptions, PredictOptions, TokenBatch, Device, Precision } from './classifier.js';
export { MultiAdapterClassifier } from './multi-classifier.js';
export type { MultiAdapterClassifierOptions, MultiPrediction, AdapterInfo } from './multi-classifier.js';
export type { Prediction, Task } from './task.js';
export { Model } from './model.js';
export { Quantizer, type Packed4bit, type Packed4bitInput, type QuantizerOptions, type ModelQuantizationOptions, type QuantizeOptions, type DequantizeOptions, type QuantType, type QuantDtype } from './quantizer.js';
export type { ModelOptions, ForwardOptions } from './model.js';
export type { LoraOptions } from './lora/options.js';
export { Trainer } from './trainer/trainer.js';
export type { TrainProgress, TrainResult, TrainRunOptions, EvaluationEvent, TrainTask } from './trainer/trainer.js';
export type { TrainerOptions } from './trainer/options.js';
export { bundledModelPath } from './bundled-model.js';
export { MaskedLanguageModel } from './mlm/masked-lm.js';
export type { MaskedLanguageModelOptions, MaskedLmForwardOptions } from './mlm/masked-lm.js';
export { loadTextFile, type TextExample } from './mlm/packing.js';
export type { MlmOptions } from './mlm/masking.js';
export { initModel } from './init-model.js';
export type { InitModelOptions } from './init-model.js';
export { TextTokenizer } from './tokenizer.js';
export type { EncodedBatch, TextEncoding, TokenizerOptions } from './tokenizer.js';
export { loadExamples, loadInputs, inferTask, labelSpace, encodeLabels } from './data/examples.js';
export type { Example, Input, Label, LoadExamplesOptions, LoadInputsOptions } from './data/examples.js';
export type { FeatureSchema, Features, FeatureValue, NumericFeature, CategoricalFeature } from './features/schema.js';
export * from './metrics/index.js';
export { readSafetensors, writeSafetensors } from './safetensors.js';
export type { SafetensorsContents, StoredTensor, SafetensorsDtype, TensorData } from './safetensors.js';
export { fetchModel, resolveModelSource } from './hub/fetch-model.js';
export type { FetchModelOptions, HubOptions, DownloadProgress } from './hub/fetch-model.js';
export { runtimeReport } from './runtime.js';
export type { RuntimeReport } from './runtime.js';
export {
  LoraNodeError,
  ArgumentError,
  FormatError,
  DisposedError,
  AbortError,
  AddonLoadError,
  HubError,
} from './errors.js';
export type { ErrorCode } from './errors.js';
