// Trainer: fine-tunes a DistilBERT checkpoint (LoRA or full) for the four
// classification shapes. Optimizer steps run on a native thread (one report
// per step, as 'progress' events); JavaScript takes over between runs for
// evaluation, early stopping and checkpoints.
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

import { type Example, inferTask, labelSpace } from '../data/examples.js';
import { AbortError, ArgumentError, DisposedError, LoraNodeError, fromNativeError } from '../errors.js';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS, adapterConfigJson } from '../lora/adapter-config.js';
import type { FourBitConfig } from '../hf-config.js';
import { METADATA_FILE, metadataJson } from '../lora/metadata.js';
import type { ResolvedLora } from '../lora/options.js';
import { type SaveContext, writeAdapter, writeAtomic, writeMerged } from '../lora/save.js';
import { type FeatureSchema, fitFeatureSchema } from '../features/schema.js';
import { type RiskHeadPlan, attachRiskHead, loadRiskHeadWeights, needsRiskHead, saveRiskHead } from '../risk/head.js';
import { ordinalStartThresholds } from '../risk/ordinal.js';
import { type MetricName, type Report, higherIsBetter, metricValue, tuneThresholds } from '../metrics/index.js';
import { type DecisionThreshold, type OperatingPoint, THRESHOLD_TASKS, chooseDecisionThreshold, chooseLabelThresholds, describeTarget } from '../metrics/operating-point.js';
import { CALIBRATION_TASKS, type Calibration, calibrate } from '../metrics/calibration.js';
import { type MaskedLmReport, evaluateMaskedLm } from '../mlm/evaluate.js';
import type { TextExample } from '../mlm/packing.js';
import { type MaskedLmRun, prepareMaskedLm } from '../mlm/prepare.js';
import { writeMaskedLm, writeMaskedLmAdapter } from '../mlm/save.js';
import { loadAddon } from '../native/loader.js';
import { resolveModelSource } from '../hub/fetch-model.js';
import { openModel } from '../native/open-model.js';
import type { NativeModelHandle, NativeStepReport, NativeTrainerConfig, NativeTrainerHandle } from '../native/types.js';
import type { Task } from '../task.js';
import { TextTokenizer } from '../tokenizer.js';
import {
  type JsTrainerState,
  STATE_TENSORS,
  listCheckpoints,
  pruneCheckpoints,
  readJsState,
  resolveResume,
  writeCheckpoint,
  writeJsState,
} from './checkpoints.js';
import { optionsObject } from '../validate.js';
import { type PreparedData, checkExamples, lossWeights, prepareData } from './dataset.js';
import { type Evaluation, evaluate, rescore } from './evaluate.js';
import { type ResolvedTrainerOptions, type TrainerOptions, resolveTrainerOptions } from './options.js';

/** One optimizer step, as the 'progress' event reports it. */
export interface TrainProgress extends Omit<NativeStepReport, 'samples' | 'seconds'> {
  samplesPerSecond: number;
  /** Estimated seconds left in this run. */
  eta: number;
}

/** The classification tasks, or masked-language-model pretraining. */
export type TrainTask = Task | 'mlm';

export interface EvaluationEvent {
  step: number;
  epoch: number;
  /** With task 'mlm': masked-token loss and accuracy on the held-out text. */
  report: Report;
  /** The early-stopping / best-model metric and its value. */
  metric: MetricName;
  value: number;
  improved: boolean;
}

export interface TrainRunOptions {
  /** Held-out examples ({ text } for task 'mlm'). */
  evalExamples?: Example[] | TextExample[];
  signal?: AbortSignal;
  /** A checkpoint folder, or the checkpoints dir (its latest complete checkpoint). */
  resumeFrom?: string;
}

export interface TrainResult {
  task: TrainTask;
  labels: string[];
  steps: number;
  epochs: number;
  /** Mean loss of the last optimizer step. */
  loss: number;
  history: TrainProgress[];
  evaluations: EvaluationEvent[];
  /** The evaluation whose weights the model holds after training (best, or last). */
  finalEvaluation?: Report;
  best?: { step: number; metric: MetricName; value: number };
  stoppedEarly: boolean;
  /** Multi-label: per-label thresholds tuned on the evaluation set. */
  thresholds?: number[];
  /** Multi-label with options.threshold: each label's threshold with its precision, recall and F1. */
  labelThresholds?: Record<string, OperatingPoint>;
  /** Binary with options.threshold: the decision threshold chosen on the evaluation set. */
  decisionThreshold?: DecisionThreshold;
  /** With options.calibrate: the temperature fitted on the evaluation set, and what it changed. */
  calibration?: Calibration;
  /** Set when the head was initialised fresh (a base checkpoint, or another label count). */
  headNotice?: string;
}

type LossKind = 'ce' | 'bce' | 'mse' | 'ordinal';
/** What the loop needs to know about a run. held: classification held-out data (MLM keeps its own in this.mlm). */
interface RunState {
  task: TrainTask;
  labels: string[];
  train: PreparedData;
  held: PreparedData | undefined;
  lossKind: LossKind;
  padTokenId: number;
  headNotice: string | undefined;
}
const LOSS_OF: Record<Task, LossKind> = { binary: 'ce', 'multi-class': 'ce', 'multi-label': 'bce', regression: 'mse', ordinal: 'ordinal' };

function defaultMetric(task: TrainTask): MetricName {
  return task === 'mlm' ? 'loss' : task === 'regression' ? 'mse' : task === 'ordinal' ? 'mae' : task === 'multi-label' ? 'f1_micro' : task === 'binary' ? 'f1_macro' : 'accuracy';
}

/** What training produced besides weights: saved in lora-node.json beside them. */
interface Trained {
  labels: string[];
  task: TrainTask;
  thresholds?: number[];
  decisionThreshold?: DecisionThreshold;
  temperature?: number;
  features?: FeatureSchema | undefined;
}

/** How many evaluation examples have a text that is also a training text (after trimming). */
function overlap(train: readonly { text: string }[], held: readonly { text: string }[]): number {
  const seen = new Set(train.map((e) => e.text.trim()));
  return held.filter((e) => seen.has(e.text.trim())).length;
}

export class Trainer extends EventEmitter {
  readonly options: ResolvedTrainerOptions;
  private handle: NativeModelHandle | undefined;
  private lora: ResolvedLora | undefined;
  private quantization: FourBitConfig | undefined;
  private trained: Trained | undefined;
  /** options.model as a local folder (a hub repo id is fetched into the cache). */
  private modelDir: string | undefined;
  /** Set while the model is a masked language model (task 'mlm'). */
  private mlm: MaskedLmRun | undefined;
  private running = false;
  private disposed = false;

  constructor(options: TrainerOptions) {
    super();
    this.options = resolveTrainerOptions(options);
  }

  /** Trains on { text, label } examples, or on { text } examples for task 'mlm' (loadTextFile reads plain text). */
  async train(trainExamples: Example[] | TextExample[], runOptions: TrainRunOptions = {}): Promise<TrainResult> {
    if (this.disposed) throw new DisposedError('Trainer');
    if (this.running) throw new ArgumentError('Expected one train() at a time but a training run is in progress');
    this.running = true;
    try {
      return await this.run(trainExamples, optionsObject(runOptions, 'options') as TrainRunOptions);
    } finally {
      this.running = false;
    }
  }

  /** Saves a PEFT adapter (LoRA) or, for full fine-tuning, a complete checkpoint; plus lora-node.json. */
  async save(dir: string): Promise<void> {
    if (this.mlm) return this.saveMaskedLm(dir, true);
    const ctx = this.saveContext();
    if (this.lora) await writeAdapter(ctx, this.lora, dir);
    else await writeMerged(ctx, dir);
  }

  /** Saves a plain Hugging Face checkpoint with the LoRA updates merged in. */
  async saveMerged(dir: string): Promise<void> {
    if (this.mlm) return this.saveMaskedLm(dir, false);
    await writeMerged(this.saveContext(), dir);
  }

  /** Task 'mlm': an adapter, or a DistilBertForMaskedLM checkpoint folder (mlm/save.ts). */
  private async saveMaskedLm(dir: string, adapter: boolean): Promise<void> {
    if (this.disposed) throw new DisposedError('Trainer');
    if (!this.handle || !this.mlm) throw new ArgumentError('Expected a trained model: call train() before save()');
    if (adapter && this.lora) await writeMaskedLmAdapter(this.handle, this.lora, this.mlm.modelDir, dir);
    else await writeMaskedLm(this.handle, this.mlm.modelDir, dir);
  }

  dispose(): void {
    if (this.mlm?.initDir) void rm(this.mlm.initDir, { recursive: true, force: true });
    this.disposed = true;
    this.handle?.dispose();
    this.handle = undefined;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  private saveContext(): SaveContext {
    if (this.disposed) throw new DisposedError('Trainer');
    if (!this.handle || !this.trained || this.trained.task === 'mlm') throw new ArgumentError('Expected a trained model: call train() before save()');
    const { labels, task, thresholds, decisionThreshold, temperature, features } = this.trained as Trained & { task: Task };
    const ctx: SaveContext = {
      handle: this.handle,
      checkpointDir: this.modelDir ?? this.options.model,
      ...(this.modelDir !== this.options.model ? { baseModelName: this.options.model } : {}),
      labels,
      task,
      metadata: {
        maxLength: this.options.maxLength,
        baseModel: this.options.model,
        ...(thresholds ? { thresholds } : {}),
        ...(decisionThreshold ? { decisionThreshold } : {}),
        ...(temperature !== undefined ? { temperature } : {}),
        ...(features ? { features } : {}),
      },
      riskHead: needsRiskHead(this.riskPlan()),
    };
    if (this.quantization) ctx.quantization = this.quantization;
    return ctx;
  }

  private async run(trainExamples: Example[] | TextExample[], runOptions: TrainRunOptions): Promise<TrainResult> {
    const o = this.options;
    const { signal } = runOptions;
    if (signal?.aborted) throw new AbortError();
    if (o.task === 'mlm') return this.runMaskedLm(trainExamples, runOptions);
    const examples = checkExamples(trainExamples, 'trainExamples');
    const evalExamples = runOptions.evalExamples === undefined ? undefined : checkExamples(runOptions.evalExamples, 'evalExamples');
    const task = o.task ?? inferTask(examples);
    const labels = o.labels ?? labelSpace(examples, task);
    if ((task === 'binary' || task === 'multi-class' || task === 'ordinal') && labels.length < 2)
      throw new LoraNodeError('ERR_DATA', `trainExamples: a ${task} task needs at least 2 labels but the data has only ${JSON.stringify(labels)}`);
    if (task === 'ordinal' && o.labels === undefined && !labels.every((l) => /^-?\d{1,15}$/.test(l)))
      throw new LoraNodeError('ERR_DATA', `trainExamples: an ordinal task needs options.labels in order (e.g. ['none', 'low', 'medium', 'high']); only integer labels order themselves, and the data has ${JSON.stringify(labels.slice(0, 10))}`);
    const features = fitFeatureSchema(examples, 'trainExamples');  // tabular features (lib/features/), or undefined
    const modelDir = (this.modelDir = await resolveModelSource(o.model, o.hub, 'options.hub'));
    const tokenizer = await TextTokenizer.fromDirectory(modelDir, { maxLength: o.maxLength });
    const train = prepareData(examples, labels, task, tokenizer, o.maxLength, { schema: features, name: 'trainExamples' });
    const held = evalExamples && prepareData(evalExamples, labels, task, tokenizer, o.maxLength, { schema: features, name: 'evalExamples' });
    if (o.threshold && !(THRESHOLD_TASKS as readonly string[]).includes(task))
      throw new ArgumentError(`Expected a ${THRESHOLD_TASKS.join(' or ')} task with options.threshold but the labels make this a ${task} task (${labels.length} labels)`);
    if (o.threshold && !held) throw new ArgumentError('Expected evalExamples to choose options.threshold on but received none');
    if (o.calibrate && !(CALIBRATION_TASKS as readonly string[]).includes(task))
      throw new ArgumentError(`Expected a ${CALIBRATION_TASKS.join(' or ')} task with options.calibrate but the labels make this a ${task} task`);
    if (o.calibrate && !held) throw new ArgumentError('Expected evalExamples to fit options.calibrate on but received none');

    this.handle?.dispose();
    this.handle = undefined;
    this.mlm = undefined;
    const opened = await openModel(modelDir, {
      device: o.device,
      precision: o.precision,
      threads: o.threads,
      lora: o.lora === false ? false : o.lora,
      seed: o.seed,
      labels,
      task,
      initMissingHead: true,
      quantization: o.quantization,
    });
    this.handle = opened.handle;
    this.quantization = opened.quantization;
    this.lora = opened.lora;
    this.trained = { labels, task, features };
    // features / ordinal (lib/risk/); ordinal thresholds start at the training set's cumulative frequencies
    const thresholds = task === 'ordinal' ? ordinalStartThresholds(train.labels as Int32Array, labels.length) : undefined;
    if (needsRiskHead(this.riskPlan())) attachRiskHead(this.handle, { ...this.riskPlan(), ordinalThresholds: thresholds }, o.seed);
    const info = this.handle.info();
    const headNotice = info.headNotice || undefined;
    if (headNotice) this.emit('notice', headNotice);
    const leaked = evalExamples ? overlap(examples, evalExamples) : 0;
    if (leaked > 0)
      this.emit('notice', `${leaked} of ${evalExamples!.length} evaluation texts also appear in the training examples: held-out metrics will read too high`);

    const lossKind = LOSS_OF[task];
    return this.runNative(train, { lossKind, ...lossWeights(o.classWeights, task, train.labels, labels.length) }, { task, labels, train, held, lossKind, padTokenId: info.padTokenId, headNotice }, runOptions);
  }

  /** Task 'mlm': packed text, the model with its MLM head, masking in the native loop. */
  private async runMaskedLm(trainExamples: unknown, runOptions: TrainRunOptions): Promise<TrainResult> {
    const o = this.options;
    this.handle?.dispose();
    this.handle = undefined;
    if (this.mlm?.initDir) await rm(this.mlm.initDir, { recursive: true, force: true });
    this.modelDir = await resolveModelSource(o.model, o.hub, 'options.hub');
    this.mlm = await prepareMaskedLm({ ...o, model: this.modelDir }, trainExamples, runOptions.evalExamples);
    // PEFT's SEQ_CLS default (modules_to_save = the classification head) does not apply to a masked LM.
    const lora = o.lora === false ? false : { modulesToSave: [], ...o.lora };
    const opened = await openModel(this.mlm.modelDir, { device: o.device, precision: o.precision, threads: o.threads, lora, seed: o.seed, maskedLm: true });
    this.handle = opened.handle;
    this.quantization = undefined;
    this.lora = opened.lora;
    this.trained = { labels: [], task: 'mlm' };
    const info = this.handle.info();
    const headNotice = info.headNotice || undefined;
    if (headNotice) this.emit('notice', headNotice);
    const run = { task: 'mlm' as const, labels: [], train: this.mlm.train, held: undefined, lossKind: 'ce' as const, padTokenId: info.padTokenId, headNotice };
    return this.runNative(this.mlm.train, { lossKind: 'ce', masking: this.mlm.spec }, run, runOptions);
  }

  /** Creates the native trainer for prepared data and runs the loop (abort wired to the signal). */
  private async runNative(
    train: PreparedData,
    extra: Pick<NativeTrainerConfig, 'lossKind' | 'classWeights' | 'posWeight' | 'masking'>,
    run: RunState,
    runOptions: TrainRunOptions,
  ): Promise<TrainResult> {
    const o = this.options;
    const { signal } = runOptions;
    let native: NativeTrainerHandle;
    try {
      native = new (loadAddon().NativeTrainer)(this.handle!, train, {
        epochs: o.epochs,
        batchSize: o.batchSize,
        learningRate: o.learningRate,
        weightDecay: o.weightDecay,
        warmupSteps: o.warmupSteps,
        warmupRatio: o.warmupRatio,
        scheduler: o.scheduler,
        maxGradNorm: o.maxGradNorm,
        gradientAccumulationSteps: o.gradientAccumulationSteps,
        seed: o.seed,
        ...extra,
      });
    } catch (error) {
      throw fromNativeError(error);
    }
    const onAbort = () => native.abort();
    signal?.addEventListener('abort', onAbort);
    try {
      return await this.loop(native, run, runOptions);
    } finally {
      signal?.removeEventListener('abort', onAbort);
      native.dispose();
    }
  }

  private async loop(
    native: NativeTrainerHandle,
    run: RunState,
    runOptions: TrainRunOptions,
  ): Promise<TrainResult> {
    const o = this.options;
    const handle = this.handle!;
    const { stepsPerEpoch, totalSteps } = native.info();
    const evalEvery = o.evaluation.every === 'epoch' ? stepsPerEpoch : o.evaluation.every;
    const checkpoints = o.checkpoints;
    const checkpointEvery = checkpoints ? (checkpoints.every === 'epoch' ? stepsPerEpoch : checkpoints.every) : Infinity;
    const metric = o.earlyStopping?.metric ?? o.evaluation.metric ?? defaultMetric(run.task);
    const sign = higherIsBetter(metric) ? 1 : -1;
    const fingerprint = this.fingerprint(run.train, run.labels, run.task);
    const evaluating = run.held !== undefined || this.mlm?.held !== undefined;

    const state: JsTrainerState = { format: 1, step: 0, bestValue: null, bestStep: null, badEvaluations: 0, history: [], fingerprint };
    const history: TrainProgress[] = [];
    const evaluations: EvaluationEvent[] = [];
    let haveSnapshot = false;

    if (runOptions.resumeFrom !== undefined) {
      const checkpoint = await resolveResume(runOptions.resumeFrom);
      const saved = await readJsState(checkpoint);
      if (saved.fingerprint !== fingerprint)
        throw new LoraNodeError('ERR_DATA', `resumeFrom: ${checkpoint} was written for other data or settings; resume with the same ones`);
      const bestDir = checkpoints && join(checkpoints.dir, 'best');
      if (saved.bestStep !== null && bestDir) {
        await this.loadWeights(bestDir);
        handle.snapshotTrainable();
        haveSnapshot = true;
      }
      await this.loadWeights(checkpoint);
      await native.loadState(join(checkpoint, STATE_TENSORS));
      Object.assign(state, saved);
    }

    let last: NativeStepReport | undefined;
    let stoppedEarly = false;
    let step = native.info().step;
    while (step < totalSteps && !stoppedEarly) {
      const nextEval = evaluating ? Math.ceil((step + 1) / evalEvery) * evalEvery : Infinity;
      const nextCheckpoint = checkpoints ? Math.ceil((step + 1) / checkpointEvery) * checkpointEvery : Infinity;
      const until = Math.min(nextEval, nextCheckpoint, totalSteps);
      const startStep = step;
      if (runOptions.signal?.aborted) throw new AbortError(`training was aborted at step ${step} of ${totalSteps}`);
      const outcome = await native
        .run(until, (r) => {
          last = r;
          const done = r.step - startStep;
          const rate = r.seconds > 0 ? (done * o.batchSize * o.gradientAccumulationSteps) / r.seconds : 0;
          const progress: TrainProgress = {
            step: r.step,
            totalSteps: r.totalSteps,
            epoch: r.epoch,
            loss: r.loss,
            learningRate: r.learningRate,
            gradNorm: r.gradNorm,
            samplesPerSecond: rate,
            eta: done > 0 ? ((r.totalSteps - r.step) * r.seconds) / done : NaN,
          };
          history.push(progress);
          this.emit('progress', progress);
        })
        .catch((error: unknown) => {
          throw fromNativeError(error);
        });
      step = outcome.step;
      if (outcome.aborted) throw new AbortError(`training was aborted at step ${step} of ${totalSteps}`);

      if (evaluating && (step % evalEvery === 0 || step === totalSteps)) {
        const evaluation = await this.evaluateHeld(run);
        const value = metricValue(evaluation.report, metric);
        const minDelta = o.earlyStopping?.minDelta ?? 0;
        const improved = Number.isFinite(value) && (state.bestValue === null || sign * (value - state.bestValue) > minDelta);
        if (improved) {
          state.bestValue = value;
          state.bestStep = step;
          state.badEvaluations = 0;
          handle.snapshotTrainable();
          haveSnapshot = true;
          if (checkpoints) await this.writeWeights(join(checkpoints.dir, 'best'));
        } else {
          state.badEvaluations += 1;
        }
        const event: EvaluationEvent = { step, epoch: step / stepsPerEpoch, report: evaluation.report, metric, value, improved };
        evaluations.push(event);
        this.emit('evaluate', event);
        if (o.earlyStopping && state.badEvaluations >= o.earlyStopping.patience) stoppedEarly = true;
      }
      if (checkpoints && (step % checkpointEvery === 0 || step === totalSteps)) {
        state.step = step;
        await writeCheckpoint(checkpoints.dir, step, async (tmp) => {
          await this.writeWeights(tmp);
          await native.saveState(join(tmp, STATE_TENSORS));
          await writeJsState(tmp, state);
        });
        await pruneCheckpoints(checkpoints.dir, checkpoints.keep);
        this.emit('checkpoint', { step, dir: checkpoints.dir, kept: (await listCheckpoints(checkpoints.dir)).length });
      }
    }

    // Like load_best_model_at_end: the model ends with the best evaluated weights.
    if (haveSnapshot) handle.restoreTrainable();
    let finalEvaluation: Evaluation | undefined;
    let thresholds: number[] | undefined;
    let decisionThreshold: DecisionThreshold | undefined;
    let calibration: Calibration | undefined;
    let labelThresholds: Record<string, OperatingPoint> | undefined;
    if (evaluating) {
      const evaluated = (finalEvaluation = await this.evaluateHeld(run));
      // Calibration and thresholds change how the logits are read, not the logits: each report
      // below is rescored from this one pass over the evaluation examples.
      const at = (cut: { thresholds?: number[]; decisionThreshold?: number; temperature?: number }) =>
        rescore(evaluated, run.held!, run.task as Task, run.labels, cut);
      if (this.options.calibrate) {
        calibration = calibrate(finalEvaluation.logits!, run.held!.labels as Int32Array, run.labels.length);
        finalEvaluation = at({ temperature: calibration.temperature });
      }
      if (run.task === 'multi-label') {
        const target = this.options.threshold;
        if (target) {
          labelThresholds = chooseLabelThresholds(run.held!.labels as Float32Array, finalEvaluation.outputs, run.labels, target);
          thresholds = run.labels.map((label) => labelThresholds![label]!.threshold);
          const missed = Object.entries(labelThresholds).filter(([, p]) => !p.met).map(([label]) => label);
          if (missed.length) this.emit('notice', `no threshold reaches ${describeTarget(target)} on the evaluation examples for ${missed.join(', ')}; using the closest (0.5 for a label without positives)`);
        } else {
          thresholds = tuneThresholds(run.held!.labels as Float32Array, finalEvaluation.outputs, run.labels.length);
        }
        finalEvaluation = at({ thresholds });
      }
      if (run.task === 'binary' && this.options.threshold) {
        decisionThreshold = chooseDecisionThreshold(run.held!.labels as Int32Array, finalEvaluation.outputs, run.labels, this.options.threshold);
        if (!decisionThreshold.met)
          this.emit('notice', `no threshold reaches ${describeTarget(decisionThreshold.target)} on the evaluation examples; using the closest (${decisionThreshold.threshold.toFixed(4)}: precision ${decisionThreshold.precision.toFixed(3)}, recall ${decisionThreshold.recall.toFixed(3)})`);
        finalEvaluation = at({ decisionThreshold: decisionThreshold.threshold, ...(calibration ? { temperature: calibration.temperature } : {}) });
      }
    }
    this.trained = {
      labels: run.labels,
      task: run.task,
      ...(thresholds ? { thresholds } : {}),
      ...(decisionThreshold ? { decisionThreshold } : {}),
      ...(calibration ? { temperature: calibration.temperature } : {}),
      features: this.trained?.features,
    };
    const result: TrainResult = {
      task: run.task,
      labels: run.labels,
      steps: step,
      epochs: step / stepsPerEpoch,
      loss: last?.loss ?? NaN,
      history,
      evaluations,
      stoppedEarly,
    };
    if (finalEvaluation) result.finalEvaluation = finalEvaluation.report;
    if (state.bestStep !== null && state.bestValue !== null) result.best = { step: state.bestStep, metric, value: state.bestValue };
    if (thresholds) result.thresholds = thresholds;
    if (decisionThreshold) result.decisionThreshold = decisionThreshold;
    if (calibration) result.calibration = calibration;
    if (labelThresholds) result.labelThresholds = labelThresholds;
    if (run.headNotice) result.headNotice = run.headNotice;
    return result;
  }

  private evaluateHeld(run: RunState): Promise<Evaluation> {
    const batchSize = Math.max(this.options.batchSize, 32);
    if (run.task === 'mlm') {
      return evaluateMaskedLm(this.handle!, this.mlm!.held!, this.mlm!.spec, { batchSize, padTokenId: run.padTokenId, seed: this.options.seed })
        .then((report) => ({ report, outputs: new Float32Array(0) }))
        .catch((error: unknown) => {
          throw fromNativeError(error);
        });
    }
    return evaluate(this.handle!, run.held!, run.task, run.labels, {
      batchSize: Math.max(this.options.batchSize, 32),
      padTokenId: run.padTokenId,
      lossKind: run.lossKind,
    }).catch((error: unknown) => {
      throw fromNativeError(error);
    });
  }

  /** The features / ordinal parts of the model being trained (lib/risk/head.ts). */
  private riskPlan(): RiskHeadPlan {
    const t = this.trained;
    return t ? { features: t.features, ordinalClasses: t.task === 'ordinal' ? t.labels.length : undefined } : {};
  }

  private async loadWeights(dir: string): Promise<void> {
    await this.handle!.loadAdapter(join(dir, this.weightsFile()));
    if (needsRiskHead(this.riskPlan())) await loadRiskHeadWeights(this.handle!, dir, this.riskPlan());
  }

  private weightsFile(): string {
    return this.lora ? ADAPTER_WEIGHTS : 'model.safetensors';
  }

  /** The trainable weights (and, with LoRA, a loadable adapter folder) into `dir`. */
  private async writeWeights(dir: string): Promise<void> {
    await mkdir(dir, { recursive: true });
    await this.handle!.saveTrainable(join(dir, this.weightsFile()), { format: 'pt' });
    if (this.lora) await writeAtomic(join(dir, ADAPTER_CONFIG), adapterConfigJson(this.lora, this.options.model));
    const { labels, task, features } = this.trained!;
    if (task === 'mlm') return; // lora-node.json describes classifiers
    await writeAtomic(join(dir, METADATA_FILE), metadataJson({ format: 1, labels, task, maxLength: this.options.maxLength, ...(features ? { features } : {}) }));
    if (needsRiskHead(this.riskPlan())) await saveRiskHead(this.handle!, dir);
  }

  private fingerprint(data: PreparedData, labels: readonly string[], task: TrainTask): string {
    const o = this.options;
    const settings = JSON.stringify([o.model, o.lora, o.epochs, o.batchSize, o.learningRate, o.weightDecay, o.warmupRatio,
      o.warmupSteps, o.scheduler, o.maxGradNorm, o.gradientAccumulationSteps, o.maxLength, o.seed, o.classWeights, o.quantization, labels, task,
      ...(o.mlm ? [o.mlm] : [])]);
    const hash = createHash('sha256').update(settings);
    hash.update(new Uint8Array(data.ids.buffer, data.ids.byteOffset, data.ids.byteLength));
    hash.update(new Uint8Array(data.labels.buffer, data.labels.byteOffset, data.labels.byteLength));
    for (const f of [data.numericFeatures, data.categoricalFeatures]) if (f) hash.update(new Uint8Array(f.buffer, f.byteOffset, f.byteLength));
    return hash.digest('hex').slice(0, 32);
  }
}
