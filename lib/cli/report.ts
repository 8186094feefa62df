// Metric reports as text: a classification report in scikit-learn's layout,
// its multi-label and regression counterparts, and a one-line headline.
import type { ClassificationReport, MultiLabelReport, RegressionReport, Report, Scores } from '../metrics/index.js';

const f4 = (x: number | undefined): string => (x === undefined || Number.isNaN(x) ? '   n/a' : x.toFixed(4));

/** The few numbers that say how a report went, for progress lines: "accuracy 0.9167  f1_macro 0.9003". */
export function headline(report: Report): string {
  const parts: [string, number | undefined][] =
    report.kind === 'masked-lm'
      ? [['masked-token accuracy', report.accuracy], ['masked tokens', report.tokens]]
      : report.kind === 'regression'
      ? [['mse', report.mse], ['mae', report.mae], ['r2', report.r2]]
      : report.kind === 'multi-label'
        ? [['f1_micro', report.micro.f1], ['f1_macro', report.macro.f1], ['subset_accuracy', report.subsetAccuracy]]
        : [['accuracy', report.accuracy], ['f1_macro', report.macro.f1]];
  if (report.kind === 'classification' && report.ordinal) parts.push(['mae_classes', report.ordinal.mae], ['qwk', report.ordinal.qwk]);
  if (report.loss !== undefined) parts.unshift(['loss', report.loss]);
  return parts.map(([name, value]) => `${name} ${f4(value)}`).join('  ');
}

/** The whole report, as lines of text. */
export function formatReport(report: Report, labels: readonly string[]): string {
  if (report.kind === 'regression') return regressionText(report);
  if (report.kind === 'masked-lm') return headline(report);
  return report.kind === 'multi-label' ? multiLabelText(report, labels) : classificationText(report, labels);
}

function labelWidth(labels: readonly string[]): number {
  return Math.min(24, Math.max(12, ...labels.map((l) => l.length)));
}

function clip(text: string, width: number): string {
  return text.length > width ? text.slice(0, width - 1) + '…' : text;
}

function row(name: string, width: number, cells: string[]): string {
  return clip(name, width).padStart(width) + cells.map((c) => c.padStart(11)).join('');
}

function scoreCells(s: Scores): string[] {
  return [f4(s.precision), f4(s.recall), f4(s.f1)];
}

function classificationText(r: ClassificationReport, labels: readonly string[]): string {
  const w = labelWidth(labels);
  const n = r.confusionMatrix.reduce((s, line) => s + line.reduce((a, b) => a + b, 0), 0);
  const lines = [row('', w, ['precision', 'recall', 'f1-score', 'support']), ''];
  for (const label of labels) {
    const s = r.perLabel[label]!;
    lines.push(row(label, w, [...scoreCells(s), String(s.support)]));
  }
  lines.push('', row('accuracy', w, ['', '', f4(r.accuracy), String(n)]));
  lines.push(row('macro avg', w, [...scoreCells(r.macro), String(n)]));
  lines.push(row('weighted avg', w, [...scoreCells(r.weighted), String(n)]));
  const extras = [
    r.rocAuc !== undefined ? `ROC-AUC ${f4(r.rocAuc)}` : '',
    r.averagePrecision !== undefined ? `average precision ${f4(r.averagePrecision)}` : '',
    r.loss !== undefined ? `loss ${f4(r.loss)}` : '',
  ].filter(Boolean);
  if (r.ordinal) extras.unshift(`MAE (classes) ${f4(r.ordinal.mae)}  quadratic weighted kappa ${f4(r.ordinal.qwk)}`);
  if (extras.length) lines.push('', extras.join('  '));
  lines.push('', 'confusion matrix (rows: true label, columns: predicted)');
  const cw = Math.min(13, Math.max(6, ...labels.map((l) => l.length + 2), ...r.confusionMatrix.flat().map((c) => String(c).length + 1)));
  lines.push(' '.repeat(w) + labels.map((l) => clip(l, cw - 1).padStart(cw)).join(''));
  labels.forEach((label, i) => lines.push(clip(label, w).padStart(w) + r.confusionMatrix[i]!.map((c) => String(c).padStart(cw)).join('')));
  return lines.join('\n');
}

function multiLabelText(r: MultiLabelReport, labels: readonly string[]): string {
  const w = labelWidth(labels);
  const lines = [row('', w, ['precision', 'recall', 'f1-score', 'support', 'ROC-AUC', 'AP', 'threshold']), ''];
  labels.forEach((label, k) => {
    const s = r.perLabel[label]!;
    lines.push(row(label, w, [...scoreCells(s), String(s.support), f4(s.rocAuc), f4(s.averagePrecision), f4(r.thresholds[k])]));
  });
  lines.push('', row('micro avg', w, scoreCells(r.micro)), row('macro avg', w, scoreCells(r.macro)), row('weighted avg', w, scoreCells(r.weighted)));
  const extras = [`subset accuracy ${f4(r.subsetAccuracy)}`, `hamming loss ${f4(r.hammingLoss)}`, `ROC-AUC ${f4(r.rocAuc)}`, `average precision ${f4(r.averagePrecision)}`];
  if (r.loss !== undefined) extras.push(`loss ${f4(r.loss)}`);
  lines.push('', extras.join('  '));
  return lines.join('\n');
}

function regressionText(r: RegressionReport): string {
  const lines = [`mse  ${f4(r.mse)}`, `rmse ${f4(r.rmse)}`, `mae  ${f4(r.mae)}`, `r2   ${f4(r.r2)}`];
  if (r.loss !== undefined) lines.push(`loss ${f4(r.loss)}`);
  return lines.join('\n');
}

/** How predict and eval say which threshold decides a binary model's label. */
export function decisionThresholdLine(label: string, threshold: number, source: string): string {
  return `decision threshold: ${label} when its probability > ${threshold.toFixed(4)} (${source})`;
}
