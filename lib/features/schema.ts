// Tabular features beside the text: which features a model takes and what
// training learned about them (numeric statistics, category vocabularies).
// The schema is fitted on the training examples and saved in lora-node.json.
import { LoraNodeError, describeReceived } from '../errors.js';

/** A feature value: a number (numeric feature), a string (categorical) or null (missing). */
export type FeatureValue = number | string | null;
export type Features = Record<string, FeatureValue>;

export interface NumericFeature {
  name: string;
  /** Mean and population standard deviation of the training values (as sklearn's StandardScaler; 1 when constant). */
  mean: number;
  std: number;
}

export interface CategoricalFeature {
  name: string;
  /** Categories seen in training, in id order: id = index + 1; id 0 is the unknown bucket. */
  categories: string[];
  /** Width of the learned embedding. */
  embeddingDim: number;
}

export interface FeatureSchema {
  numeric: NumericFeature[];
  categorical: CategoricalFeature[];
}

/** Embedding width of a categorical feature: one per category (plus the unknown bucket), at most 16. */
export function embeddingDimFor(categories: number): number {
  return Math.min(16, categories + 1);
}

const dataError = (message: string) => new LoraNodeError('ERR_DATA', message);

/**
 * The schema of a training set's features, or undefined when no example has any.
 * Every example must carry the same feature names. A feature whose values (nulls aside) are all
 * numbers is numeric, all strings categorical; mixed kinds, non-finite numbers or a feature that is
 * null everywhere are ERR_DATA errors naming the feature and the example.
 */
export function fitFeatureSchema(examples: readonly { features?: unknown }[], name: string): FeatureSchema | undefined {
  const withFeatures = examples.findIndex((e) => e.features !== undefined);
  if (withFeatures < 0) return undefined;
  const first = examples[withFeatures]!.features;
  if (!isRecord(first)) throw dataError(`${name}[${withFeatures}]: Expected an object { name: number | string | null } for features but received ${describeReceived(first)}`);
  const names = Object.keys(first);
  if (names.length === 0) throw dataError(`${name}[${withFeatures}]: Expected at least one feature in features but received an empty object`);
  const columns = names.map(() => [] as FeatureValue[]);
  examples.forEach((e, i) => {
    const at = `${name}[${i}]`;
    const row = e.features;
    if (!isRecord(row)) throw dataError(`${at}: Expected features { ${names.join(', ')} } (as the other examples have) but received ${describeReceived(row)}`);
    checkKeys(row, names, at, dataError);
    names.forEach((feature, f) => columns[f]!.push(row[feature] as FeatureValue));
  });
  const schema: FeatureSchema = { numeric: [], categorical: [] };
  names.forEach((feature, f) => {
    const values = columns[f]!;
    const kinds = new Set(values.filter((v) => v !== null).map((v) => typeof v));
    const bad = values.findIndex((v) => v !== null && typeof v !== 'number' && typeof v !== 'string');
    if (bad >= 0) throw dataError(`${name}[${bad}]: Expected a number, string or null for feature ${JSON.stringify(feature)} but received ${describeReceived(values[bad])}`);
    if (kinds.size === 0) throw dataError(`${name}: feature ${JSON.stringify(feature)} is null in every example; drop it or give it values`);
    if (kinds.size > 1) {
      const firstString = values.findIndex((v) => typeof v === 'string');
      throw dataError(`${name}[${firstString}]: feature ${JSON.stringify(feature)} mixes numbers and strings; a feature is numeric (numbers) or categorical (strings)`);
    }
    if (kinds.has('number')) {
      const bad = values.findIndex((v) => typeof v === 'number' && !Number.isFinite(v));
      if (bad >= 0) throw dataError(`${name}[${bad}]: Expected a finite number or null for feature ${JSON.stringify(feature)} but received ${describeReceived(values[bad])}`);
      schema.numeric.push({ name: feature, ...meanAndStd(values.filter((v): v is number => v !== null)) });
    } else {
      const categories = [...new Set(values.filter((v): v is string => v !== null))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      schema.categorical.push({ name: feature, categories, embeddingDim: embeddingDimFor(categories.length) });
    }
  });
  return schema;
}

/** The feature names of a schema, numeric ones first (the order of the encoded columns). */
export function featureNames(schema: FeatureSchema): string[] {
  return [...schema.numeric.map((f) => f.name), ...schema.categorical.map((f) => f.name)];
}

/** Missing or extra keys are errors naming the feature (the rule of encodeFeatures too). */
export function checkKeys(row: Record<string, unknown>, names: readonly string[], at: string, error: (message: string) => Error): void {
  for (const feature of names)
    if (!Object.hasOwn(row, feature)) throw error(`${at}: feature ${JSON.stringify(feature)} is missing (this model's features: ${names.join(', ')}; use null for a missing value)`);
  for (const key of Object.keys(row))
    if (!names.includes(key)) throw error(`${at}: unknown feature ${JSON.stringify(key)} (this model's features: ${names.join(', ')})`);
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !ArrayBuffer.isView(value);
}

function meanAndStd(values: number[]): { mean: number; std: number } {
  if (values.length === 0) return { mean: 0, std: 1 };
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const variance = values.reduce((s, v) => s + (v - mean) ** 2, 0) / values.length;
  const std = Math.sqrt(variance);
  return { mean, std: std > 0 && Number.isFinite(std) ? std : 1 };
}

/** Checks a schema read back from lora-node.json. */
export function isFeatureSchema(value: unknown): value is FeatureSchema {
  if (!isRecord(value) || !Array.isArray(value.numeric) || !Array.isArray(value.categorical)) return false;
  const numericOk = value.numeric.every(
    (f: unknown) => isRecord(f) && typeof f.name === 'string' && Number.isFinite(f.mean) && typeof f.std === 'number' && f.std > 0,
  );
  const categoricalOk = value.categorical.every(
    (f: unknown) =>
      isRecord(f) && typeof f.name === 'string' && Array.isArray(f.categories) && f.categories.every((c: unknown) => typeof c === 'string') &&
      Number.isInteger(f.embeddingDim) && (f.embeddingDim as number) > 0,
  );
  return numericOk && categoricalOk && value.numeric.length + value.categorical.length > 0;
}
