// `lora-node predict`: classify texts from arguments, a file or stdin, or the rows of a
// CSV/JSONL file (--data) with the feature columns a model trained on features needs.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { Classifier, type ClassifierOptions } from '../classifier.js';
import type { Input } from '../data/examples.js';
import { ArgumentError } from '../errors.js';
import type { Features } from '../features/schema.js';
import { describeTarget } from '../metrics/operating-point.js';
import { DATA_OPTIONS, RUNTIME_OPTIONS, integerFlag, longTextsFlag, probabilityFlag, requireFlag, runtimeOptions } from './args.js';
import { readInputs, withModelFeatures } from './data.js';
import { prefetchSources } from './download.js';
import { decisionThresholdLine } from './report.js';

const { 'label-column': _labels, ...INPUT_OPTIONS } = DATA_OPTIONS;
const OPTIONS = {
  ...RUNTIME_OPTIONS,
  ...INPUT_OPTIONS,
  model: { type: 'string' },
  adapter: { type: 'string', multiple: true },
  file: { type: 'string' },
  threshold: { type: 'string' },
  'long-texts': { type: 'string' },
} as const;

function readTexts(file: string | undefined, positionals: string[]): string[] {
  if (file === undefined) return positionals;
  const text = readFileSync(file === '-' ? 0 : file, 'utf8');
  return [...positionals, ...text.split(/\r?\n/).filter((line) => line.trim().length > 0)];
}

export async function runPredict(args: string[]): Promise<number> {
  const { values: flags, positionals } = parseArgs({ args, options: OPTIONS, allowPositionals: true });
  const model = requireFlag(flags.model, 'model', 'DIR (a Hugging Face checkpoint folder or hub repo id)');
  if (flags.data !== undefined && (flags.file !== undefined || positionals.length > 0))
    throw new ArgumentError(`Expected texts from one source, --data FILE or arguments / --file, but received both`);
  if (flags.data === undefined) {
    const columnFlag = (['text-column', 'features', 'categorical'] as const).find((f) => flags[f] !== undefined);
    if (columnFlag) throw new ArgumentError(`Expected --${columnFlag} only with --data FILE but received it without`);
  }
  let texts = readTexts(flags.file, positionals);
  if (flags.data === undefined && texts.length === 0) throw new ArgumentError('Expected texts to classify (arguments, --file or --data) but received none');
  const options = runtimeOptions(flags);
  const batchSize = integerFlag(flags['batch-size'], 'batch-size');
  const threshold = probabilityFlag(flags.threshold, 'threshold');
  const predictOptions = {
    ...(batchSize ? { batchSize } : {}),
    ...(threshold !== undefined ? { threshold } : {}),
    ...longTextsFlag(flags['long-texts']),
  };
  await prefetchSources(flags);
  const adapters = namedAdapters(flags.adapter ?? []);
  if (adapters) {
    if (flags.data !== undefined) texts = (await readInputs(flags.data, flags)).map((row) => row.text);
    return predictMulti(model, adapters, options, texts, predictOptions, flags.json === true);
  }
  if (flags.adapter?.length) options.adapter = flags.adapter[0];

  const started = performance.now();
  using classifier = await Classifier.load(model, options);
  let features: Features[] | undefined;
  if (flags.data !== undefined) {
    const rows: Input[] = await readInputs(flags.data, withModelFeatures(flags, classifier));
    texts = rows.map((row) => row.text);
    if (classifier.features) features = rows.map((row) => row.features ?? {});
  } else if (classifier.features) {
    const names = [...classifier.features.numeric, ...classifier.features.categorical].map((f) => f.name).join(', ');
    throw new ArgumentError(`Expected --data FILE (rows with the feature columns ${names}) for a model trained with features but received texts alone`);
  }
  const loaded = performance.now();
  const predictions = await classifier.predict(texts, { ...predictOptions, ...(features ? { features } : {}) });
  const done = performance.now();

  if (flags.json) {
    predictions.forEach((p, i) => console.log(JSON.stringify({ text: texts[i], ...(features ? { features: features[i] } : {}), ...p })));
    return 0;
  }
  const adapter = options.adapter ? ` + adapter ${options.adapter}` : '';
  console.log(`model: ${model}${adapter} (${classifier.task}, labels: ${classifier.labels.join(', ')})`);
  console.log(`device: ${classifier.device}, precision: ${classifier.precision} (${classifier.precisionReason})`);
  if (classifier.temperature !== undefined) console.log(`calibrated: probabilities are softmax(logits / ${classifier.temperature.toFixed(4)})`);
  const t = classifier.decisionThreshold;
  if (classifier.task === 'binary' && (t || threshold !== undefined)) {
    const chosen = threshold !== undefined ? '--threshold' : `chosen in training for ${describeTarget(t!.target)}`;
    console.log(decisionThresholdLine(classifier.labels[1]!, threshold ?? t!.threshold, chosen));
  }
  for (const [i, p] of predictions.entries()) {
    const extra =
      (p.labels ? ` [${p.labels.join(', ')}]` : p.severity !== undefined ? ` severity ${p.severity.toFixed(2)}` : '') +
      (p.truncated ? ' (truncated)' : '') +
      (p.windows !== undefined && p.windows > 1 ? ` (${p.windows} windows)` : '');
    const text = texts[i]!.length > 60 ? texts[i]!.slice(0, 57) + '...' : texts[i]!;
    console.log(`${p.label.padEnd(12)} ${p.score.toFixed(4)}${extra}  ${text}`);
  }
  console.log(`loaded in ${(loaded - started).toFixed(0)} ms, ${texts.length} texts in ${(done - loaded).toFixed(0)} ms`);
  return 0;
}

// --- one base, many adapters: --adapter NAME=DIR, repeatable ---

/** Several --adapter NAME=DIR: name -> folder. One plain --adapter DIR: undefined (a single adapter). */
function namedAdapters(values: string[]): Record<string, string> | undefined {
  const named = values.map((v) => /^([^=/\\]+)=(.+)$/.exec(v));
  if (values.length <= 1 && !named[0]) return undefined;
  const adapters: Record<string, string> = {};
  values.forEach((value, i) => {
    const match = named[i];
    if (!match) throw new ArgumentError(`Expected --adapter NAME=DIR for each of several adapters but received "${value}"`);
    if (Object.hasOwn(adapters, match[1]!)) throw new ArgumentError(`Expected each --adapter name once but received "${match[1]}" twice`);
    adapters[match[1]!] = match[2]!;
  });
  return adapters;
}

async function predictMulti(
  model: string,
  adapters: Record<string, string>,
  options: ClassifierOptions,
  texts: string[],
  predictOptions: { batchSize?: number; threshold?: number; longTexts?: { aggregate: 'mean' | 'max' } },
  json: boolean,
): Promise<number> {
  const started = performance.now();
  using classifier = await Classifier.load(model, { ...options, adapters });
  const loaded = performance.now();
  const predictions = await classifier.predict(texts, predictOptions);
  const done = performance.now();
  if (json) {
    predictions.forEach((p, i) => console.log(JSON.stringify({ text: texts[i], predictions: p })));
    return 0;
  }
  console.log(`model: ${model} + ${Object.keys(adapters).length} adapters (shared layers: ${classifier.sharedLayers})`);
  for (const a of classifier.adapters) console.log(`  ${a.name}: ${a.dir} (${a.task}, labels: ${a.labels.join(', ')})`);
  console.log(`device: ${classifier.device}, precision: ${classifier.precision} (${classifier.precisionReason})`);
  for (const [i, p] of predictions.entries()) {
    const text = texts[i]!.length > 60 ? texts[i]!.slice(0, 57) + '...' : texts[i]!;
    const columns = Object.entries(p).map(([name, q]) => `${name}=${q.label} ${q.score.toFixed(4)}${q.labels ? ` [${q.labels.join(', ')}]` : ''}`);
    console.log(`${columns.join('  ')}  ${text}`);
  }
  console.log(`loaded in ${(loaded - started).toFixed(0)} ms, ${texts.length} texts in ${(done - loaded).toFixed(0)} ms`);
  return 0;
}
