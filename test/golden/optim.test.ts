// AdamW, global-norm clipping and LR schedules against the fixtures (GOLDEN.md:
// "AdamW, clipping and the Trainer's parameter groups", "LR schedules").
// Tolerances are the fixtures' own: schedule exact; AdamW parameters 1e-6
// absolute; clipping norms and coefficients 1e-5 relative.
import { describe, expect, it } from 'vitest';

import { addon } from '../helpers/addon.js';
import { GOLDEN_SETS, golden, maxAbsDiff } from '../helpers/golden.js';

const PARAM_ABS = 1e-6;
const NORM_REL = 1e-5;

type Tensors = Record<string, Float32Array>;
interface AdamwResult {
  params: Tensors[];
  totalNorms: number[];
  coefs: number[];
  weightDecays: Record<string, number>;
}

const SCHEDULES = [
  ['linear', 'linear'],
  ['cosine', 'cosine'],
  ['constant', 'constant_with_warmup'],
] as const;

function expectCode(fn: () => unknown, code: string, message: RegExp): void {
  let error: { code?: string; message?: string } | undefined;
  try {
    fn();
  } catch (e) {
    error = e as typeof error;
  }
  expect(error, 'expected a throw').toBeDefined();
  expect(error!.code).toBe(code);
  expect(error!.message).toMatch(message);
}

describe.each(GOLDEN_SETS)('golden set %s', (set) => {
  const g = golden(set);

  describe('schedule (exact)', () => {
    const s = g.json.schedule;

    it.each(SCHEDULES)('%s: lr[k] and lambda[k] for k = 0..N equal the golden floats', (kind, key) => {
      const expected = s[key];
      const lrs: Float64Array = addon.lrSchedule(kind, s.base_lr, s.num_warmup_steps, s.num_training_steps, s.num_training_steps);
      expect(Array.from(lrs)).toHaveLength(s.steps.length);
      s.steps.forEach((k: number) => expect(lrs[k], `lr[${k}]`).toBe(expected.lr[k]));
      const lambdas: Float64Array = addon.lrSchedule(kind, 1, s.num_warmup_steps, s.num_training_steps, s.num_training_steps);
      s.steps.forEach((k: number) => expect(lambdas[k], `lambda[${k}]`).toBe(expected.lambda[k]));
    });

    it('warmup_ratio_to_steps: every case, float64 product included', () => {
      const cases = s.warmup_ratio_to_steps.cases as Array<Record<string, number>>;
      expect(cases.length).toBe(13);
      for (const c of cases) {
        const got = addon.warmupSteps(c.warmup_steps, c.warmup_ratio, c.num_training_steps);
        expect(got, JSON.stringify(c)).toBe(c.result);
      }
      expect(addon.warmupSteps(0, 0.07, 100)).toBe(8); // 100 * 0.07 = 7.000000000000001
    });
  });

  describe('AdamW (torch.optim.AdamW + clip_grad_norm_)', () => {
    const a = g.json.adamw;
    const keys = [...g.tensors.keys()].filter((k) => k.startsWith('adamw.init.')).map((k) => k.slice('adamw.init.'.length));
    const pick = (prefix: string): Tensors => Object.fromEntries(keys.map((k) => [k, g.float32(prefix + k)]));
    const run = (extra: Record<string, unknown> = {}): AdamwResult =>
      addon.adamwRun({
        params: pick('adamw.init.'),
        shapes: Object.fromEntries(keys.map((k) => [k, g.shape('adamw.init.' + k)])),
        gradSteps: [pick('lora.grad.'), pick('adamw.grad2.')],
        lr: a.lr,
        betas: a.betas,
        eps: a.eps,
        weightDecay: a.weight_decay,
        ...extra,
      });
    const expectSteps = (result: AdamwResult, prefix: string) => {
      result.params.forEach((params, s) => {
        for (const k of keys) {
          const diff = maxAbsDiff(params[k]!, g.float32(`${prefix}step${s + 1}.${k}`));
          expect(diff, `step ${s + 1} ${k}`).toBeLessThan(PARAM_ABS);
        }
      });
    };

    it('has the fixture hyperparameters', () => {
      expect([a.lr, a.betas, a.eps, a.weight_decay]).toEqual([1e-3, [0.9, 0.999], 1e-8, 0.01]);
      expect(keys.length).toBeGreaterThan(0);
    });

    it('weight decay groups are the Trainer grouping of adamw.param_groups', () => {
      const { weightDecays } = run();
      const groups = a.param_groups;
      const decayed = Object.keys(weightDecays).filter((k) => weightDecays[k] === a.weight_decay);
      const exempt = Object.keys(weightDecays).filter((k) => weightDecays[k] === 0);
      expect(decayed.sort()).toEqual([...groups['weight_decay_0.01']].sort());
      expect(exempt.sort()).toEqual([...groups['weight_decay_0.0']].sort());
    });

    it('adamw.step1 and adamw.step2 within 1e-6', () => {
      const result = run();
      expect(result.params).toHaveLength(2);
      expectSteps(result, 'adamw.');
      expect(result.coefs).toEqual([1, 1]);
    });

    it('adamw.clipped.step1|step2 within 1e-6, total_norm and coef within 1e-5 relative', () => {
      const result = run({ maxGradNorm: a.clip.max_norm });
      expectSteps(result, 'adamw.clipped.');
      const norms = g.float32('adamw.clipped.total_norm');
      const coefs = g.float32('adamw.clipped.coef');
      for (let s = 0; s < 2; s++) {
        expect(Math.abs(result.totalNorms[s]! - a.clip.total_norm[s]) / a.clip.total_norm[s]).toBeLessThan(NORM_REL);
        expect(Math.abs(result.totalNorms[s]! - norms[s]!) / norms[s]!).toBeLessThan(NORM_REL);
        expect(Math.abs(result.coefs[s]! - a.clip.coef[s]) / a.clip.coef[s]).toBeLessThan(NORM_REL);
        expect(Math.abs(result.coefs[s]! - coefs[s]!) / coefs[s]!).toBeLessThan(NORM_REL);
        expect(result.coefs[s]! < 1).toBe(a.clip.clipping_applied[s]);
      }
    });

    it('unclipped runs report the same global norms as the clipped run measured', () => {
      const result = run();
      expect(Math.abs(result.totalNorms[0]! - a.clip.total_norm[0]) / a.clip.total_norm[0]).toBeLessThan(NORM_REL);
    });

    it('rebuilding the optimizer from its state after every step changes no bit', () => {
      const plain = run({ maxGradNorm: a.clip.max_norm });
      const resumed = run({ maxGradNorm: a.clip.max_norm, roundTripState: true });
      for (let s = 0; s < 2; s++)
        for (const k of keys) expect(resumed.params[s]![k], `step ${s + 1} ${k}`).toEqual(plain.params[s]![k]);
    });
  });
});

describe('AdamW semantics', () => {
  const base = { lr: 0.1, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0.5 };

  it('a zero gradient with zero moments only decays (decoupled, on the old p)', () => {
    const r: AdamwResult = addon.adamwRun({
      ...base,
      params: { w: new Float32Array([2, -4]), 'w.bias': new Float32Array([3]) },
      gradSteps: [{ w: new Float32Array(2), 'w.bias': new Float32Array(1) }],
    });
    expect(Array.from(r.params[0]!.w!)).toEqual([Math.fround(2 * Math.fround(0.95)), Math.fround(-4 * Math.fround(0.95))]);
    expect(Array.from(r.params[0]!['w.bias']!)).toEqual([3]);
    expect(r.totalNorms).toEqual([0]);
  });

  it('the first step moves every element by lr·g/(|g| + eps) (decay 0)', () => {
    const r: AdamwResult = addon.adamwRun({
      ...base,
      weightDecay: 0,
      params: { w: new Float32Array([1, 1, 1]) },
      gradSteps: [{ w: new Float32Array([0.5, -3, 1e-3]) }],
    });
    const grad = [0.5, -3, 1e-3];
    r.params[0]!.w!.forEach((v, i) => expect(v).toBeCloseTo(1 - (0.1 * grad[i]!) / (Math.abs(grad[i]!) + 1e-8), 6));
  });

  it('lr may be given per step (lr 0 still applies no decay)', () => {
    const r: AdamwResult = addon.adamwRun({
      ...base,
      lr: [0, 0.1],
      params: { w: new Float32Array([1]) },
      gradSteps: [{ w: new Float32Array([1]) }, { w: new Float32Array([1]) }],
    });
    expect(r.params[0]!.w![0]).toBe(1);
    expect(r.params[1]!.w![0]).toBeLessThan(1);
  });

  it("Trainer grouping: no decay for biases and LayerNorm parameters", () => {
    const names = [
      'distilbert.embeddings.LayerNorm.weight',
      'distilbert.transformer.layer.0.sa_layer_norm.weight',
      'distilbert.transformer.layer.0.output_layer_norm.bias',
      'vocab_layer_norm.weight',
      'pre_classifier.bias',
      'base_model.model.distilbert.transformer.layer.0.attention.q_lin.lora_B.weight',
      'distilbert.transformer.layer.0.ffn.lin1.weight',
      'distilbert.embeddings.word_embeddings.weight',
    ];
    const params = Object.fromEntries(names.map((n) => [n, new Float32Array(1)]));
    const r: AdamwResult = addon.adamwRun({ ...base, weightDecay: 0.01, params, gradSteps: [] });
    expect(r.params).toEqual([]);
    expect(names.map((n) => r.weightDecays[n])).toEqual([0, 0, 0, 0, 0, 0.01, 0.01, 0.01]);
  });

  it('clipping leaves gradients under max_norm untouched (coef exactly 1)', () => {
    const r: AdamwResult = addon.adamwRun({
      ...base,
      maxGradNorm: 10,
      params: { w: new Float32Array([0, 0]) },
      gradSteps: [{ w: new Float32Array([3, 4]) }],
    });
    expect(r.totalNorms).toEqual([5]);
    expect(r.coefs).toEqual([1]);
  });
});

describe('optimizer argument errors', () => {
  const E = 'ERR_INVALID_ARGUMENT';
  const ok = {
    params: { w: new Float32Array([1, 2, 3]) },
    gradSteps: [{ w: new Float32Array([1, 1, 1]) }],
    lr: 1e-3,
    betas: [0.9, 0.999],
    eps: 1e-8,
    weightDecay: 0.01,
  };
  const adamw = (patch: Record<string, unknown>) => () => addon.adamwRun({ ...ok, ...patch });

  it('lrSchedule', () => {
    expectCode(() => addon.lrSchedule('exponential', 1, 0, 10, 10), E,
      /^Expected 'linear', 'cosine' or 'constant' for kind but received the string "exponential"$/);
    expectCode(() => addon.lrSchedule('linear', -1, 0, 10, 10), E, /^Expected a non-negative number for baseLr but received number -1$/);
    expectCode(() => addon.lrSchedule('linear', 1, -1, 10, 10), E,
      /^Expected a non-negative integer for warmupSteps but received number -1$/);
    expectCode(() => addon.lrSchedule('cosine', 1, 0, 2.5, 10), E,
      /^Expected a non-negative integer for totalSteps but received number 2.5$/);
    expectCode(() => addon.lrSchedule('linear', 1, 0, 10, '10'), E,
      /^Expected a non-negative integer for steps but received the string "10"$/);
  });

  it('warmupSteps', () => {
    expectCode(() => addon.warmupSteps(0, 1.5, 10), E, /^Expected a number between 0 and 1 for warmupRatio but received number 1.5$/);
    expectCode(() => addon.warmupSteps(0, -0.1, 10), E, /^Expected a number between 0 and 1 for warmupRatio but received number -0.1$/);
    expectCode(() => addon.warmupSteps(0, NaN, 10), E, /^Expected a finite number for warmupRatio but received number NaN$/);
    expectCode(() => addon.warmupSteps(-2, 0, 10), E, /^Expected a non-negative integer for warmupSteps but received number -2$/);
    expectCode(() => addon.warmupSteps(0, 0.1, -10), E, /^Expected a non-negative integer for totalSteps but received number -10$/);
  });

  it('adamwRun: missing, unknown and mis-sized gradients', () => {
    expectCode(adamw({ gradSteps: [{}] }), E, /^Expected a gradient for "w" in options.gradSteps\[0\] but received none$/);
    expectCode(adamw({ gradSteps: [{ w: new Float32Array(3), v: new Float32Array(3) }] }), E,
      /^Expected only parameter names in options.gradSteps\[0\] but received the unknown name "v"$/);
    expectCode(adamw({ gradSteps: [ok.gradSteps[0], { w: new Float32Array(2) }] }), E,
      /^Expected a Float32Array of length 3 for options.gradSteps\[1\]\["w"\] but received a Float32Array of length 2$/);
    expectCode(adamw({ gradSteps: [{ w: [1, 1, 1] }] }), E,
      /^Expected a Float32Array for options.gradSteps\[0\]\["w"\] but received an array of length 3$/);
    expectCode(adamw({ gradSteps: [{ w: new Float64Array(3) }] }), E,
      /^Expected a Float32Array for options.gradSteps\[0\]\["w"\] but received a Float64Array of length 3$/);
    expectCode(adamw({ gradSteps: undefined }), E, /^Expected an array of gradient objects for options.gradSteps but received undefined$/);
  });

  it('adamwRun: params, shapes and hyperparameters', () => {
    expectCode(adamw({ params: {} }), E, /^Expected at least one parameter for options.params but received an object of type Object$/);
    expectCode(adamw({ shapes: { w: [2, 2] } }), E,
      /^Expected a Float32Array of length 4 for options.params\["w"\] but received a Float32Array of length 3$/);
    expectCode(adamw({ betas: [0.9] }), E, /^Expected an array \[beta1, beta2\] for options.betas but received an array of length 1$/);
    expectCode(adamw({ betas: [1, 0.999] }), E, /^Expected a number in \[0, 1\) for betas\[0\] but received number 1$/);
    expectCode(adamw({ eps: -1e-8 }), E, /^Expected a non-negative finite number for eps but received number -1e-8$/);
    expectCode(adamw({ lr: -1 }), E, /^Expected a non-negative finite number for lr but received number -1$/);
    expectCode(adamw({ lr: [1e-3, 1e-3] }), E, /^Expected one learning rate per step \(1\) for options.lr but received an array of length 2$/);
    expectCode(adamw({ weightDecay: -0.1 }), E, /^Expected a non-negative number for options.weightDecay but received number -0.1$/);
    expectCode(adamw({ maxGradNorm: 0 }), E, /^Expected a positive number for options.maxGradNorm but received number 0$/);
    expectCode(adamw({ roundTripState: 1 }), E, /^Expected a boolean for options.roundTripState but received number 1$/);
    expectCode(() => addon.adamwRun(null), E, /^Expected an options object for options but received null$/);
  });

  it('native messages print numbers as JavaScript does', () => {
    for (const eps of [-0.000001, -1.5e-7, -1e21, -123456.789, -5e-324]) {
      const text = `Expected a non-negative finite number for eps but received number ${String(eps)}`;
      expectCode(adamw({ eps }), E, new RegExp(`^${text.replace(/[.+]/g, '\\$&')}$`));
    }
  });
});
