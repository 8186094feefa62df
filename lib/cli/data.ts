// Reading --data / --eval files for the CLI: column flags applied, an empty file
// is an error, and the library's option names in messages become flag names.
import { type Example, type LoadExamplesOptions, loadExamples } from '../data/examples.js';
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

export async function readExamples(
  file: string,
  flags: { 'text-column'?: string | undefined; 'label-column'?: string | undefined; features?: string | undefined; categorical?: string | undefined },
  task?: Task,
): Promise<Example[]> {
  const options: LoadExamplesOptions = {};
  if (flags['text-column']) options.textColumn = flags['text-column'];
  if (flags['label-column']) options.labelColumn = flags['label-column'];
  const features = listFlag(flags.features, 'features', 'column names (amount,country)');
  const categorical = listFlag(flags.categorical, 'categorical', 'column names (country)');
  if (categorical && !features) throw new ArgumentError('Expected --features with --categorical (which of the feature columns hold categories) but received none');
  if (features) options.featureColumns = features;
  if (categorical) options.categoricalColumns = categorical;
  if (task) options.task = task;
  let examples: Example[];
  try {
    examples = await loadExamples(file, options);
  } catch (error) {
    if (!(error instanceof FormatError)) throw error;
    const message = FLAG_NAMES.reduce((m, [pattern, flag]) => m.replace(pattern, flag), error.message);
    throw new FormatError(error.code, message, { cause: error });
  }
  if (examples.length === 0) throw new LoraNodeError('ERR_DATA', `${file}: no examples (the file has a header row but no data rows)`);
  return examples;
}
