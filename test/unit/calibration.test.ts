// Temperature scaling (lib/metrics/calibration.ts): hand-worked NLL and ECE values, and the
// fitted temperature recovering the one that generated the labels.
import { describe, expect, it } from 'vitest';

import { calibrate, expectedCalibrationError, fitTemperature, meanNll } from '../../lib/metrics/calibration.js';
import { random } from '../helpers/synthetic.js';

describe('meanNll and expectedCalibrationError', () => {
  it('match values worked out by hand', () => {
    // softmax([0, ln 3]) = [0.25, 0.75]: -ln 0.75 for class 1, -ln 0.25 for class 0.
    const logits = Float32Array.from([0, Math.log(3), 0, Math.log(3)]);
    expect(meanNll(logits, Int32Array.from([1, 0]), 2, 1)).toBeCloseTo((-Math.log(0.75) - Math.log(0.25)) / 2, 6);
    // T = 2 halves the logits: softmax([0, ln 3 / 2]) = [1 / (1 + √3), √3 / (1 + √3)].
    expect(meanNll(logits, Int32Array.from([1, 1]), 2, 2)).toBeCloseTo(-Math.log(Math.sqrt(3) / (1 + Math.sqrt(3))), 6);
    // Top probabilities 0.8 (right, bin 8) and 0.6 (wrong, bin 6): (|1 − 0.8| + |0 − 0.6|) / 2.
    expect(expectedCalibrationError(Float32Array.from([0.2, 0.8, 0.4, 0.6]), Int32Array.from([1, 0]), 2)).toBeCloseTo(0.4, 6);
  });
});

describe('fitTemperature', () => {
  it('recovers the temperature that generated the labels', () => {
    // Labels drawn from softmax(z / 2.5) for random 3-class logits z: the fitted T is close to 2.5.
    const r = random(7);
    const n = 6000;
    const K = 3;
    const logits = Float32Array.from({ length: n * K }, () => (r(2001) - 1000) / 100); // in [-10, 10]
    const ids = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const z = Array.from(logits.subarray(i * K, (i + 1) * K), (v) => Math.exp(v / 2.5));
      const total = z.reduce((a, b) => a + b, 0);
      let u = (r(1_000_000) / 1_000_000) * total;
      ids[i] = K - 1;
      for (let k = 0; k < K; k++) if ((u -= z[k]!) < 0) { ids[i] = k; break; }
    }
    const t = fitTemperature(logits, ids, K);
    expect(t).toBeGreaterThan(2.5 * 0.92);
    expect(t).toBeLessThan(2.5 / 0.92);
    // It is the minimum: a step either way costs likelihood.
    expect(meanNll(logits, ids, K, t)).toBeLessThan(meanNll(logits, ids, K, t * 1.05));
    expect(meanNll(logits, ids, K, t)).toBeLessThan(meanNll(logits, ids, K, t / 1.05));
    const c = calibrate(logits, ids, K);
    expect(c.temperature).toBe(t);
    expect(c.nllAfter).toBeLessThan(c.nllBefore);
    expect(c.eceAfter).toBeLessThan(c.eceBefore);
  });

  it('checks its inputs', () => {
    expect(() => fitTemperature(new Float32Array(4), Int32Array.from([0, 1]), 1)).toThrow(/Expected an integer >= 2 for K/);
    expect(() => fitTemperature(new Float32Array(3), Int32Array.from([0, 1]), 2)).toThrow(/Expected a Float32Array of 4 logits for logits/);
    expect(() => fitTemperature(new Float32Array(4), Int32Array.from([0, 2]), 2)).toThrow(/Expected a class id in \[0, 2\) for classIds\[1\] but received number 2/);
    expect(() => fitTemperature(Float32Array.from([0, NaN, 0, 0]), Int32Array.from([0, 1]), 2)).toThrow(/Expected a finite number for logits\[1\]/);
  });
});
