// Evaluation metrics, and how a metric named in options ('f1_macro', 'mse', ...) is read from a report.
import { ArgumentError, expected } from '../errors.js';
import type { ClassificationReport } from './classification.js';
import type { MultiLabelReport } from './multilabel.js';
import type { MaskedLmReport } from './masked-lm.js';
import type { RegressionReport } from './regression.js';

export { classificationReport, type ClassificationReport } from './classification.js';
export { multiLabelReport, tuneThresholds, type MultiLabelReport } from './multilabel.js';
export { regressionReport, type RegressionReport } from './regression.js';
export { rocAuc } from './roc-auc.js';
export { averagePrecision } from './average-precision.js';
export { chooseThreshold, type DecisionThreshold, type OperatingPoint, type ThresholdTarget } from './operating-point.js';
export { calibrate, expectedCalibrationError, type Calibration } from './calibration.js';
export { ordinalScores, quadraticWeightedKappa, type OrdinalScores } from './ordinal.js';
export type { Averages, LabelScores, Scores } from './averages.js';

export type { MaskedLmReport } from './masked-lm.js';

export type Report = ClassificationReport | MultiLabelReport | RegressionReport | MaskedLmReport;

export const METRIC_NAMES = [
  'loss',
  'accuracy',
  'f1_macro', 'f1_micro', 'f1_weighted',
  'precision_macro', 'precision_micro', 'precision_weighted',
  'recall_macro', 'recall_micro', 'recall_weighted',
  'roc_auc',
  'average_precision',
  'subset_accuracy', 'hamming_loss',
  'mse', 'mae', 'rmse', 'r2',
  'qwk',
] as const;
export type MetricName = (typeof METRIC_NAMES)[number];

const LOWER_IS_BETTER: ReadonlySet<MetricName> = new Set(['loss', 'hamming_loss', 'mse', 'mae', 'rmse']);

/** Whether a larger value of the metric is better (false for losses and errors). */
export function higherIsBetter(name: MetricName): boolean {
  return !LOWER_IS_BETTER.has(metricName(name));
}

/**
 * The metric's value in a report. 'accuracy' of a multi-label report is its subset accuracy
 * (as sklearn's accuracy_score); 'roc_auc' is the binary AUC or the macro one-vs-rest / per-label
 * mean, and may be NaN (see rocAuc). A metric the report does not hold (e.g. 'mse' of a
 * classification report, 'loss' when none was added) is an ArgumentError listing those it holds.
 */
export function metricValue(report: Report, name: MetricName): number {
  const value = lookup(report, metricName(name));
  if (value === undefined) {
    const available = METRIC_NAMES.filter((m) => lookup(report, m) !== undefined).map((m) => `'${m}'`);
    throw new ArgumentError(`Expected one of ${available.join(', ')} for metric (the ${report.kind} report's metrics) but received the string "${name}"`);
  }
  return value;
}

function metricName(name: unknown): MetricName {
  if (typeof name !== 'string' || !(METRIC_NAMES as readonly string[]).includes(name))
    throw expected(`one of ${METRIC_NAMES.map((m) => `'${m}'`).join(', ')}`, 'metric', name);
  return name as MetricName;
}

function lookup(report: Report, name: MetricName): number | undefined {
  if (name === 'loss') return report.loss;
  if (report.kind === 'masked-lm') return name === 'accuracy' ? report.accuracy : undefined;
  const averaged = /^(precision|recall|f1)_(macro|micro|weighted)$/.exec(name);
  if (report.kind === 'regression') {
    return name === 'mse' || name === 'mae' || name === 'rmse' || name === 'r2' ? report[name] : undefined;
  }
  if (averaged) return report[averaged[2] as 'macro' | 'micro' | 'weighted'][averaged[1] as 'precision' | 'recall' | 'f1'];
  if (name === 'roc_auc') return report.rocAuc;
  if (name === 'average_precision') return report.averagePrecision;
  // Ordinal: 'mae' is the mean absolute error in classes, 'qwk' the quadratic weighted kappa.
  if (report.kind === 'classification' && report.ordinal && (name === 'mae' || name === 'qwk')) return report.ordinal[name];
  if (report.kind === 'classification') return name === 'accuracy' ? report.accuracy : undefined;
  if (name === 'accuracy' || name === 'subset_accuracy') return report.subsetAccuracy;
  return name === 'hamming_loss' ? report.hammingLoss : undefined;
}
