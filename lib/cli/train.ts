// `lora-node train`: fine-tune a checkpoint on a CSV/JSONL file and save a
// PEFT adapter (or, with --merged or --full, a complete checkpoint).
import { parseArgs } from 'node:util';

import { type Example, inferTask } from '../data/examples.js';
import { AbortError, ArgumentError, LoraNodeError } from '../errors.js';
import type { LoraOptions } from '../lora/options.js';
import { type TextExample, loadTextFile } from '../mlm/packing.js';
import { TASKS, type Task } from '../task.js';
import { METRIC_NAMES } from '../metrics/index.js';
import { CALIBRATION_TASKS } from '../metrics/calibration.js';
import { THRESHOLD_TASKS, type ThresholdTarget, describeTarget } from '../metrics/operating-point.js';
import type { TrainerOptions } from '../trainer/options.js';
import { type TrainResult, Trainer } from '../trainer/trainer.js';
import { DATA_OPTIONS, RUNTIME_OPTIONS, choiceFlag, integerFlag, listFlag, nonNegativeFlag, numberFlag, requireFlag, runtimeOptions } from './args.js';
import { readExamples } from './data.js';
import { prefetchSources } from './download.js';
import { createReporter, progressMode } from './progress.js';
import { formatReport } from './report.js';
import { INTERRUPTED_EXIT, interruptedMessage, trainWithProgress } from './run-training.js';

const OPTIONS = {
  ...RUNTIME_OPTIONS,
  ...DATA_OPTIONS,
  model: { type: 'string' },
  eval: { type: 'string' },
  out: { type: 'string' },
  task: { type: 'string' },
  labels: { type: 'string' },
  epochs: { type: 'string' },
  'learning-rate': { type: 'string' },
  'lora-r': { type: 'string' },
  'lora-alpha': { type: 'string' },
  'lora-dropout': { type: 'string' },
  'target-modules': { type: 'string' },
  full: { type: 'boolean' },
  seed: { type: 'string' },
  checkpoints: { type: 'string' },
  'checkpoint-every': { type: 'string' },
  resume: { type: 'string' },
  merged: { type: 'boolean' },
  threshold: { type: 'string' },
  calibrate: { type: 'boolean' },
  quantize: { type: 'string' },
  metric: { type: 'string' },
  patience: { type: 'string' },
  'class-weights': { type: 'string' },
  'weight-decay': { type: 'string' },
  'warmup-ratio': { type: 'string' },
  scheduler: { type: 'string' },
  'gradient-accumulation': { type: 'string' },
  // task mlm
  'from-scratch': { type: 'boolean' },
  'whole-word-masking': { type: 'boolean' },
  'mlm-probability': { type: 'string' },
} as const;


const parseFlags = (args: string[]) => parseArgs({ args, options: OPTIONS }).values;
type Flags = ReturnType<typeof parseFlags>;

export async function runTrain(args: string[]): Promise<number> {
  const flags = parseFlags(args);
  const model = requireFlag(flags.model, 'model', 'DIR (a Hugging Face DistilBERT checkpoint folder or hub repo id)');
  const data = requireFlag(flags.data, 'data', 'FILE (training examples, .csv or .jsonl)');
  const out = requireFlag(flags.out, 'out', 'DIR (where to save the adapter)');
  const options = trainerOptions(flags, model);
  await prefetchSources({ model, json: flags.json });

  const started = performance.now();
  const { train, evalExamples, task } = options.task === 'mlm' ? await readTexts(flags) : await readData(flags, options.task);
  options.task = task;
  // An inferred task that the flag does not fit: say where the task came from.
  const needs: { flag: string; tasks: readonly string[] } | undefined = options.threshold
    ? { flag: '--threshold', tasks: THRESHOLD_TASKS }
    : options.calibrate ? { flag: '--calibrate', tasks: CALIBRATION_TASKS } : undefined;
  if (needs && flags.task === undefined && !needs.tasks.includes(task))
    throw new ArgumentError(`Expected a ${needs.tasks.join(' or ')} task with ${needs.flag} but the labels in ${data} make it ${task}`);
  const json = flags.json ?? false;
  if (!json) console.log(describeRun(options, data, train, flags.eval, evalExamples));

  using trainer = inFlagWords(() => new Trainer(options));
  let result: TrainResult;
  try {
    result = await inFlagWords(() => trainWithProgress(trainer, train, { evalExamples, resumeFrom: flags.resume }, createReporter(progressMode(json))));
  } catch (error) {
    if (!(error instanceof AbortError)) throw error;
    console.error(interruptedMessage(error, flags.checkpoints));
    return INTERRUPTED_EXIT;
  }
  const saved = flags.merged ? 'merged checkpoint' : options.lora === false ? 'checkpoint' : 'adapter';
  if (flags.merged) await trainer.saveMerged(out);
  else await trainer.save(out);
  const seconds = (performance.now() - started) / 1000;

  if (json) {
    console.log(JSON.stringify({ type: 'result', ...summary(result), seconds, out, saved }));
    return 0;
  }
  printResult(result, seconds);
  console.log(`\n${saved} saved to ${out}`);
  if (task === 'mlm') {
    if (saved !== 'adapter') console.log(`fine-tune a classifier on it: npx lora-node train --model ${out} --data train.csv --out DIR`);
    return 0;
  }
  const adapterFlag = saved === 'adapter' ? ` --adapter ${out}` : '';
  console.log(`try it: npx lora-node predict --model ${saved === 'adapter' ? model : out}${adapterFlag} "some text"`);
  return 0;
}

function trainerOptions(flags: Flags, model: string): TrainerOptions {
  const runtime = runtimeOptions(flags);
  const options: TrainerOptions = { model, ...runtime };
  const task = choiceFlag(flags.task, 'task', [...TASKS, 'mlm'] as const);
  if (task) options.task = task;
  options.mlm = mlmOptions(flags, task === 'mlm');
  if (options.mlm === undefined) delete options.mlm;
  const labels = listFlag(flags.labels, 'labels', 'label names in id order (none,low,medium,high)');
  if (labels) options.labels = labels;
  const set = <K extends keyof TrainerOptions>(key: K, value: TrainerOptions[K] | undefined): void => {
    if (value !== undefined) options[key] = value;
  };
  set('epochs', integerFlag(flags.epochs, 'epochs'));
  set('batchSize', integerFlag(flags['batch-size'], 'batch-size'));
  set('learningRate', numberFlag(flags['learning-rate'], 'learning-rate'));
  set('seed', integerFlag(flags.seed, 'seed', 0));
  set('weightDecay', nonNegativeFlag(flags['weight-decay'], 'weight-decay'));
  set('warmupRatio', nonNegativeFlag(flags['warmup-ratio'], 'warmup-ratio'));
  set('scheduler', choiceFlag(flags.scheduler, 'scheduler', ['linear', 'cosine', 'constant'] as const));
  set('gradientAccumulationSteps', integerFlag(flags['gradient-accumulation'], 'gradient-accumulation'));
  set('classWeights', classWeightsFlag(flags['class-weights']));
  const quantize = choiceFlag(flags.quantize, 'quantize', ['nf4', 'fp4'] as const);
  if (quantize) options.quantization = { type: quantize };
  const metric = choiceFlag(flags.metric, 'metric', METRIC_NAMES);
  if (metric) options.evaluation = { metric };
  const patience = integerFlag(flags.patience, 'patience');
  if (patience) options.earlyStopping = { patience, ...(metric ? { metric } : {}) };
  if (flags.checkpoints) {
    const every = flags['checkpoint-every'] === undefined || flags['checkpoint-every'] === 'epoch' ? 'epoch' : integerFlag(flags['checkpoint-every'], 'checkpoint-every')!;
    options.checkpoints = { dir: flags.checkpoints, every };
  } else if (flags['checkpoint-every'] !== undefined) {
    throw new ArgumentError('Expected --checkpoints DIR with --checkpoint-every but received none');
  }
  options.lora = loraOptions(flags);
  if (flags.threshold !== undefined) options.threshold = thresholdFlag(flags.threshold);
  if (flags.calibrate) options.calibrate = true;
  for (const [flag, why] of NEEDS_EVAL) {
    if (flags[flag] !== undefined && flags.eval === undefined) throw new ArgumentError(`Expected --eval FILE with --${flag} (${why}) but received none`);
  }
  return options;
}

/** Runs `make`, rewording the library's option names in its errors as the flags that set them. */
function inFlagWords<T>(make: () => T): T {
  const reword = (error: unknown): never => {
    if (!(error instanceof LoraNodeError) || error instanceof AbortError) throw error;
    let message = error.message;
    for (const [option, flag] of OPTION_FLAGS) message = message.replaceAll(option, flag);
    message = message.replace(/\btask '([\w-]+)' or '([\w-]+)'/g, '--task $1 or $2').replace(/\btask '([\w-]+)'/g, '--task $1');
    throw new LoraNodeError(error.code, message, { cause: error });
  };
  try {
    const result = make();
    return (result instanceof Promise ? result.catch(reword) : result) as T;
  } catch (error) {
    return reword(error);
  }
}

/** Flags that only mean something with evaluation examples, and why. */
const NEEDS_EVAL = [
  ['threshold', 'it is fitted on the evaluation examples'],
  ['calibrate', 'it is fitted on the evaluation examples'],
  ['metric', "it reads the evaluation examples' metrics"],
  ['patience', "it reads the evaluation examples' metrics"],
] as const;

/** The Trainer options the flags set, as its messages name them. */
const OPTION_FLAGS: [string, string][] = [
  ['options.threshold', '--threshold'],
  ['options.calibrate', '--calibrate'],
  ['options.classWeights', '--class-weights'],
  ['options.weightDecay', '--weight-decay'],
  ['options.warmupRatio', '--warmup-ratio'],
  ['options.scheduler', '--scheduler'],
  ['options.gradientAccumulationSteps', '--gradient-accumulation'],
  ['options.evaluation.metric', '--metric'],
  ['options.earlyStopping.patience', '--patience'],
  ['options.earlyStopping.metric', '--metric'],
  ['options.quantization', '--quantize'],
];

/** --class-weights balanced | w1,w2,... (one positive number per label, in label order). */
function classWeightsFlag(value: string | undefined): TrainerOptions['classWeights'] {
  if (value === undefined) return undefined;
  if (value === 'balanced') return 'balanced';
  const weights = value.split(',').map((w) => Number(w.trim()));
  if (!weights.every((w) => w > 0 && Number.isFinite(w)))
    throw new ArgumentError(`Expected balanced or positive numbers, one per label (1,3.5) for --class-weights but received "${value}"`);
  return weights;
}

/** --threshold f1 | precision=P | recall=R (binary: the decision threshold chosen on --eval). */
function thresholdFlag(value: string): ThresholdTarget {
  if (value === 'f1') return 'f1';
  const match = /^(precision|recall)=(.+)$/.exec(value);
  const target = match ? Number(match[2]) : NaN;
  if (!match || !(target > 0 && target <= 1))
    throw new ArgumentError(`Expected f1, precision=P or recall=R (0 < P, R <= 1) for --threshold but received "${value}"`);
  return match[1] === 'precision' ? { precision: target } : { recall: target };
}

function loraOptions(flags: Flags): LoraOptions | false {
  const loraFlags = ['lora-r', 'lora-alpha', 'lora-dropout', 'target-modules'] as const;
  if (flags.full) {
    const given = loraFlags.filter((f) => flags[f] !== undefined);
    if (given.length) throw new ArgumentError(`Expected no LoRA flags with --full (full fine-tuning) but received --${given.join(', --')}`);
    if (flags.merged) throw new ArgumentError('Expected --merged only with LoRA: --full already saves a complete checkpoint');
    return false;
  }
  const lora: LoraOptions = {};
  const r = integerFlag(flags['lora-r'], 'lora-r');
  if (r !== undefined) lora.r = r;
  const alpha = numberFlag(flags['lora-alpha'], 'lora-alpha');
  if (alpha !== undefined) lora.alpha = alpha;
  if (flags['lora-dropout'] !== undefined) {
    const dropout = Number(flags['lora-dropout']);
    if (flags['lora-dropout'].trim() === '' || !(dropout >= 0 && dropout < 1))
      throw new ArgumentError(`Expected a number in [0, 1) for --lora-dropout but received "${flags['lora-dropout']}"`);
    lora.dropout = dropout;
  }
  const targets = flags['target-modules'];
  if (targets !== undefined) {
    const list = targets.split(',').map((t) => t.trim()).filter(Boolean);
    if (list.length === 0) throw new ArgumentError(`Expected module names (q_lin,v_lin) or all-linear for --target-modules but received "${targets}"`);
    lora.targetModules = targets.trim() === 'all-linear' ? 'all-linear' : list;
  }
  return lora;
}

/** --task mlm: masking settings from --mlm-probability, --whole-word-masking and --from-scratch. */
function mlmOptions(flags: Flags, mlm: boolean): TrainerOptions['mlm'] {
  const given = (['from-scratch', 'whole-word-masking', 'mlm-probability'] as const).filter((f) => flags[f] !== undefined);
  if (!mlm) {
    if (given.length) throw new ArgumentError(`Expected --task mlm with --${given.join(', --')} but received ${flags.task === undefined ? 'no --task' : `--task ${flags.task}`}`);
    return undefined;
  }
  const probability = numberFlag(flags['mlm-probability'], 'mlm-probability');
  if (probability !== undefined && !(probability < 1)) throw new ArgumentError(`Expected a number in (0, 1) for --mlm-probability but received "${flags['mlm-probability']}"`);
  return {
    ...(probability !== undefined ? { probability } : {}),
    ...(flags['whole-word-masking'] ? { wholeWordMasking: true } : {}),
    ...(flags['from-scratch'] ? { fromScratch: true } : {}),
  };
}

/** --task mlm: plain text files, one document per paragraph (blank-line separated). */
async function readTexts(flags: Flags): Promise<{ train: TextExample[]; evalExamples: TextExample[] | undefined; task: 'mlm' }> {
  const train = await loadTextFile(flags.data!);
  const evalExamples = flags.eval === undefined ? undefined : await loadTextFile(flags.eval);
  return { train, evalExamples, task: 'mlm' };
}

/** Training (and evaluation) examples, read for one task: --task, or the training file's. */
async function readData(flags: Flags, task: Task | undefined): Promise<{ train: Example[]; evalExamples: Example[] | undefined; task: Task | 'mlm' }> {
  const train = await readExamples(flags.data!, flags, task);
  const resolved = task ?? inferTask(train);
  const evalExamples = flags.eval === undefined ? undefined : await readExamples(flags.eval, flags, resolved);
  return { train, evalExamples, task: resolved };
}

function describeRun(o: TrainerOptions, data: string, train: Example[] | TextExample[], evalFile: string | undefined, evalExamples: unknown[] | undefined): string {
  const lora = o.lora === false ? 'full fine-tuning' : `LoRA r=${o.lora?.r ?? 8} alpha=${o.lora?.alpha ?? 8} on ${formatTargets(o.lora?.targetModules)}`;
  const held = evalExamples ? `, ${evalExamples.length} evaluation examples from ${evalFile}` : '';
  const first = train[0] as Example | undefined;
  const features = first?.features ? `, features ${Object.keys(first.features).join(', ')}` : '';
  return `training ${o.model} (${o.task}${features}, ${lora}) on ${train.length} examples from ${data}${held}`;
}

function formatTargets(targets: string[] | string | undefined): string {
  if (targets === undefined) return 'q_lin, v_lin';
  return Array.isArray(targets) ? targets.join(', ') : targets;
}

/** The result without the per-step history and evaluations (progress and evaluate lines carried them). */
function summary(r: TrainResult): Omit<TrainResult, 'history' | 'evaluations'> {
  const { history: _history, evaluations: _evaluations, ...rest } = r;
  return rest;
}

/** The final metrics (or the last loss, without evaluation data). */
export function printResult(r: TrainResult, seconds: number): void {
  const early = r.stoppedEarly ? ', stopped early' : '';
  console.log(`\ntrained ${r.steps} steps (${r.epochs.toFixed(2)} epochs${early}) in ${seconds.toFixed(1)} s, final training loss ${r.loss.toFixed(4)}`);
  if (!r.finalEvaluation) return;
  const best = r.best ? ` (weights of step ${r.best.step}, best ${r.best.metric} ${r.best.value.toFixed(4)})` : '';
  console.log(`\nevaluation${best}:\n`);
  console.log(formatReport(r.finalEvaluation, r.labels));
  const c = r.calibration;
  if (c) {
    console.log(`\ncalibrated: temperature ${c.temperature.toFixed(4)}; on the evaluation examples NLL ${c.nllBefore.toFixed(4)} -> ${c.nllAfter.toFixed(4)}, ECE ${c.eceBefore.toFixed(4)} -> ${c.eceAfter.toFixed(4)}`);
  }
  if (r.labelThresholds) {
    console.log(`\nper-label thresholds, chosen on the evaluation examples:`);
    for (const [label, p] of Object.entries(r.labelThresholds))
      console.log(`  ${label}: P > ${p.threshold.toFixed(4)}: precision ${p.precision.toFixed(4)}, recall ${p.recall.toFixed(4)}${p.met ? '' : ' (target not reached)'}`);
  }
  const t = r.decisionThreshold;
  if (t) {
    const missed = t.met ? '' : ' (not reached: the closest threshold)';
    console.log(`\ndecision threshold for ${t.positiveLabel}: P > ${t.threshold.toFixed(4)}, chosen for ${describeTarget(t.target)}${missed}: precision ${t.precision.toFixed(4)}, recall ${t.recall.toFixed(4)}, F1 ${t.f1.toFixed(4)}`);
  }
}
