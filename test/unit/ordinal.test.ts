// Ordinal severity in TypeScript: order-respecting metrics (checked against
// cases worked out by hand below), the CORAL prediction rule, and the
// starting thresholds.
import { describe, expect, it } from 'vitest';

import { ordinalScores, quadraticWeightedKappa } from '../../lib/metrics/ordinal.js';
import { metricValue, classificationReport } from '../../lib/metrics/index.js';
import { ordinalOutput, ordinalStartThresholds } from '../../lib/risk/ordinal.js';
import { predictionFromLogits } from '../../lib/task.js';
import { caught } from '../helpers/errors.js';

const ids = (xs: number[]) => Int32Array.from(xs);
const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

describe('quadratic weighted kappa and MAE in classes', () => {
  it('matches a case computed by hand (sklearn cohen_kappa_score(weights="quadratic") step by step)', () => {
    // yTrue = [0,0,1,2,2,1], yPred = [0,1,1,2,1,0], K = 3, n = 6.
    // Observed O[true][pred] = [[1,1,0],[1,1,0],[0,1,1]]; row sums [2,2,2], column sums [2,3,1].
    // Expected E = rows ⊗ cols / n = [[2/3,1,1/3]] in every row. Weights W[i][j] = (i-j)²
    // = [[0,1,4],[1,0,1],[4,1,0]].
    // Σ W·O = (0·1 + 1·1) + (1·1 + 0·1) + (1·1 + 0·1) = 3
    // Σ W·E = (1 + 4/3) + (2/3 + 1/3) + (8/3 + 1) = 7/3 + 1 + 11/3 = 7
    // κ = 1 - 3/7 = 4/7.   MAE = (0+1+0+0+1+1)/6 = 1/2.
    const yTrue = ids([0, 0, 1, 2, 2, 1]);
    const yPred = ids([0, 1, 1, 2, 1, 0]);
    expect(quadraticWeightedKappa(yTrue, yPred, 3)).toBeCloseTo(4 / 7, 12);
    expect(ordinalScores(yTrue, yPred, 3)).toEqual({ mae: 0.5, qwk: expect.closeTo(4 / 7, 12) });
  });

  it('is 1 for perfect agreement, negative when predictions run against the order, NaN when undefined', () => {
    expect(quadraticWeightedKappa(ids([0, 1, 2, 3]), ids([0, 1, 2, 3]), 4)).toBe(1);
    // Reversed: O is the anti-diagonal; Σ W·O = 9+1+1+9 = 20, E = 1/4 everywhere, Σ W·E = 40/4 = 10: κ = 1 - 2 = -1.
    expect(quadraticWeightedKappa(ids([0, 1, 2, 3]), ids([3, 2, 1, 0]), 4)).toBe(-1);
    expect(quadraticWeightedKappa(ids([1, 1]), ids([1, 1]), 3)).toBeNaN();
  });

  it('a far-off error costs more than a near one (accuracy cannot tell them apart)', () => {
    const near = ordinalScores(ids([0, 1, 2, 3]), ids([1, 1, 2, 3]), 4);
    const far = ordinalScores(ids([0, 1, 2, 3]), ids([3, 1, 2, 3]), 4);
    expect(near.mae).toBe(0.25);
    expect(far.mae).toBe(0.75);
    expect(far.qwk).toBeLessThan(near.qwk);
  });

  it('rejects ids outside [0, K) and mismatched lengths', () => {
    expect(caught(() => ordinalScores(ids([0, 4]), ids([0, 1]), 4)).message).toMatch(/Expected a class id in \[0, 4\) for yTrue\[1\] but received number 4/);
    expect(caught(() => ordinalScores(ids([0]), ids([0, 1]), 4)).code).toBe('ERR_INVALID_ARGUMENT');
  });

  it("'mae' and 'qwk' are readable from an ordinal classification report", () => {
    const yTrue = ids([0, 0, 1, 2, 2, 1]);
    const yPred = ids([0, 1, 1, 2, 1, 0]);
    const report = { ...classificationReport(yTrue, yPred, ['none', 'low', 'high']), ordinal: ordinalScores(yTrue, yPred, 3) };
    expect(metricValue(report, 'mae')).toBe(0.5);
    expect(metricValue(report, 'qwk')).toBeCloseTo(4 / 7, 12);
    expect(() => metricValue(classificationReport(yTrue, yPred, ['a', 'b', 'c']), 'qwk')).toThrow(/Expected one of .*'accuracy'/);
  });
});

describe('CORAL predictions from K-1 cumulative logits', () => {
  it('class = #(P(y>k) > 0.5), severity = Σ P(y>k), P(y=k) from differences', () => {
    // logits [2, 0, -2]: P(y>k) = [σ(2), 0.5, σ(-2)] = [0.8808, 0.5, 0.1192]; only one is above 0.5.
    const o = ordinalOutput([2, 0, -2]);
    expect(o.index).toBe(1);
    expect(o.severity).toBeCloseTo(sigmoid(2) + 0.5 + sigmoid(-2), 12); // = 1.5
    const expected = [1 - sigmoid(2), sigmoid(2) - 0.5, 0.5 - sigmoid(-2), sigmoid(-2)];
    o.probs.forEach((p, k) => expect(p).toBeCloseTo(expected[k]!, 12));
  });

  it('probabilities never go negative when thresholds cross (clamped at 0, renormalised)', () => {
    // logits [-1, 1]: P(y>0) = 0.2689 < P(y>1) = 0.7311. Raw differences: [0.7311, -0.4621, 0.7311] -> [0.5, 0, 0.5].
    const o = ordinalOutput([-1, 1]);
    expect(o.probs[0]).toBeCloseTo(0.5, 12);
    expect(o.probs[1]).toBe(0);
    expect(o.probs[2]).toBeCloseTo(0.5, 12);
    expect(o.index).toBe(1);
  });

  it('predictionFromLogits gives the label, its probability, every score and the severity', () => {
    const p = predictionFromLogits(Float32Array.from([3, 1, -3]), ['none', 'low', 'medium', 'high'], 'ordinal', 0.5);
    expect(p.label).toBe('medium');
    expect(p.score).toBeCloseTo(sigmoid(1) - sigmoid(-3), 6);
    expect(Object.keys(p.scores)).toEqual(['none', 'low', 'medium', 'high']);
    expect(p.severity).toBeCloseTo(sigmoid(3) + sigmoid(1) + sigmoid(-3), 6);
  });
});

describe('starting thresholds', () => {
  it('are logit P(y > k) of the training labels', () => {
    // labels [0,1,1,2]: P(y>0) = 3/4 -> ln 3, P(y>1) = 1/4 -> -ln 3
    const t = ordinalStartThresholds(ids([0, 1, 1, 2]), 3);
    expect(t[0]).toBeCloseTo(Math.log(3), 12);
    expect(t[1]).toBeCloseTo(-Math.log(3), 12);
  });

  it('stay finite for classes without examples (proportions kept in [1/2n, 1 - 1/2n])', () => {
    // labels [0,0]: P(y>k) = 0 -> 1/4 -> logit = -ln 3
    expect(ordinalStartThresholds(ids([0, 0]), 3)).toEqual([expect.closeTo(-Math.log(3), 12), expect.closeTo(-Math.log(3), 12)]);
  });
});
