// Tabular features in TypeScript: the schema fitted on training examples, the
// encoding rules (missing / extra / non-finite / unseen / null), and feature
// columns in loadExamples.
import { afterAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { loadExamples } from '../../lib/data/examples.js';
import { encodeFeatures } from '../../lib/features/encode.js';
import { fitFeatureSchema } from '../../lib/features/schema.js';
import { caught } from '../helpers/errors.js';

const dir = mkdtempSync(path.join(tmpdir(), 'lora-node-features-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, content: string) => {
  const full = path.join(dir, name);
  writeFileSync(full, content);
  return full;
};

const train = [
  { features: { amount: 10, channel: 'web' } },
  { features: { amount: 30, channel: 'sms' } },
  { features: { amount: null, channel: 'web' } },
  { features: { amount: 20, channel: null } },
];

describe('fitFeatureSchema', () => {
  it('numbers are numeric (mean, population std of the non-null values), strings categorical (sorted vocabulary)', () => {
    // amount: values 10, 30, 20 -> mean 20, variance (100 + 100 + 0) / 3 -> std √(200/3)
    expect(fitFeatureSchema(train, 'trainExamples')).toEqual({
      numeric: [{ name: 'amount', mean: 20, std: Math.sqrt(200 / 3) }],
      categorical: [{ name: 'channel', categories: ['sms', 'web'], embeddingDim: 3 }],
    });
  });

  it('a constant feature gets std 1 (as sklearn StandardScaler); no features at all gives undefined', () => {
    expect(fitFeatureSchema([{ features: { x: 5 } }, { features: { x: 5 } }], 't')!.numeric[0]).toEqual({ name: 'x', mean: 5, std: 1 });
    expect(fitFeatureSchema([{}, {}], 't')).toBeUndefined();
  });

  it.each([
    ['a missing feature', [{ features: { a: 1, b: 'x' } }, { features: { a: 2 } }], /t\[1\]: feature "b" is missing/],
    ['an extra feature', [{ features: { a: 1 } }, { features: { a: 2, c: 3 } }], /t\[1\]: unknown feature "c"/],
    ['an example without features', [{ features: { a: 1 } }, {}], /t\[1\]: Expected features \{ a \}/],
    ['mixed numbers and strings', [{ features: { a: 1 } }, { features: { a: 'x' } }], /t\[1\]: feature "a" mixes numbers and strings/],
    ['a non-finite number', [{ features: { a: 1 } }, { features: { a: NaN } }], /t\[1\]: Expected a finite number or null for feature "a" but received number NaN/],
    ['a feature null everywhere', [{ features: { a: null } }], /feature "a" is null in every example/],
    ['a boolean value', [{ features: { a: true } }], /t\[0\]: Expected a number, string or null for feature "a" but received boolean true/],
  ])('%s is ERR_DATA naming the feature and the example', (_, examples, message) => {
    const error = caught(() => fitFeatureSchema(examples as never, 't'));
    expect(error.code).toBe('ERR_DATA');
    expect(error.message).toMatch(message);
  });
});

describe('encodeFeatures', () => {
  const schema = fitFeatureSchema(train, 'trainExamples')!;
  const std = Math.sqrt(200 / 3);

  it('numbers standardised with a missing indicator; categories by id, unseen and null to the unknown bucket 0', () => {
    const e = encodeFeatures(schema, [{ amount: 30, channel: 'web' }, { amount: null, channel: 'sms' }, { amount: 20, channel: 'fax' }, { amount: 0, channel: null }], 'rows', 'ERR_INVALID_ARGUMENT');
    expect(e.numericWidth).toBe(2);
    expect(e.categoricalWidth).toBe(1);
    expect(Array.from(e.numeric)).toEqual([Math.fround(10 / std), 0, 0, 1, 0, 0, Math.fround(-20 / std), 0]);
    expect(Array.from(e.categorical)).toEqual([2, 1, 0, 0]);
  });

  it.each([
    ['a missing feature', { channel: 'web' }, /rows\[0\]: feature "amount" is missing .*use null for a missing value/],
    ['an extra feature', { amount: 1, channel: 'web', country: 'fr' }, /rows\[0\]: unknown feature "country" \(this model's features: amount, channel\)/],
    ['NaN', { amount: NaN, channel: 'web' }, /Expected a finite number or null for numeric feature "amount" but received number NaN/],
    ['Infinity', { amount: Infinity, channel: 'web' }, /but received number Infinity/],
    ['a string for a numeric feature', { amount: '12', channel: 'web' }, /numeric feature "amount" but received the string "12"/],
    ['a number for a categorical feature', { amount: 1, channel: 3 }, /Expected a string or null for categorical feature "channel" but received number 3/],
    ['not an object', 'web', /rows\[0\]: Expected features \{ amount, channel \}/],
  ])('%s is an error with the given code', (_, row, message) => {
    const error = caught(() => encodeFeatures(schema, [row], 'rows', 'ERR_INVALID_ARGUMENT'));
    expect(error.code).toBe('ERR_INVALID_ARGUMENT');
    expect(error.message).toMatch(message);
  });
});

describe('loadExamples: feature columns', () => {
  it('CSV: numeric cells parsed ("" = null), categorical cells kept as strings ("" = null)', async () => {
    const csv = file('f.csv', 'text,label,amount,country,extra\nhi,a,12.5,fr,x\nyo,b,,,y\nhey,a,-3,de,z\n');
    expect(await loadExamples(csv, { featureColumns: ['amount', 'country'], categoricalColumns: ['country'] })).toEqual([
      { text: 'hi', label: 'a', features: { amount: 12.5, country: 'fr' } },
      { text: 'yo', label: 'b', features: { amount: null, country: null } },
      { text: 'hey', label: 'a', features: { amount: -3, country: 'de' } },
    ]);
  });

  it('JSONL: numbers, null; a categorical number is read as its text', async () => {
    const jsonl = file('f.jsonl', '{"text":"hi","label":"a","amount":1,"zip":75001}\n{"text":"yo","label":"b","amount":null,"zip":null}\n');
    expect(await loadExamples(jsonl, { featureColumns: ['amount', 'zip'], categoricalColumns: ['zip'] })).toEqual([
      { text: 'hi', label: 'a', features: { amount: 1, zip: '75001' } },
      { text: 'yo', label: 'b', features: { amount: null, zip: null } },
    ]);
  });

  it('errors name the file, the row and the column', async () => {
    const csv = file('bad.csv', 'text,label,amount\nhi,a,12\nyo,b,lots\n');
    await expect(loadExamples(csv, { featureColumns: ['amount'] })).rejects.toMatchObject({
      code: 'ERR_DATA',
      message: expect.stringMatching(/bad\.csv, record 2 \(line 3\): Expected a number or an empty cell for numeric feature "amount" but received the string "lots" \(list it in categoricalColumns/),
    });
    await expect(loadExamples(csv, { featureColumns: ['amnt'] })).rejects.toMatchObject({ code: 'ERR_DATA', message: expect.stringMatching(/no "amnt" column .*set options\.featureColumns/) });
    const jsonl = file('bad.jsonl', '{"text":"hi","label":"a"}\n');
    await expect(loadExamples(jsonl, { featureColumns: ['amount'] })).rejects.toMatchObject({ code: 'ERR_DATA', message: expect.stringMatching(/line 1: no "amount" field/) });
    await expect(loadExamples(csv, { categoricalColumns: ['amount'] })).rejects.toMatchObject({ code: 'ERR_INVALID_ARGUMENT' });
    await expect(loadExamples(csv, { featureColumns: ['amount'], categoricalColumns: ['country'] })).rejects.toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
      message: expect.stringMatching(/"country" is not in options\.featureColumns/),
    });
  });
});

describe('lora-node.json with features and ordinal tasks', () => {
  it('reads a valid file and rejects malformed feature schemas', async () => {
    const { readMetadata } = await import('../../lib/lora/metadata.js');
    const folder = (name: string, json: unknown) => {
      const d = path.join(dir, name);
      mkdirSync(d);
      writeFileSync(path.join(d, 'lora-node.json'), JSON.stringify(json));
      return d;
    };
    const features = { numeric: [{ name: 'amount', mean: 1, std: 2 }], categorical: [{ name: 'country', categories: ['de'], embeddingDim: 2 }] };
    const ok = folder('ok', { format: 1, labels: ['none', 'low', 'high'], task: 'ordinal', features });
    expect(await readMetadata(ok)).toMatchObject({ task: 'ordinal', features });
    const badStd = folder('bad-std', { format: 1, labels: ['a', 'b'], task: 'binary', features: { ...features, numeric: [{ name: 'amount', mean: 1, std: 0 }] } });
    await expect(readMetadata(badStd)).rejects.toMatchObject({ code: 'ERR_CONFIG', message: expect.stringMatching(/expected features \{ numeric: \[\{ name, mean, std \}\]/) });
    const oneLevel = folder('one-level', { format: 1, labels: ['a'], task: 'ordinal' });
    await expect(readMetadata(oneLevel)).rejects.toMatchObject({ code: 'ERR_CONFIG', message: expect.stringMatching(/an ordinal task needs at least 2 labels/) });
  });
});
