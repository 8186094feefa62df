// `lora-node predict`: classify texts from arguments, a file or stdin.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { Classifier } from '../classifier.js';
import { ArgumentError } from '../errors.js';
import { RUNTIME_OPTIONS, integerFlag, requireFlag, runtimeOptions } from './args.js';

const OPTIONS = { ...RUNTIME_OPTIONS, model: { type: 'string' }, adapter: { type: 'string' }, file: { type: 'string' } } as const;

function readTexts(file: string | undefined, positionals: string[]): string[] {
  if (file === undefined) return positionals;
  const text = readFileSync(file === '-' ? 0 : file, 'utf8');
  return [...positionals, ...text.split(/\r?\n/).filter((line) => line.trim().length > 0)];
}

export async function runPredict(args: string[]): Promise<number> {
  const { values: flags, positionals } = parseArgs({ args, options: OPTIONS, allowPositionals: true });
  const model = requireFlag(flags.model, 'model', 'DIR (a Hugging Face checkpoint folder)');
  const texts = readTexts(flags.file, positionals);
  if (texts.length === 0) throw new ArgumentError('Expected texts to classify (arguments or --file) but received none');
  const options = runtimeOptions(flags);
  if (flags.adapter) options.adapter = flags.adapter;
  const batchSize = integerFlag(flags['batch-size'], 'batch-size');

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
  const adapter = flags.adapter ? ` + adapter ${flags.adapter}` : '';
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
