// Flags shared by the commands, and turning flag strings into checked values
// (one wording: "Expected X for --flag but received Y").
import type { ClassifierOptions } from '../classifier.js';
import { ArgumentError } from '../errors.js';

type OptionSpec = { type: 'string' | 'boolean'; short?: string };

/** Where and how a model runs: predict, eval, train and demo take these. */
export const RUNTIME_OPTIONS = {
  device: { type: 'string' },
  precision: { type: 'string' },
  threads: { type: 'string' },
  'max-length': { type: 'string' },
  'batch-size': { type: 'string' },
  json: { type: 'boolean' },
} as const satisfies Record<string, OptionSpec>;

/** Columns of a CSV / fields of a JSONL file (eval and train). */
export const DATA_OPTIONS = {
  data: { type: 'string' },
  'text-column': { type: 'string' },
  'label-column': { type: 'string' },
  /** Feature columns read beside the text (comma-separated); --categorical names those holding categories. */
  features: { type: 'string' },
  categorical: { type: 'string' },
} as const satisfies Record<string, OptionSpec>;

/** A comma-separated flag value as a list ("a, b" -> ['a', 'b']); undefined when the flag is absent. */
export function listFlag(value: string | undefined, flag: string, what: string): string[] | undefined {
  if (value === undefined) return undefined;
  const list = value.split(',').map((v) => v.trim()).filter(Boolean);
  if (list.length === 0) throw new ArgumentError(`Expected ${what} for --${flag} but received "${value}"`);
  return list;
}

export function requireFlag(value: string | undefined, flag: string, what: string): string {
  if (value === undefined || value === '') throw new ArgumentError(`Expected --${flag} ${what} but received none`);
  return value;
}

export function integerFlag(value: string | undefined, flag: string, min = 1): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isSafeInteger(n) || n < min)
    throw new ArgumentError(`Expected ${min === 0 ? 'a non-negative' : 'a positive'} integer for --${flag} but received "${value}"`);
  return n;
}

export function numberFlag(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new ArgumentError(`Expected a positive number for --${flag} but received "${value}"`);
  return n;
}

/** A number >= 0 (weight decay, warmup ratio); undefined when the flag is absent. */
export function nonNegativeFlag(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !(n >= 0) || !Number.isFinite(n)) throw new ArgumentError(`Expected a number >= 0 for --${flag} but received "${value}"`);
  return n;
}

/** A probability in [0, 1] (a decision threshold); undefined when the flag is absent. */
export function probabilityFlag(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !(n >= 0 && n <= 1)) throw new ArgumentError(`Expected a number in [0, 1] for --${flag} but received "${value}"`);
  return n;
}

/** --long-texts mean | max as predict's longTexts option (eval and predict). */
export function longTextsFlag(value: string | undefined): { longTexts?: { aggregate: 'mean' | 'max' } } {
  const aggregate = choiceFlag(value, 'long-texts', ['mean', 'max'] as const);
  return aggregate ? { longTexts: { aggregate } } : {};
}

export function choiceFlag<T extends string>(value: string | undefined, flag: string, choices: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!(choices as readonly string[]).includes(value))
    throw new ArgumentError(`Expected one of ${choices.join(', ')} for --${flag} but received "${value}"`);
  return value as T;
}

export const DEVICES_HELP = 'auto | cpu | cuda | cuda:N';
const PRECISIONS = ['auto', 'fp32', 'bf16', 'fp16'] as const;

/** --device, --precision, --threads, --max-length as Classifier options. */
export function runtimeOptions(flags: { device?: string; precision?: string; threads?: string; 'max-length'?: string }): ClassifierOptions {
  const options: ClassifierOptions = {};
  if (flags.device !== undefined) {
    if (!/^(auto|cpu|cuda(:\d+)?)$/.test(flags.device))
      throw new ArgumentError(`Expected one of ${DEVICES_HELP} for --device but received "${flags.device}"`);
    options.device = flags.device as ClassifierOptions['device'];
  }
  const precision = choiceFlag(flags.precision, 'precision', PRECISIONS);
  if (precision) options.precision = precision;
  const threads = integerFlag(flags.threads, 'threads');
  if (threads) options.threads = threads;
  const maxLength = integerFlag(flags['max-length'], 'max-length');
  if (maxLength) options.maxLength = maxLength;
  return options;
}
