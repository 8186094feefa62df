// `lora-node predict`: classify texts from arguments, a file or stdin.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { Classifier, type ClassifierOptions } from '../classifier.js';
import { ArgumentError } from '../errors.js';
import { RUNTIME_OPTIONS, integerFlag, requireFlag, runtimeOptions } from './args.js';
import { prefetchSources } from './download.js';

const OPTIONS = { ...RUNTIME_OPTIONS, model: { type: 'string' }, adapter: { type: 'string', multiple: true }, file: { type: 'string' } } as const;

function readTexts(file: string | undefined, positionals: string[]): string[] {
  if (file === undefined) return positionals;
  const text = readFileSync(file === '-' ? 0 : file, 'utf8');
  return [...positionals, ...text.split(/\r?\n/).filter((line) => line.trim().length > 0)];
}

export async function runPredict(args: string[]): Promise<number> {
  const { values: flags, positionals } = parseArgs({ args, options: OPTIONS, allowPositionals: true });
  const model = requireFlag(flags.model, 'model', 'DIR (a Hugging Face checkpoint folder or hub repo id)');
  const texts = readTexts(flags.file, positionals);
  if (texts.length === 0) throw new ArgumentError('Expected texts to classify (arguments or --file) but received none');
  const options = runtimeOptions(flags);
  const batchSize = integerFlag(flags['batch-size'], 'batch-size');
  await prefetchSources(flags);
  const adapters = namedAdapters(flags.adapter ?? []);
  if (adapters) return predictMulti(model, adapters, options, texts, batchSize, flags.json === true);
  if (flags.adapter?.length) options.adapter = flags.adapter[0];

  const started = performance.now();
  using classifier = await Classifier.load(model, options);
  if (classifier.features) {
    const names = [...classifier.features.numeric, ...classifier.features.categorical].map((f) => f.name).join(', ');
    throw new ArgumentError(`Expected a model trained on text alone for predict but this one also takes features (${names}): use \`lora-node eval --data FILE\` or Classifier.predict(texts, { features })`);
  }
  const loaded = performance.now();
  const predictions = await classifier.predict(texts, batchSize ? { batchSize } : {});
  const done = performance.now();

  if (flags.json) {
    predictions.forEach((p, i) => console.log(JSON.stringify({ text: texts[i], ...p })));
    return 0;
  }
  const adapter = options.adapter ? ` + adapter ${options.adapter}` : '';
  console.log(`model: ${model}${adapter} (${classifier.task}, labels: ${classifier.labels.join(', ')})`);
  console.log(`device: ${classifier.device}, precision: ${classifier.precision} (${classifier.precisionReason})`);
  for (const [i, p] of predictions.entries()) {
    const extra = p.labels ? ` [${p.labels.join(', ')}]` : p.severity !== undefined ? ` severity ${p.severity.toFixed(2)}` : '';
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
  batchSize: number | undefined,
  json: boolean,
): Promise<number> {
  const started = performance.now();
  using classifier = await Classifier.load(model, { ...options, adapters });
  const loaded = performance.now();
  const predictions = await classifier.predict(texts, batchSize ? { batchSize } : {});
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
