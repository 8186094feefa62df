// Feature values -> the tensors the native risk head takes:
//   numeric     Float32Array [n × 2·Fnum]: per numeric feature (x - mean) / std and a missing
//               indicator; null gives (0, 1).
//   categorical Int32Array [n × Fcat]: category id (index in the training vocabulary + 1);
//               an unseen category or null gives 0, the unknown bucket.
// A missing or extra feature, a non-finite number, or a value of the wrong kind is an error
// naming the feature and the row (code ERR_DATA for training data, ERR_INVALID_ARGUMENT at prediction).
import { LoraNodeError, describeReceived, type ErrorCode } from '../errors.js';
import { type FeatureSchema, checkKeys, featureNames, isRecord } from './schema.js';

export interface EncodedFeatures {
  numeric: Float32Array;
  categorical: Int32Array;
  /** Columns of each: 2 · Fnum and Fcat. */
  numericWidth: number;
  categoricalWidth: number;
}

export function encodeFeatures(schema: FeatureSchema, rows: readonly unknown[], name: string, code: ErrorCode): EncodedFeatures {
  const error = (message: string) => new LoraNodeError(code, message);
  const names = featureNames(schema);
  const numericWidth = 2 * schema.numeric.length;
  const categoricalWidth = schema.categorical.length;
  const numeric = new Float32Array(rows.length * numericWidth);
  const categorical = new Int32Array(rows.length * categoricalWidth);
  const ids = schema.categorical.map((f) => new Map(f.categories.map((c, i) => [c, i + 1])));
  rows.forEach((row, i) => {
    const at = `${name}[${i}]`;
    if (!isRecord(row)) throw error(`${at}: Expected features { ${names.join(', ')} } but received ${describeReceived(row)}`);
    checkKeys(row, names, at, error);
    schema.numeric.forEach((f, j) => {
      const v = row[f.name];
      const o = i * numericWidth + 2 * j;
      if (v === null) {
        numeric[o + 1] = 1;
        return;
      }
      if (typeof v !== 'number' || !Number.isFinite(v))
        throw error(`${at}: Expected a finite number or null for numeric feature ${JSON.stringify(f.name)} but received ${describeReceived(v)}`);
      numeric[o] = (v - f.mean) / f.std;
    });
    schema.categorical.forEach((f, j) => {
      const v = row[f.name];
      if (v !== null && typeof v !== 'string')
        throw error(`${at}: Expected a string or null for categorical feature ${JSON.stringify(f.name)} but received ${describeReceived(v)}`);
      categorical[i * categoricalWidth + j] = v === null ? 0 : (ids[j]!.get(v) ?? 0);
    });
  });
  return { numeric, categorical, numericWidth, categoricalWidth };
}

/** Rows [start, end) (or the rows at `indices`) of encoded features, as the native forward takes them. */
export function featureRows(e: EncodedFeatures, indices: readonly number[]): { numericFeatures?: Float32Array; categoricalFeatures?: Int32Array } {
  const out: { numericFeatures?: Float32Array; categoricalFeatures?: Int32Array } = {};
  if (e.numericWidth > 0) {
    const numeric = new Float32Array(indices.length * e.numericWidth);
    indices.forEach((r, i) => numeric.set(e.numeric.subarray(r * e.numericWidth, (r + 1) * e.numericWidth), i * e.numericWidth));
    out.numericFeatures = numeric;
  }
  if (e.categoricalWidth > 0) {
    const categorical = new Int32Array(indices.length * e.categoricalWidth);
    indices.forEach((r, i) => categorical.set(e.categorical.subarray(r * e.categoricalWidth, (r + 1) * e.categoricalWidth), i * e.categoricalWidth));
    out.categoricalFeatures = categorical;
  }
  return out;
}

export const range = (start: number, end: number): number[] => Array.from({ length: end - start }, (_, i) => start + i);
