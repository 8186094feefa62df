// `lora-node predict`: classify texts from arguments, a file or stdin.
import { readFileSync } from 'node:fs';

import { Classifier, type ClassifierOptions } from '../classifier.js';
import { ArgumentError } from '../errors.js';

interface PredictFlags {
  model?: string;
  file?: string;
  device?: string;
  precision?: string;
  threads?: string;
  'batch-size'?: string;
  'max-length'?: string;
  json?: boolean;
}

function integerFlag(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new ArgumentError(`Expected a positive integer for --${flag} but received "${value}"`);
  return n;
}

function readTexts(flags: PredictFlags, positionals: string[]): string[] {
  if (flags.file === undefined) return positionals;
  const text = readFileSync(flags.file === '-' ? 0 : flags.file, 'utf8');
  return [...positionals, ...text.split(/\r?\n/).filter((line) => line.trim().length > 0)];
}

export async function runPredict(flags: PredictFlags, positionals: string[]): Promise<number> {
  if (!flags.model) throw new ArgumentError('Expected --model DIR (a Hugging Face checkpoint folder) but received none');
  const texts = readTexts(flags, positionals);
  if (texts.length === 0) throw new ArgumentError('Expected texts to classify (arguments or --file) but received none');
  const options: ClassifierOptions = {};
  if (flags.device) options.device = flags.device as ClassifierOptions['device'];
  if (flags.precision) options.precision = flags.precision as ClassifierOptions['precision'];
  const threads = integerFlag(flags.threads, 'threads');
  if (threads) options.threads = threads;
  const maxLength = integerFlag(flags['max-length'], 'max-length');
  if (maxLength) options.maxLength = maxLength;
  const batchSize = integerFlag(flags['batch-size'], 'batch-size');

  const started = performance.now();
  using classifier = await Classifier.load(flags.model, options);
  const loaded = performance.now();
  const predictions = await classifier.predict(texts, batchSize ? { batchSize } : {});
  const done = performance.now();

  if (flags.json) {
    predictions.forEach((p, i) => console.log(JSON.stringify({ text: texts[i], ...p })));
    return 0;
  }
  console.log(`model: ${flags.model} (${classifier.task}, labels: ${classifier.labels.join(', ')})`);
  console.log(`device: ${classifier.device}, precision: ${classifier.precision} (${classifier.precisionReason})`);
  for (const [i, p] of predictions.entries()) {
    const extra = p.labels ? ` [${p.labels.join(', ')}]` : '';
    const text = texts[i]!.length > 60 ? texts[i]!.slice(0, 57) + '...' : texts[i]!;
    console.log(`${p.label.padEnd(12)} ${p.score.toFixed(4)}${extra}  ${text}`);
  }
  console.log(`loaded in ${(loaded - started).toFixed(0)} ms, ${texts.length} texts in ${(done - loaded).toFixed(0)} ms`);
  return 0;
}
