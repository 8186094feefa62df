// Regression evaluation, with scikit-learn's definitions.
import { expected } from '../errors.js';

export interface RegressionReport {
  kind: 'regression';
  mse: number;
  mae: number;
  rmse: number;
  /** Coefficient of determination; for constant targets 1 if predicted exactly, else 0 (sklearn's force_finite). */
  r2: number;
  /** Mean loss, when the caller adds it. */
  loss?: number;
}

export function regressionReport(yTrue: ArrayLike<number>, yPred: ArrayLike<number>): RegressionReport {
  const n = yTrue?.length;
  if (typeof n !== 'number' || n === 0) throw expected('a non-empty array of targets', 'yTrue', yTrue);
  if (yPred?.length !== n) throw expected(`an array of ${n} predictions`, 'yPred', yPred);
  let mean = 0;
  for (let i = 0; i < n; i++) mean += yTrue[i]!;
  mean /= n;
  let squared = 0;
  let absolute = 0;
  let total = 0;
  for (let i = 0; i < n; i++) {
    const error = yTrue[i]! - yPred[i]!;
    squared += error * error;
    absolute += Math.abs(error);
    total += (yTrue[i]! - mean) ** 2;
  }
  const mse = squared / n;
  const r2 = total === 0 ? (squared === 0 ? 1 : 0) : 1 - squared / total;
  return { kind: 'regression', mse, mae: absolute / n, rmse: Math.sqrt(mse), r2 };
}
