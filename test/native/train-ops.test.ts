// The fused CPU training kernels against the ATen ops they replace:
// keyed dropout (keep rate, independence, determinism per seed, a new mask per
// call, exact values and gradient, thread-count independence) and the fused
// masked softmax + dropout of attention (output and gradient against
// masked_fill -> softmax -> dropout with the same mask, in fp32 and bf16), the
// residual + dropout + LayerNorm and the bias + GELU, each against its ATen composition.
// Tolerances: fp32 1e-6 absolute on probabilities (our exp vs Sleef's, ~1 ulp),
// 1e-5 of the max |gradient|; bf16 one bf16 rounding (2^-8 relative) on outputs,
// 2e-2 of the max |gradient| (the reference rounds every intermediate to bf16).
import { afterAll, describe, expect, it } from 'vitest';

import { addon } from '../helpers/addon.js';
import { maxAbs, maxAbsDiff } from '../helpers/golden.js';

function seededUniform(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 4294967296;
}
function randomArray(n: number, seed: number, scale = 1): Float32Array {
  const next = seededUniform(seed);
  return Float32Array.from({ length: n }, () => scale * (2 * next() - 1));
}
const N = 1 << 20;
// Five standard deviations of a Bernoulli mean over n draws.
const fiveSigma = (q: number, n: number) => 5 * Math.sqrt((q * (1 - q)) / n);

afterAll(() => addon.setThreads(2));

describe('keyed dropout', () => {
  const ones = new Float32Array(N).fill(1);

  it.each([0.1, 0.5])('p = %s: keeps 1 - p of the elements, each scaled by exactly 1/(1 - p)', (p) => {
    const [out] = addon.trainOpsDropout({ input: ones, p, seed: 7, calls: 1 }).outputs;
    const scale = Math.fround(1 / (1 - p));
    let kept = 0;
    let other = 0;
    for (const v of out!) {
      if (v === scale) kept++;
      else if (v !== 0) other++;
    }
    expect(other).toBe(0);
    expect(Math.abs(kept / N - (1 - p))).toBeLessThan(fiveSigma(1 - p, N));
  });

  it('neighbouring elements are kept independently', () => {
    const p = 0.3;
    const [out] = addon.trainOpsDropout({ input: ones, p, seed: 3, calls: 1 }).outputs;
    let both = 0;
    for (let i = 0; i + 1 < N; i += 2) if (out![i] !== 0 && out![i + 1] !== 0) both++;
    const q = (1 - p) ** 2;
    expect(Math.abs(both / (N / 2) - q)).toBeLessThan(fiveSigma(q, N / 2));
  });

  it('is deterministic per seed, draws a new mask per call and per seed', () => {
    const p = 0.1;
    const a = addon.trainOpsDropout({ input: ones, p, seed: 11, calls: 2 }).outputs;
    const again = addon.trainOpsDropout({ input: ones, p, seed: 11, calls: 2 }).outputs;
    const other = addon.trainOpsDropout({ input: ones, p, seed: 12, calls: 1 }).outputs;
    expect(maxAbsDiff(a[0]!, again[0]!)).toBe(0);
    expect(maxAbsDiff(a[1]!, again[1]!)).toBe(0);
    // Two independent masks disagree on a fraction 2p(1 - p) of the elements.
    const differing = (x: Float32Array, y: Float32Array) => x.reduce((n, v, i) => n + ((v === 0) !== (y[i] === 0) ? 1 : 0), 0) / N;
    const q = 2 * p * (1 - p);
    expect(Math.abs(differing(a[0]!, a[1]!) - q)).toBeLessThan(fiveSigma(q, N));
    expect(Math.abs(differing(a[0]!, other[0]!) - q)).toBeLessThan(fiveSigma(q, N));
  });

  it('the same mask with 1 and 2 threads', () => {
    addon.setThreads(1);
    const one = addon.trainOpsDropout({ input: ones, p: 0.2, seed: 5, calls: 1 }).outputs[0]!;
    addon.setThreads(2);
    const two = addon.trainOpsDropout({ input: ones, p: 0.2, seed: 5, calls: 1 }).outputs[0]!;
    expect(maxAbsDiff(one, two)).toBe(0);
  });

  it('fp32: kept values are x/(1 - p); the gradient takes the forward mask and scale', () => {
    const p = 0.25;
    const x = randomArray(4099, 1);
    const g = randomArray(4099, 2);
    const r = addon.trainOpsDropout({ input: x, p, seed: 9, calls: 1, grad: g });
    const scale = Math.fround(1 / (1 - p));
    const y = r.outputs[0]!;
    const gx = r.grads[0]!;
    for (let i = 0; i < x.length; i++) {
      expect(y[i] === 0 || y[i] === Math.fround(x[i]! * scale)).toBe(true);
      expect(gx[i]! + 0).toBe(y[i] === 0 ? 0 : Math.fround(g[i]! * scale)); // + 0: a dropped negative gradient is -0
    }
  });

  it('bf16: kept values are x/(1 - p) rounded to bf16', () => {
    const p = 0.1;
    const x = randomArray(4099, 4);
    const y = addon.trainOpsDropout({ input: x, dtype: 'bfloat16', p, seed: 9, calls: 1 }).outputs[0]!;
    let kept = 0;
    for (let i = 0; i < x.length; i++) {
      if (y[i] === 0) continue;
      kept++;
      expect(Math.abs(y[i]! - x[i]! / (1 - p))).toBeLessThanOrEqual(Math.abs(x[i]! / (1 - p)) * 2 ** -7);
    }
    expect(kept).toBeGreaterThan(3500);
  });
});

describe('fused masked softmax + dropout (attention)', () => {
  // B = 3, H = 2, T = 37 (not a multiple of any vector width); batch 1 pads its
  // last 10 keys, batch 2 pads every key (softmax over equal minima: uniform).
  const shape: [number, number, number, number] = [3, 2, 37, 37];
  const n = shape.reduce((a, b) => a * b, 1);
  const keyMask = new Uint8Array(3 * 37);
  for (let t = 27; t < 37; t++) keyMask[37 + t] = 1;
  keyMask.fill(1, 74);
  const scores = randomArray(n, 21, 6);
  const grad = randomArray(n, 22);

  it.each([
    ['float32', 0.1],
    ['float32', 0],
    ['bfloat16', 0.1],
    ['bfloat16', 0],
  ] as const)('%s, p = %s: output and gradient match the ATen composition', (dtype, p) => {
    const r = addon.trainOpsAttention({ scores, shape, keyMask, dtype, p, seed: 13, grad });
    const outTol = dtype === 'float32' ? 1e-6 : 2 ** -8 / (1 - p);
    const gradTol = dtype === 'float32' ? 1e-5 : 2e-2;
    expect(maxAbsDiff(r.fused.out, r.reference.out)).toBeLessThanOrEqual(outTol);
    expect(maxAbsDiff(r.fused.gradScores, r.reference.gradScores) / maxAbs(r.reference.gradScores)).toBeLessThan(gradTol);
    // Padded keys get exactly zero weight and zero gradient (batch 1), the fully padded batch a uniform row.
    const T = 37;
    for (let row = 2 * T; row < 4 * T; row++)
      for (let t = 27; t < T; t++) {
        expect(r.fused.out[row * T + t]).toBe(0);
        expect(r.fused.gradScores[row * T + t]).toBe(0);
      }
    if (p === 0) for (let i = 4 * T * T; i < n; i++) expect(Math.abs(r.fused.out[i]! - 1 / T)).toBeLessThan(outTol);
  });

  it('the dropout mask follows the seed', () => {
    const a = addon.trainOpsAttention({ scores, shape, keyMask, p: 0.5, seed: 1, grad });
    const b = addon.trainOpsAttention({ scores, shape, keyMask, p: 0.5, seed: 2, grad });
    expect(maxAbsDiff(a.fused.out, b.fused.out)).toBeGreaterThan(0);
  });
});

describe('fused residual + dropout + LayerNorm', () => {
  // N = 5 rows of C = 771 (odd, past every vector width); y fp32 or bf16, residual fp32.
  const [N, C] = [5, 771];
  const inputs = {
    y: randomArray(N * C, 31, 3),
    residual: randomArray(N * C, 32),
    weight: randomArray(C, 33).map((v) => 1 + 0.5 * v),
    bias: randomArray(C, 34, 0.1),
    grad: randomArray(N * C, 35),
    grad16: randomArray(N * C, 36),
    shape: [N, C] as [number, number],
  };
  it.each([
    ['float32', 0.1],
    ['float32', 0],
    ['bfloat16', 0.1],
    ['bfloat16', 0],
  ] as const)('%s y, p = %s: outputs and the four gradients match the ATen composition', (dtype, p) => {
    const r = addon.trainOpsResidualNorm({ ...inputs, dtype, p, seed: 17 });
    // fp32 arithmetic on both sides (bf16 only rounds y and out16): fp32 tolerances,
    // and out16 equal up to one bf16 rounding of a value that differs by ~1e-6.
    expect(maxAbsDiff(r.fused.out, r.reference.out)).toBeLessThan(1e-5);
    expect(maxAbsDiff(r.fused.out16, r.reference.out16) / maxAbs(r.reference.out16)).toBeLessThanOrEqual(2 ** -8);
    for (const key of ['gradResidual', 'gradWeight', 'gradBias'] as const)
      expect(maxAbsDiff(r.fused[key], r.reference[key]) / maxAbs(r.reference[key]), key).toBeLessThan(1e-5);
    const yTol = dtype === 'float32' ? 1e-5 : 2 ** -8; // grad y is rounded to y's dtype
    expect(maxAbsDiff(r.fused.gradY, r.reference.gradY) / maxAbs(r.reference.gradY)).toBeLessThan(yTol);
  });
});

describe('fused bias + GELU', () => {
  const [N, F] = [7, 1029];
  const inputs = { y: randomArray(N * F, 41, 5), bias: randomArray(F, 42), grad: randomArray(N * F, 43), shape: [N, F] as [number, number] };
  it.each(['float32', 'bfloat16'] as const)('%s: output and gradients match gelu(y + bias)', (dtype) => {
    const r = addon.trainOpsBiasGelu({ ...inputs, dtype });
    // fp32: erf approximated to 1.5e-7; bf16: one rounding of the output and of grad y
    // (the reference also rounds y + bias to bf16 first, we add in fp32).
    const tol = dtype === 'float32' ? 2e-6 : 2 ** -7;
    expect(maxAbsDiff(r.fused.out, r.reference.out) / maxAbs(r.reference.out)).toBeLessThan(tol);
    expect(maxAbsDiff(r.fused.gradY, r.reference.gradY) / maxAbs(r.reference.gradY)).toBeLessThan(tol);
    expect(maxAbsDiff(r.fused.gradBias, r.reference.gradBias) / maxAbs(r.reference.gradBias)).toBeLessThan(dtype === 'float32' ? 2e-6 : 2e-2);
  });
});

describe('bad input', () => {
  it('is rejected with a message', () => {
    expect(() => addon.trainOpsDropout({ input: new Float32Array(4), p: 1, seed: 1, calls: 1 })).toThrow(/Expected a number in \[0, 1\) for options.p/);
    expect(() => addon.trainOpsDropout({ input: new Float32Array(4), p: 0.1, seed: 1, calls: 65 })).toThrow(/Expected at most 64 calls for options.calls/);
    expect(() => addon.trainOpsAttention({ scores: new Float32Array(8), shape: [1, 1, 2, 2], keyMask: new Uint8Array(2), p: 0, seed: 1, grad: new Float32Array(4) })).toThrow(/Expected a Float32Array of length 4 for options.scores/);
  });
});
