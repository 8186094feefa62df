// Ordinal severity (CORAL, native/core/ordinal.h): the model gives K-1
// cumulative logits, P(y > k) = sigmoid(logit_k). From them:
//   class    = the number of k with P(y > k) > 0.5   (CORAL's rank rule)
//   severity = sum_k P(y > k), the expected class index in [0, K-1]
//   P(y = k) = P(y > k-1) - P(y > k) (P(y > -1) = 1, P(y > K-1) = 0), clamped at 0 and
//              renormalised, so the scores never go negative and sum to 1.

const sigmoid = (v: number): number => 1 / (1 + Math.exp(-v));

export interface OrdinalOutput {
  /** Predicted class index. */
  index: number;
  /** Expected severity, in class units (0 = the first label). */
  severity: number;
  /** P(y = k) per class. */
  probs: number[];
}

/** One row of K-1 cumulative logits -> class, expected severity and class probabilities. */
export function ordinalOutput(logits: ArrayLike<number>): OrdinalOutput {
  const above = Array.from(logits, sigmoid);
  const index = above.filter((p) => p > 0.5).length;
  const severity = above.reduce((a, b) => a + b, 0);
  const raw = Array.from({ length: above.length + 1 }, (_, k) => Math.max(0, (k === 0 ? 1 : above[k - 1]!) - (k === above.length ? 0 : above[k]!)));
  const total = raw.reduce((a, b) => a + b, 0);
  return { index, severity, probs: total > 0 ? raw.map((p) => p / total) : raw.map(() => 1 / raw.length) };
}

/**
 * Starting thresholds from the training labels: b_k = logit(P(y > k)), so a fresh head predicts
 * the training set's class frequencies (as cumulative-link models start their intercepts).
 * Proportions are kept in [1/(2n), 1 - 1/(2n)] so an empty class gives a finite threshold.
 * Without this, coral-pytorch's (K-1 ... 1)/(K-1) start 1/(K-1) apart, and the optimizer
 * spends hundreds of steps spreading them before the classes separate.
 */
export function ordinalStartThresholds(labels: Int32Array, K: number): number[] {
  const n = labels.length;
  const lo = 1 / (2 * n);
  return Array.from({ length: K - 1 }, (_, k) => {
    let above = 0;
    for (const y of labels) if (y > k) above++;
    const p = Math.min(1 - lo, Math.max(lo, above / n));
    return Math.log(p / (1 - p));
  });
}
