// Metrics that respect the order of ordinal classes (ids 0 < 1 < ... < K-1).
import { expected } from '../errors.js';

export interface OrdinalScores {
  /** Mean absolute error in classes: mean |true id - predicted id|. */
  mae: number;
  /**
   * Quadratic weighted kappa over all K classes: 1 - sum(W·O) / sum(W·E), with O the confusion
   * matrix, E the outer product of its row and column sums divided by n, and W[i][j] = (i - j)².
   * This is sklearn's cohen_kappa_score(y1, y2, weights='quadratic', labels=range(K)). NaN when
   * sum(W·E) is 0 (every true and predicted class the same), where sklearn gives nan too.
   */
  qwk: number;
}

export function ordinalScores(yTrue: Int32Array, yPred: Int32Array, K: number): OrdinalScores {
  if (!(yTrue instanceof Int32Array)) throw expected('an Int32Array of class ids', 'yTrue', yTrue);
  if (!(yPred instanceof Int32Array) || yPred.length !== yTrue.length) throw expected(`an Int32Array of length ${yTrue.length}`, 'yPred', yPred);
  if (!Number.isInteger(K) || K < 2) throw expected('an integer >= 2', 'K', K);
  const n = yTrue.length;
  for (const [ids, name] of [[yTrue, 'yTrue'], [yPred, 'yPred']] as const)
    ids.forEach((id, i) => {
      if (id < 0 || id >= K) throw expected(`a class id in [0, ${K})`, `${name}[${i}]`, id);
    });
  let absolute = 0;
  for (let i = 0; i < n; i++) absolute += Math.abs(yTrue[i]! - yPred[i]!);
  return { mae: n === 0 ? NaN : absolute / n, qwk: quadraticWeightedKappa(yTrue, yPred, K) };
}

export function quadraticWeightedKappa(yTrue: Int32Array, yPred: Int32Array, K: number): number {
  const n = yTrue.length;
  const observed = Array.from({ length: K }, () => new Array<number>(K).fill(0));
  for (let i = 0; i < n; i++) observed[yTrue[i]!]![yPred[i]!]!++;
  const rows = observed.map((r) => r.reduce((a, b) => a + b, 0));
  const cols = Array.from({ length: K }, (_, j) => observed.reduce((s, r) => s + r[j]!, 0));
  let num = 0;
  let den = 0;
  for (let i = 0; i < K; i++)
    for (let j = 0; j < K; j++) {
      const w = (i - j) ** 2;
      num += w * observed[i]![j]!;
      den += w * (rows[i]! * cols[j]!) / n;
    }
  return den === 0 ? NaN : 1 - num / den;
}
