import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  averagePrecision,
  classificationReport,
  higherIsBetter,
  metricValue,
  multiLabelReport,
  regressionReport,
  rocAuc,
  tuneThresholds,
  type Scores,
} from '../../lib/metrics/index.js';
import { caught } from '../helpers/errors.js';

// Made by test/fixtures/metrics/make_expected.py (scikit-learn); null stands for NaN.
interface ScoresJson { precision: number; recall: number; f1: number }
interface PrfJson { perLabel: (ScoresJson & { support: number })[]; macro: ScoresJson; micro: ScoresJson; weighted: ScoresJson }
interface Expected {
  generator: string;
  classification: { name: string; labels: string[]; yTrue: number[]; yPred: number[]; probs?: number[];
    expected: PrfJson & { accuracy: number; confusionMatrix: number[][]; rocAuc?: number } }[];
  multilabel: { name: string; labels: string[]; yTrue: number[]; probs: number[]; thresholds: number | number[];
    expected: PrfJson & { subsetAccuracy: number; hammingLoss: number; rocAuc: (number | null)[]; rocAucMacro: number | null; tunedThresholds: number[] } }[];
  rocAuc: { name: string; yTrue: number[]; scores: number[]; expected: number }[];
  regression: { name: string; yTrue: number[]; yPred: number[]; expected: { mse: number; mae: number; rmse: number; r2: number } }[];
}
const EXPECTED = JSON.parse(
  readFileSync(fileURLToPath(new URL('../fixtures/metrics/expected.json', import.meta.url)), 'utf8'),
) as Expected;

const DIGITS = 12; // sklearn divides in another order (2PR/(P+R), pairwise sums): last bits differ
const nan = (v: number | null): number => (v === null ? NaN : v);

function expectScores(actual: Scores, expected: ScoresJson): void {
  expect(actual.precision).toBeCloseTo(expected.precision, DIGITS);
  expect(actual.recall).toBeCloseTo(expected.recall, DIGITS);
  expect(actual.f1).toBeCloseTo(expected.f1, DIGITS);
}

function expectPrf(report: { macro: Scores; micro: Scores; weighted: Scores; perLabel: Record<string, Scores & { support: number }> },
  labels: string[], expected: PrfJson): void {
  expectScores(report.macro, expected.macro);
  expectScores(report.micro, expected.micro);
  expectScores(report.weighted, expected.weighted);
  labels.forEach((label, k) => {
    expectScores(report.perLabel[label]!, expected.perLabel[k]!);
    expect(report.perLabel[label]!.support).toBe(expected.perLabel[k]!.support);
  });
}


describe('classificationReport', () => {
  it('binary, worked by hand', () => {
    // yTrue 0 1 1 0 1, yPred 0 1 0 0 1 → confusion [[2, 0], [1, 2]], accuracy 4/5.
    // neg: tp 2, fp 1, fn 0 → P 2/3, R 1,   F1 2·2/(2·2+1+0) = 4/5
    // pos: tp 2, fp 0, fn 1 → P 1,   R 2/3, F1 4/5
    // macro P = R = (2/3 + 1)/2 = 5/6; weighted (supports 2, 3): P = (2·2/3 + 3·1)/5 = 13/15, R = (2·1 + 3·2/3)/5 = 4/5
    // ROC-AUC of p(pos) 0.2 0.7 0.4 0.4 0.9: positive-negative pairs won 0.7>0.2, 0.7>0.4, 0.4>0.2,
    // 0.4=0.4 (½), 0.9>both → 5.5 of 6 = 11/12.
    const probs = Float32Array.from([0.8, 0.2, 0.3, 0.7, 0.6, 0.4, 0.6, 0.4, 0.1, 0.9]);
    const r = classificationReport(Int32Array.from([0, 1, 1, 0, 1]), Int32Array.from([0, 1, 0, 0, 1]), ['neg', 'pos'], probs);
    expect(r.kind).toBe('classification');
    expect(r.confusionMatrix).toEqual([[2, 0], [1, 2]]);
    expect(r.accuracy).toBeCloseTo(4 / 5, 15);
    expect(r.perLabel['neg']).toEqual({ precision: 2 / 3, recall: 1, f1: 4 / 5, support: 2 });
    expect(r.perLabel['pos']).toEqual({ precision: 1, recall: 2 / 3, f1: 4 / 5, support: 3 });
    expectScores(r.macro, { precision: 5 / 6, recall: 5 / 6, f1: 4 / 5 });
    expectScores(r.weighted, { precision: 13 / 15, recall: 4 / 5, f1: 4 / 5 });
    expectScores(r.micro, { precision: 4 / 5, recall: 4 / 5, f1: 4 / 5 });
    expect(r.rocAuc).toBeCloseTo(11 / 12, 15);
  });

  it('a label nobody has and nobody predicts scores 0 and still counts in the macro mean', () => {
    // yTrue 0 1 2 2 1 0, yPred 0 2 2 2 1 1, labels c0..c3 (c3 unused):
    // c0 tp1 fp0 fn1 → P 1, R ½, F1 2/3;  c1 tp1 fp1 fn1 → ½ ½ ½;  c2 tp2 fp1 fn0 → 2/3, 1, 4/5;  c3 → 0 0 0
    // macro P = (1 + ½ + 2/3 + 0)/4 = 13/24, R = (½ + ½ + 1 + 0)/4 = ½, F1 = (2/3 + ½ + 4/5)/4 = 59/120
    const r = classificationReport(Int32Array.from([0, 1, 2, 2, 1, 0]), Int32Array.from([0, 2, 2, 2, 1, 1]), ['c0', 'c1', 'c2', 'c3']);
    expect(r.perLabel['c3']).toEqual({ precision: 0, recall: 0, f1: 0, support: 0 });
    expectScores(r.macro, { precision: 13 / 24, recall: 1 / 2, f1: 59 / 120 });
    expect(r.rocAuc).toBeUndefined();
  });

  for (const c of EXPECTED.classification) {
    it(`matches scikit-learn: ${c.name}`, () => {
      const probs = c.probs === undefined ? undefined : Float32Array.from(c.probs);
      const r = classificationReport(Int32Array.from(c.yTrue), Int32Array.from(c.yPred), c.labels, probs);
      expect(r.accuracy).toBeCloseTo(c.expected.accuracy, DIGITS);
      expect(r.confusionMatrix).toEqual(c.expected.confusionMatrix);
      expectPrf(r, c.labels, c.expected);
      if (c.expected.rocAuc !== undefined) expect(r.rocAuc).toBeCloseTo(c.expected.rocAuc, DIGITS);
    });
  }

  it('rejects mismatched lengths and out-of-range ids', () => {
    let e = caught(() => classificationReport(Int32Array.from([0, 1]), Int32Array.from([0]), ['a', 'b']));
    expect(e.code).toBe('ERR_INVALID_ARGUMENT');
    expect(e.message).toBe('Expected an Int32Array of length 2 for yPred but received a Int32Array of length 1');
    e = caught(() => classificationReport(Int32Array.from([0, 2]), Int32Array.from([0, 1]), ['a', 'b']));
    expect(e.message).toBe('Expected a class id in [0, 2) for yTrue[1] but received 2');
  });
});

describe('averagePrecision', () => {
  it('sums (R_n − R_{n−1}) · P_n from the highest score down, worked by hand', () => {
    // truth 1 0 1 1 0 by falling score, 3 positives. After each score: (P, R) =
    // (1, 1/3), (1/2, 1/3), (2/3, 2/3), (3/4, 1), (3/5, 1) → 1/3·1 + 0 + 1/3·2/3 + 1/3·3/4 + 0 = 29/36.
    expect(averagePrecision([1, 0, 1, 1, 0], [0.9, 0.8, 0.7, 0.6, 0.5])).toBeCloseTo(29 / 36, 15);
  });

  it('treats tied scores as one step; NaN without positives', () => {
    // One step to (P, R) = (1/2, 1).
    expect(averagePrecision([1, 0], [0.5, 0.5])).toBeCloseTo(0.5, 15);
    // 0.9 alone: (1, 1/2); then 0.4 tied with a positive and a negative: (2/3, 1) → 1/2 + 1/2·2/3.
    expect(averagePrecision([1, 1, 0], [0.9, 0.4, 0.4])).toBeCloseTo(1 / 2 + 1 / 3, 15);
    expect(averagePrecision([0, 0], [0.1, 0.9])).toBeNaN();
  });

  it('is in the classification and multi-label reports, and a metric', () => {
    const probs = Float32Array.from([0.1, 0.9, 0.2, 0.8, 0.3, 0.7, 0.4, 0.6, 0.5, 0.5]); // P(labels[1]) 0.9 0.8 0.7 0.6 0.5
    const binary = classificationReport(Int32Array.from([1, 0, 1, 1, 0]), Int32Array.from([1, 1, 1, 1, 0]), ['a', 'b'], probs);
    expect(binary.averagePrecision).toBeCloseTo(29 / 36, 6);
    expect(metricValue(binary, 'average_precision')).toBe(binary.averagePrecision);
    expect(higherIsBetter('average_precision')).toBe(true);
    // Multi-label: label 0 as above, label 1 a perfect ranking (AP 1): macro mean (29/36 + 1) / 2.
    const yTrue = Float32Array.from([1, 1, 0, 0, 1, 0, 1, 0, 0, 0]);
    const ml = multiLabelReport(yTrue, Float32Array.from([0.9, 0.9, 0.8, 0.1, 0.7, 0.1, 0.6, 0.1, 0.5, 0.1]), ['x', 'y']);
    expect(ml.perLabel.x!.averagePrecision).toBeCloseTo(29 / 36, 6);
    expect(ml.perLabel.y!.averagePrecision).toBeCloseTo(1, 6);
    expect(ml.averagePrecision).toBeCloseTo((29 / 36 + 1) / 2, 6);
  });
});

describe('rocAuc', () => {
  it('averages ties, worked by hand', () => {
    // positives 0.35, 0.8, 0.4; negatives 0.1, 0.4, 0.4.
    // 0.35 beats 0.1 → 1; 0.8 beats all → 3; 0.4 beats 0.1 and ties twice → 1 + ½ + ½ = 2. 6 of 9 pairs = 2/3.
    expect(rocAuc([0, 0, 1, 1, 0, 1], [0.1, 0.4, 0.35, 0.8, 0.4, 0.4])).toBeCloseTo(2 / 3, 15);
  });

  it('is NaN when only one class is present', () => {
    expect(rocAuc([1, 1, 1], [0.2, 0.5, 0.9])).toBeNaN();
    expect(rocAuc([], [])).toBeNaN();
  });

  for (const c of EXPECTED.rocAuc) {
    it(`matches scikit-learn: ${c.name}`, () => {
      expect(rocAuc(c.yTrue, Float32Array.from(c.scores))).toBeCloseTo(c.expected, DIGITS);
    });
  }

  it('rejects targets other than 0/1 and NaN scores', () => {
    expect(caught(() => rocAuc([0, 2], [0.1, 0.2])).message).toBe('Expected 0 or 1 for yTrue[1] but received 2');
    expect(caught(() => rocAuc([0, 1], [0.1, NaN])).message).toBe('Expected a number for scores[1] but received NaN');
  });
});

describe('multiLabelReport', () => {
  const hand = {
    yTrue: Float32Array.from([1, 0, 1, 0, 1, 0, 1, 1, 0, 0, 0, 0]),
    probs: Float32Array.from([0.9, 0.2, 0.6, 0.4, 0.7, 0.3, 0.3, 0.8, 0.5, 0.6, 0.1, 0.2]),
    labels: ['l0', 'l1', 'l2'],
  };

  it('worked by hand', () => {
    // Predicted (p > 0.5): [1,0,1] [0,1,0] [0,1,0] [1,0,0] against true [1,0,1] [0,1,0] [1,1,0] [0,0,0]
    // (0.5 itself is not above 0.5). Exact rows: 1st and 2nd → subset accuracy 2/4; wrong cells 2 of 12 → 1/6.
    // l0 tp1 fp1 fn1 → ½ ½ ½; l1 tp2 → 1 1 1; l2 tp1 → 1 1 1. macro F1 = (½+1+1)/3 = 5/6;
    // micro tp4 fp1 fn1 → P = R = F1 = 4/5.
    // AUC l0: positives 0.9, 0.3 vs negatives 0.4, 0.6 → 0.9 wins 2, 0.3 wins 0 → 2/4; l1 and l2 separate perfectly → 1.
    // AP l0: by falling score 0.9 (pos) 0.6 0.4 (neg) 0.3 (pos) → ½·1 + ½·2/4 = 3/4; l1, l2 → 1.
    const r = multiLabelReport(hand.yTrue, hand.probs, hand.labels, 0.5);
    expect(r.kind).toBe('multi-label');
    expect(r.subsetAccuracy).toBe(0.5);
    expect(r.hammingLoss).toBeCloseTo(1 / 6, 15);
    expect(r.perLabel['l0']).toEqual({ precision: 0.5, recall: 0.5, f1: 0.5, support: 2, rocAuc: 0.5, averagePrecision: 0.75 });
    expect(r.perLabel['l1']).toEqual({ precision: 1, recall: 1, f1: 1, support: 2, rocAuc: 1, averagePrecision: 1 });
    expect(r.averagePrecision).toBeCloseTo((0.75 + 1 + 1) / 3, 15);
    expectScores(r.macro, { precision: 5 / 6, recall: 5 / 6, f1: 5 / 6 });
    expectScores(r.micro, { precision: 4 / 5, recall: 4 / 5, f1: 4 / 5 });
    expect(r.rocAuc).toBeCloseTo(2.5 / 3, 15);
    expect(r.thresholds).toEqual([0.5, 0.5, 0.5]);
  });

  for (const c of EXPECTED.multilabel) {
    it(`matches scikit-learn: ${c.name}`, () => {
      const r = multiLabelReport(Float32Array.from(c.yTrue), Float32Array.from(c.probs), c.labels, c.thresholds);
      expect(r.subsetAccuracy).toBeCloseTo(c.expected.subsetAccuracy, DIGITS);
      expect(r.hammingLoss).toBeCloseTo(c.expected.hammingLoss, DIGITS);
      expectPrf(r, c.labels, c.expected);
      c.labels.forEach((label, k) => {
        const auc = nan(c.expected.rocAuc[k]!);
        if (Number.isNaN(auc)) expect(r.perLabel[label]!.rocAuc).toBeNaN();
        else expect(r.perLabel[label]!.rocAuc).toBeCloseTo(auc, DIGITS);
      });
      expect(r.rocAuc).toBeCloseTo(nan(c.expected.rocAucMacro), DIGITS);
    });
  }

  it('rejects a threshold list of the wrong length', () => {
    const e = caught(() => multiLabelReport(hand.yTrue, hand.probs, hand.labels, [0.5, 0.5]));
    expect(e.code).toBe('ERR_INVALID_ARGUMENT');
    expect(e.message).toBe('Expected a finite number or an array of 3 finite numbers for thresholds but received an array of length 2');
  });
});

describe('tuneThresholds', () => {
  it('worked by hand', () => {
    // l0: y 1 0 1 0, p 0.9 0.4 0.3 0.6; candidates 0.35, 0.5, ~0.5 (midpoint of float32 0.4 and 0.6), 0.75.
    //     > 0.75 → {0.9}: tp1 fp0 fn1 → F1 2/3; > 0.5 → {0.9, 0.6}: tp1 fp1 fn1 → ½; > 0.35 → tp1 fp2 fn1 → 2/5. Best 0.75.
    // l1: y 0 1 1 0, p 0.2 0.7 0.8 0.1; > 0.45 and > 0.5 both give F1 1 → tie, 0.5 is closest to 0.5.
    // l2: y 1 0 0 0, p 0.6 0.3 0.5 0.2; > 0.55 and > 0.5 both predict only 0.6 → F1 1 → 0.5.
    const t = tuneThresholds(hand().yTrue, hand().probs, 3);
    expect(t[0]).toBeCloseTo(0.75, 7); // (float32 0.6 + float32 0.9) / 2
    expect(t.slice(1)).toEqual([0.5, 0.5]);
  });

  it('keeps 0.5 for a label without positives', () => {
    expect(tuneThresholds(Float32Array.from([0, 0, 0]), Float32Array.from([0.1, 0.7, 0.3]), 1)).toEqual([0.5]);
  });

  for (const c of EXPECTED.multilabel) {
    it(`matches a brute-force search scored by scikit-learn: ${c.name}`, () => {
      const t = tuneThresholds(Float32Array.from(c.yTrue), Float32Array.from(c.probs), c.labels.length);
      expect(t).toEqual(c.expected.tunedThresholds);
    });
  }

  function hand() {
    return {
      yTrue: Float32Array.from([1, 0, 1, 0, 1, 0, 1, 1, 0, 0, 0, 0]),
      probs: Float32Array.from([0.9, 0.2, 0.6, 0.4, 0.7, 0.3, 0.3, 0.8, 0.5, 0.6, 0.1, 0.2]),
    };
  }
});

describe('regressionReport', () => {
  it('worked by hand (the example of sklearn\'s documentation)', () => {
    // errors 0.5, -0.5, 0, -1 → MSE (0.25+0.25+0+1)/4 = 0.375, MAE 2/4 = 0.5.
    // mean(yTrue) = 11.5/4 = 2.875; SS_tot = 0.125² + 3.375² + 0.875² + 4.125² = 29.1875 → R² = 1 - 1.5/29.1875.
    const r = regressionReport([3, -0.5, 2, 7], [2.5, 0, 2, 8]);
    expect(r).toEqual({ kind: 'regression', mse: 0.375, mae: 0.5, rmse: Math.sqrt(0.375), r2: 1 - 1.5 / 29.1875 });
  });

  for (const c of EXPECTED.regression) {
    it(`matches scikit-learn: ${c.name}`, () => {
      const r = regressionReport(Float32Array.from(c.yTrue), Float32Array.from(c.yPred));
      for (const key of ['mse', 'mae', 'rmse', 'r2'] as const) expect(r[key]).toBeCloseTo(c.expected[key], DIGITS);
    });
  }

  it('R² of constant targets is 1 when predicted exactly (sklearn force_finite)', () => {
    expect(regressionReport([2, 2], [2, 2]).r2).toBe(1);
  });

  it('rejects empty and mismatched inputs', () => {
    expect(caught(() => regressionReport([], [])).message).toBe('Expected a non-empty array of targets for yTrue but received an array of length 0');
    expect(caught(() => regressionReport([1, 2], [1])).message).toBe('Expected an array of 2 predictions for yPred but received an array of length 1');
  });
});

describe('metricValue', () => {
  const classification = classificationReport(Int32Array.from([0, 1, 1, 0, 1]), Int32Array.from([0, 1, 0, 0, 1]), ['neg', 'pos'],
    Float32Array.from([0.8, 0.2, 0.3, 0.7, 0.6, 0.4, 0.6, 0.4, 0.1, 0.9]));

  it('reads names from each kind of report', () => {
    expect(metricValue(classification, 'accuracy')).toBe(classification.accuracy);
    expect(metricValue(classification, 'f1_macro')).toBe(classification.macro.f1);
    expect(metricValue(classification, 'precision_weighted')).toBe(classification.weighted.precision);
    expect(metricValue(classification, 'roc_auc')).toBe(classification.rocAuc);
    const multi = multiLabelReport(Float32Array.from([1, 0, 0, 1]), Float32Array.from([0.9, 0.2, 0.6, 0.7]), ['a', 'b']);
    expect(metricValue(multi, 'accuracy')).toBe(multi.subsetAccuracy);
    expect(metricValue(multi, 'hamming_loss')).toBe(multi.hammingLoss);
    expect(metricValue(multi, 'roc_auc')).toBe(multi.rocAuc);
    expect(metricValue(multi, 'recall_micro')).toBe(multi.micro.recall);
    const regression = { ...regressionReport([1, 2], [1, 3]), loss: 0.25 };
    expect(metricValue(regression, 'mse')).toBe(0.5);
    expect(metricValue(regression, 'loss')).toBe(0.25);
  });

  it('says which metrics a report holds when asked for another', () => {
    const e = caught(() => metricValue(classification, 'mse'));
    expect(e.code).toBe('ERR_INVALID_ARGUMENT');
    expect(e.message).toBe(
      "Expected one of 'accuracy', 'f1_macro', 'f1_micro', 'f1_weighted', 'precision_macro', 'precision_micro', 'precision_weighted', " +
        "'recall_macro', 'recall_micro', 'recall_weighted', 'roc_auc', 'average_precision' for metric (the classification report's metrics) but received the string \"mse\"",
    );
    expect(caught(() => metricValue(classification, 'f2' as never)).message).toMatch(/^Expected one of 'loss', 'accuracy', .* for metric but received the string "f2"$/);
  });

  it('knows which direction is better', () => {
    expect(['accuracy', 'f1_macro', 'roc_auc', 'r2'].map((m) => higherIsBetter(m as never))).toEqual([true, true, true, true]);
    expect(['loss', 'mse', 'mae', 'rmse', 'hamming_loss'].map((m) => higherIsBetter(m as never))).toEqual([false, false, false, false, false]);
  });
});
