// Choosing a binary decision threshold (lib/metrics/operating-point.ts). The expected
// values are worked out by hand below from the six examples' scores.
import { describe, expect, it } from 'vitest';

import { chooseDecisionThreshold, chooseThreshold, thresholdTarget } from '../../lib/metrics/operating-point.js';

// Scores high to low with truth 1 1 0 1 0 0 (3 positives). Candidate thresholds and what
// "score > t" gives:
//   0.85: tp 1 fp 0 -> P 1,    R 1/3, F1 0.5
//   0.75: tp 2 fp 0 -> P 1,    R 2/3, F1 0.8
//   0.65: tp 2 fp 1 -> P 2/3,  R 2/3, F1 0.667
//   0.5 : tp 3 fp 1 -> P 0.75, R 1,   F1 6/7 = 0.857
//   0.3 : tp 3 fp 2 -> P 0.6,  R 1,   F1 0.75
//   0.1 : tp 3 fp 3 -> P 0.5,  R 1,   F1 0.667   (below the lowest score: all positive)
const TRUTH = [1, 1, 0, 1, 0, 0];
const SCORES = [0.9, 0.8, 0.7, 0.6, 0.4, 0.2];

describe('chooseThreshold', () => {
  it('best F1', () => {
    expect(chooseThreshold(TRUTH, SCORES, 'f1')).toEqual({ threshold: 0.5, precision: 0.75, recall: 1, f1: 6 / 7, met: true });
  });

  it('a minimum precision: the most recall among thresholds that reach it', () => {
    const p = chooseThreshold(TRUTH, SCORES, { precision: 0.9 });
    expect(p.threshold).toBeCloseTo(0.75, 12);
    expect(p).toMatchObject({ precision: 1, met: true });
    expect(p.recall).toBeCloseTo(2 / 3, 12);
  });

  it('a minimum recall: the most precision among thresholds that reach it', () => {
    expect(chooseThreshold(TRUTH, SCORES, { recall: 1 })).toMatchObject({ threshold: 0.5, precision: 0.75, recall: 1, met: true });
    expect(chooseThreshold(TRUTH, SCORES, { recall: 0.6 }).threshold).toBeCloseTo(0.75, 12);
  });

  it('an unreachable precision: the closest threshold, met false', () => {
    // truth 0 at 0.9 and 1 at 0.1: the best precision any threshold gives is 0.5 (all positive).
    const p = chooseThreshold([0, 1], [0.9, 0.1], { precision: 0.9 });
    expect(p).toMatchObject({ threshold: 0.05, precision: 0.5, recall: 1, met: false });
  });

  it('a precision target is not met by predicting nothing', () => {
    // Every score at or below 0.5 and the top one negative: t = 0.5 predicts nothing (precision 1 by convention, recall 0).
    const p = chooseThreshold([0, 1, 1], [0.5, 0.4, 0.4], { precision: 0.6 });
    expect(p.recall).toBeGreaterThan(0);
    expect(p).toMatchObject({ threshold: 0.2, precision: 2 / 3, recall: 1, met: true });
  });

  it('checks its inputs', () => {
    expect(() => chooseThreshold([], [], 'f1')).toThrow(/Expected at least one example/);
    expect(() => chooseThreshold([1, 2], [0.1, 0.2], 'f1')).toThrow(/Expected 0 or 1 for truth\[1\] but received 2/);
    expect(() => chooseThreshold([1, 0], [0.1, NaN], 'f1')).toThrow(/Expected a number for scores\[1\] but received NaN/);
    expect(() => chooseThreshold([1, 0], [0.1], 'f1')).toThrow(/Expected 2 scores/);
  });
});

describe('thresholdTarget', () => {
  it('accepts f1, { precision } and { recall } in (0, 1]; names the option otherwise', () => {
    expect(thresholdTarget('f1', 'o')).toBe('f1');
    expect(thresholdTarget({ recall: 1 }, 'o')).toEqual({ recall: 1 });
    for (const bad of ['F1', { precision: 0 }, { recall: 1.5 }, { precision: 0.9, recall: 0.9 }, { accuracy: 0.9 }, 0.5, null])
      expect(() => thresholdTarget(bad, 'options.threshold')).toThrow(/Expected 'f1', \{ precision: P \} or \{ recall: R \} with 0 < P, R <= 1 for options.threshold but received/);
  });
});

describe('chooseDecisionThreshold', () => {
  it('reads P(second label) from softmax rows and names the positive label', () => {
    const probs = Float32Array.from(SCORES.flatMap((s) => [1 - s, s]));
    const d = chooseDecisionThreshold(Int32Array.from(TRUTH), probs, ['ok', 'fraud'], { recall: 1 });
    expect(d).toMatchObject({ threshold: 0.5, recall: 1, positiveLabel: 'fraud', target: { recall: 1 }, met: true });
    expect(d.precision).toBeCloseTo(0.75, 6);
  });
});
