// The fresh DistilBERT checkpoint's parts that need no addon: the vocabulary,
// the pre-tokenizer it is built with, config.json's fields and the initial weights.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { SPECIAL_TOKENS, buildVocab, initConfig, initWeights, preTokenize } from '../../lib/init-model.js';

const FIXTURE_VOCAB = join(import.meta.dirname, '..', 'fixtures', 'tiny', 'checkpoint', 'vocab.txt');

describe('buildVocab', () => {
  const texts = ['Your account is LOCKED!', 'your account was charged twice.', 'Café crème, s’il vous plaît', 'your order'];
  const vocab = buildVocab(texts);

  it('starts with the special tokens in the ids of BERT vocabularies (as the fixtures)', () => {
    const fixture = readFileSync(FIXTURE_VOCAB, 'utf8').split('\n').slice(0, 5);
    expect(vocab.slice(0, 5)).toEqual(fixture);
    expect(vocab.slice(0, 5)).toEqual([...SPECIAL_TOKENS]);
  });

  it('holds punctuation, words seen twice (lowercased, most frequent first), and every character with its ## form', () => {
    for (const p of ['.', ',', '!', '?', "'", '’']) expect(vocab).toContain(p);
    expect(vocab.indexOf('your')).toBeLessThan(vocab.indexOf('account'));
    expect(vocab).toContain('account');
    expect(vocab).not.toContain('locked'); // seen once: spelled with characters
    expect(vocab).not.toContain('LOCKED');
    for (const c of ['l', '##l', 'c', '##e', 'z', '##9']) expect(vocab).toContain(c);
    expect(vocab).not.toContain('é'); // accents stripped as the uncased tokenizer does
    expect(new Set(vocab).size).toBe(vocab.length);
  });

  it('is deterministic and respects minCount', () => {
    expect(buildVocab(texts)).toEqual(vocab);
    expect(buildVocab(texts, 1)).toContain('locked');
  });
});

describe('preTokenize', () => {
  it('lowercases, strips accents, and splits on whitespace and punctuation', () => {
    expect(preTokenize('Café-crème, NOW!! $5\tok')).toEqual(['cafe', '-', 'creme', ',', 'now', '!', '!', '$', '5', 'ok']);
  });
});

describe('initConfig and initWeights', () => {
  const o = { dim: 16, layers: 2, heads: 4, hidden: 32, maxPositions: 64, labels: ['ok', 'spam'], seed: 7, vocabSize: 50, task: 'binary' as const };

  it('config.json names the sizes, labels and problem type as transformers does', () => {
    const c = initConfig(o);
    expect(c).toMatchObject({ model_type: 'distilbert', dim: 16, n_layers: 2, n_heads: 4, hidden_dim: 32, vocab_size: 50, pad_token_id: 0 });
    expect(c.id2label).toEqual({ 0: 'ok', 1: 'spam' });
    expect(c.label2id).toEqual({ ok: 0, spam: 1 });
    expect(c.problem_type).toBe('single_label_classification');
    expect(initConfig({ ...o, task: 'multi-label' }).problem_type).toBe('multi_label_classification');
  });

  it('has every DistilBertForSequenceClassification tensor, initialised as _init_weights does', () => {
    const t = initWeights(o);
    expect(Object.keys(t)).toHaveLength(4 + 16 * 2 + 4); // embeddings, 16 per block, head
    expect(t['distilbert.embeddings.word_embeddings.weight']!.shape).toEqual([50, 16]);
    expect(t['distilbert.embeddings.position_embeddings.weight']!.shape).toEqual([64, 16]);
    expect(t['distilbert.transformer.layer.1.ffn.lin1.weight']!.shape).toEqual([32, 16]);
    expect(t['distilbert.transformer.layer.1.ffn.lin2.weight']!.shape).toEqual([16, 32]);
    expect(t['classifier.weight']!.shape).toEqual([2, 16]);
    const word = t['distilbert.embeddings.word_embeddings.weight']!.data as Float32Array;
    expect([...word.subarray(0, 16)].every((v) => v === 0)).toBe(true); // padding row
    const w = t['distilbert.transformer.layer.0.ffn.lin1.weight']!.data as Float32Array;
    const mean = w.reduce((a, b) => a + b, 0) / w.length;
    const std = Math.sqrt(w.reduce((a, b) => a + (b - mean) ** 2, 0) / w.length);
    expect(Math.abs(mean)).toBeLessThan(0.004);
    expect(std).toBeGreaterThan(0.017);
    expect(std).toBeLessThan(0.023);
    expect([...t['distilbert.transformer.layer.0.sa_layer_norm.weight']!.data].every((v) => v === 1)).toBe(true);
    for (const name of ['distilbert.transformer.layer.0.sa_layer_norm.bias', 'pre_classifier.bias', 'classifier.bias'])
      expect([...t[name]!.data].every((v) => v === 0)).toBe(true);
    expect(initWeights(o)['classifier.weight']!.data).toEqual(t['classifier.weight']!.data);
    expect(initWeights({ ...o, seed: 8 })['classifier.weight']!.data).not.toEqual(t['classifier.weight']!.data);
  });
});
