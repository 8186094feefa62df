// `lora-node eval`: classify a labelled file with a checkpoint (and adapter)
// and print the metrics report for its task.
import { parseArgs } from 'node:util';

import { Classifier } from '../classifier.js';
import { type Example, encodeLabels } from '../data/examples.js';
import { FormatError } from '../errors.js';
import { describeTarget } from '../metrics/operating-point.js';
import { type Report, classificationReport, multiLabelReport, ordinalScores, regressionReport } from '../metrics/index.js';
import type { Prediction } from '../task.js';
import { DATA_OPTIONS, RUNTIME_OPTIONS, integerFlag, longTextsFlag, requireFlag, runtimeOptions } from './args.js';
import { prefetchSources } from './download.js';
import { readExamples, withModelFeatures } from './data.js';
import { decisionThresholdLine, formatReport } from './report.js';

const OPTIONS = { ...RUNTIME_OPTIONS, ...DATA_OPTIONS, model: { type: 'string' }, adapter: { type: 'string' }, 'long-texts': { type: 'string' } } as const;

export async function runEval(args: string[]): Promise<number> {
  const { values: flags } = parseArgs({ args, options: OPTIONS });
  const model = requireFlag(flags.model, 'model', 'DIR (a Hugging Face checkpoint folder or hub repo id)');
  const data = requireFlag(flags.data, 'data', 'FILE (labelled examples, .csv or .jsonl)');
  const batchSize = integerFlag(flags['batch-size'], 'batch-size') ?? 32;
  const options = runtimeOptions(flags);
  if (flags.adapter) options.adapter = flags.adapter;
  await prefetchSources(flags);

  const started = performance.now();
  using classifier = await Classifier.load(model, options);
  const examples = await readExamples(data, withModelFeatures(flags, classifier), classifier.task);
  const features = classifier.features ? { features: examples.map((e) => e.features ?? {}) } : {};
  const predictions = await classifier.predict(examples.map((e) => e.text), { batchSize, ...features, ...longTextsFlag(flags['long-texts']) });
  const report = evaluationReport(classifier, examples, predictions, data);
  const seconds = (performance.now() - started) / 1000;

  if (flags.json) {
    const { task, labels } = classifier;
    const decisionThreshold = classifier.decisionThreshold ?? null;
    const temperature = classifier.temperature ?? null;
    console.log(JSON.stringify({ type: 'report', model, adapter: flags.adapter ?? null, data, examples: examples.length, task, labels, decisionThreshold, temperature, report, seconds }));
    return 0;
  }
  const adapter = flags.adapter ? ` + adapter ${flags.adapter}` : '';
  console.log(`model: ${model}${adapter} (${classifier.task}, labels: ${classifier.labels.join(', ')})`);
  console.log(`device: ${classifier.device}, precision: ${classifier.precision}`);
  const t = classifier.decisionThreshold;
  if (t) console.log(decisionThresholdLine(t.positiveLabel, t.threshold, `chosen in training for ${describeTarget(t.target)}`));
  console.log(`${examples.length} examples from ${data}, evaluated in ${seconds.toFixed(1)} s\n`);
  console.log(formatReport(report, classifier.labels));
  return 0;
}

/** The report for the classifier's task, from its predictions and the examples' labels. */
export function evaluationReport(classifier: Classifier, examples: Example[], predictions: Prediction[], file: string): Report {
  const { labels, task } = classifier;
  let truth: Int32Array | Float32Array;
  try {
    truth = encodeLabels(examples, labels, task);
  } catch (error) {
    if (error instanceof FormatError) throw new FormatError(error.code, `${file}: ${error.message} (the model's labels)`, { cause: error });
    throw error;
  }
  if (task === 'regression') return regressionReport(truth, predictions.map((p) => p.score));
  const K = labels.length;
  const probs = new Float32Array(predictions.length * K);
  predictions.forEach((p, i) => labels.forEach((label, k) => (probs[i * K + k] = p.scores[label]!)));
  if (task === 'multi-label') return multiLabelReport(truth as Float32Array, probs, labels, classifier.thresholds ?? 0.5);
  const predicted = Int32Array.from(predictions, (p) => labels.indexOf(p.label));
  const report = classificationReport(truth as Int32Array, predicted, labels, probs);
  return task === 'ordinal' ? { ...report, ordinal: ordinalScores(truth as Int32Array, predicted, K) } : report;
}
