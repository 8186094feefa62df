// LoRA options resolved against DistilBERT's linear names, with PEFT's matching rules.
import { describe, expect, it } from 'vitest';

import { loraSpec, resolveLoraOptions } from '../../lib/lora/options.js';
import { lossWeights } from '../../lib/trainer/dataset.js';
import { caught } from '../helpers/errors.js';

const LINEARS = [0, 1].flatMap((i) =>
  ['attention.q_lin', 'attention.k_lin', 'attention.v_lin', 'attention.out_lin', 'ffn.lin1', 'ffn.lin2'].map(
    (m) => `distilbert.transformer.layer.${i}.${m}`,
  ),
).concat(['pre_classifier', 'classifier']);

const modules = (options: object) => loraSpec(resolveLoraOptions(options), LINEARS).modules;

describe('target modules (PEFT check_target_module_exists)', () => {
  it('a list matches exact names or dotted suffixes; the default is q_lin and v_lin', () => {
    expect(modules({}).map((m) => m.module)).toEqual([
      'distilbert.transformer.layer.0.attention.q_lin',
      'distilbert.transformer.layer.0.attention.v_lin',
      'distilbert.transformer.layer.1.attention.q_lin',
      'distilbert.transformer.layer.1.attention.v_lin',
    ]);
    // "lin" is not a dotted suffix of "q_lin": no match, so nothing is targeted.
    expect(caught(() => modules({ targetModules: ['lin'] })).message).toMatch(/Expected targetModules matching some of the model's linears/);
    expect(modules({ targetModules: ['layer.1.ffn.lin2'] }).map((m) => m.module)).toEqual(['distilbert.transformer.layer.1.ffn.lin2']);
  });

  it('a string is a regular expression matched against the whole name', () => {
    expect(modules({ targetModules: '.*\\.ffn\\.lin[12]' })).toHaveLength(4);
    expect(caught(() => modules({ targetModules: 'ffn' })).message).toMatch(/targetModules/);
  });

  it("'all-linear' adapts every transformer-block linear, not the head (trained in full)", () => {
    expect(modules({ targetModules: 'all-linear' })).toHaveLength(12);
  });

  it('layersToTransform keeps the listed layers', () => {
    expect(modules({ layersToTransform: [1] }).map((m) => m.module)).toEqual([
      'distilbert.transformer.layer.1.attention.q_lin',
      'distilbert.transformer.layer.1.attention.v_lin',
    ]);
  });

  it('rankPattern and alphaPattern override per module; scale uses alpha/r', () => {
    const m = modules({ r: 8, alpha: 16, rankPattern: { 'layer\\.0\\.attention\\.q_lin': 2 }, alphaPattern: { v_lin: 4 } });
    expect(m[0]).toEqual({ module: 'distilbert.transformer.layer.0.attention.q_lin', r: 2, alpha: 16 });
    expect(m[1]).toEqual({ module: 'distilbert.transformer.layer.0.attention.v_lin', r: 8, alpha: 4 });
  });

  it('modules to save are never adapted, matched with plain endsWith as PEFT does', () => {
    expect(modules({ targetModules: ['classifier', 'q_lin'] }).some((m) => m.module.endsWith('classifier'))).toBe(false);
  });

  it('bad options name the option', () => {
    expect(caught(() => resolveLoraOptions({ r: 0 })).message).toBe('Expected a positive integer for lora.r but received number 0');
    expect(caught(() => resolveLoraOptions({ dropout: 1 })).message).toBe('Expected a number in [0, 1) for lora.dropout but received number 1');
    expect(caught(() => resolveLoraOptions({ bias: 'some' })).message).toMatch(/Expected 'none', 'all' or 'lora_only' for lora\.bias/);
    expect(caught(() => resolveLoraOptions({ targetModules: '(' })).message).toMatch(/Expected a valid regular expression for lora\.targetModules/);
    expect(caught(() => resolveLoraOptions({ rankPattern: { q_lin: 1.5 } })).message).toMatch(/Expected a positive integer for lora\.rankPattern\["q_lin"\]/);
  });
});

describe('class weights', () => {
  it("'balanced' cross-entropy weights are n / (K · count), as sklearn's compute_class_weight", () => {
    // 6 examples: class 0 ×3, class 1 ×2, class 2 ×1 -> 6/(3·3), 6/(3·2), 6/(3·1)
    const { classWeights } = lossWeights('balanced', 'multi-class', new Int32Array([0, 0, 0, 1, 1, 2]), 3);
    expect(Array.from(classWeights!)).toEqual([Math.fround(2 / 3), 1, 2]);
  });

  it("'balanced' multi-label pos_weight is negatives / positives per label", () => {
    // 4 rows × 2 labels: label 0 positive once (3/1), label 1 twice (2/2)
    const labels = new Float32Array([1, 0, 0, 1, 0, 1, 0, 0]);
    expect(Array.from(lossWeights('balanced', 'multi-label', labels, 2).posWeight!)).toEqual([3, 1]);
  });

  it('explicit weights must have one per label', () => {
    expect(caught(() => lossWeights([1, 2], 'multi-class', new Int32Array([0, 1, 2]), 3)).message).toMatch(/Expected 3 weights \(one per label\)/);
  });
});
