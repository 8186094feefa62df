// Reading --data / --eval files for the CLI: column flags applied, an empty file
// is an error, and the library's option names in messages become flag names.
import type { Classifier } from '../classifier.js';
import { type Example, type Input, type LoadExamplesOptions, loadExamples, loadInputs } from '../data/examples.js';
import { ArgumentError, FormatError, LoraNodeError } from '../errors.js';
import type { Task } from '../task.js';
import { listFlag } from './args.js';

const FLAG_NAMES: [RegExp, string][] = [
  [/options\.textColumn/g, '--text-column'],
  [/options\.labelColumn/g, '--label-column'],
  [/options\.featureColumns/g, '--features'],
  [/options\.categoricalColumns/g, '--categorical'],
  [/categoricalColumns/g, '--categorical'],
  [/pass task: 'multi-label'/g, "pass --task multi-label"],
];

type ColumnFlags = { 'text-column'?: string | undefined; 'label-column'?: string | undefined; features?: string | undefined; categorical?: string | undefined };

export async function readExamples(file: string, flags: ColumnFlags, task?: Task): Promise<Example[]> {
  const options = columnOptions(flags);
  if (flags['label-column']) options.labelColumn = flags['label-column'];
  if (task) options.task = task;
  return nonEmpty(file, await withFlagNames(() => loadExamples(file, options)), 'examples');
}

/** Unlabelled rows (predict --data): the text column and the feature columns. */
export async function readInputs(file: string, flags: ColumnFlags): Promise<Input[]> {
  return nonEmpty(file, await withFlagNames(() => loadInputs(file, columnOptions(flags))), 'texts');
}

/** A model trained with features reads the same columns unless --features says otherwise. */
export function withModelFeatures<T extends ColumnFlags>(flags: T, classifier: Classifier): T {
  if (!classifier.features || flags.features !== undefined) return flags;
  const { numeric, categorical } = classifier.features;
  return { ...flags, features: [...numeric, ...categorical].map((f) => f.name).join(','), categorical: categorical.map((f) => f.name).join(',') || undefined };
}

function columnOptions(flags: ColumnFlags): LoadExamplesOptions {
  const options: LoadExamplesOptions = {};
  if (flags['text-column']) options.textColumn = flags['text-column'];
  const features = listFlag(flags.features, 'features', 'column names (amount,country)');
  const categorical = listFlag(flags.categorical, 'categorical', 'column names (country)');
  if (categorical && !features) throw new ArgumentError('Expected --features with --categorical (which of the feature columns hold categories) but received none');
  if (features) options.featureColumns = features;
  if (categorical) options.categoricalColumns = categorical;
  return options;
}

async function withFlagNames<T>(read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    if (!(error instanceof FormatError)) throw error;
    const message = FLAG_NAMES.reduce((m, [pattern, flag]) => m.replace(pattern, flag), error.message);
    throw new FormatError(error.code, message, { cause: error });
  }
}

function nonEmpty<T>(file: string, rows: T[], what: string): T[] {
  if (rows.length === 0) throw new LoraNodeError('ERR_DATA', `${file}: no ${what} (the file has a header row but no data rows)`);
  return rows;
}
