// Precision, recall and F1 from counts, and their macro/micro/weighted averages,
// with scikit-learn's conventions (zero_division=0: an undefined ratio is 0).

export interface Scores {
  precision: number;
  recall: number;
  f1: number;
}
export interface LabelScores extends Scores {
  /** Number of examples whose true labels include this label. */
  support: number;
}
export interface Counts {
  tp: number;
  fp: number;
  fn: number;
}

const ratio = (num: number, den: number): number => (den === 0 ? 0 : num / den);

export function scoresFromCounts({ tp, fp, fn }: Counts): LabelScores {
  // F1 = 2tp / (2tp + fp + fn) is 2PR / (P + R) without dividing twice, and 0 where that is 0/0.
  return { precision: ratio(tp, tp + fp), recall: ratio(tp, tp + fn), f1: ratio(2 * tp, 2 * tp + fp + fn), support: tp + fn };
}

export interface Averages {
  /** Unweighted mean over labels (labels without support count as well). */
  macro: Scores;
  /** Scores of the summed counts. */
  micro: Scores;
  /** Mean over labels weighted by support; 0 when there is no support at all. */
  weighted: Scores;
}

export function averages(counts: readonly Counts[]): Averages {
  const perLabel = counts.map(scoresFromCounts);
  const sum = (f: (c: Counts) => number): number => counts.reduce((s, c) => s + f(c), 0);
  const { precision, recall, f1 } = scoresFromCounts({ tp: sum((c) => c.tp), fp: sum((c) => c.fp), fn: sum((c) => c.fn) });
  const totalSupport = perLabel.reduce((s, l) => s + l.support, 0);
  const mean = (key: keyof Scores, weight: (l: LabelScores) => number, total: number): number =>
    ratio(perLabel.reduce((s, l) => s + weight(l) * l[key], 0), total);
  const average = (weight: (l: LabelScores) => number, total: number): Scores => ({
    precision: mean('precision', weight, total),
    recall: mean('recall', weight, total),
    f1: mean('f1', weight, total),
  });
  return {
    macro: average(() => 1, perLabel.length),
    micro: { precision, recall, f1 },
    weighted: average((l) => l.support, totalSupport),
  };
}
