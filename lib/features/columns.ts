// Feature columns of a CSV/JSONL file -> Example.features. CSV cells are text:
// a numeric column's cell is parsed as a number ("" = null, anything else that
// is not a plain finite number is an error); a categorical cell is a string
// ("" = null). In JSONL a numeric field must be a number or null, a categorical
// one a string, number (read as its text) or null.
import { ArgumentError, FormatError, describeReceived } from '../errors.js';
import type { Features } from './schema.js';

export interface FeatureColumns {
  names: string[];
  categorical: ReadonlySet<string>;
}

/** Checks the loadExamples options featureColumns / categoricalColumns. */
export function featureColumnsOption(featureColumns: unknown, categoricalColumns: unknown): FeatureColumns | undefined {
  const list = (value: unknown, name: string): string[] => {
    if (!Array.isArray(value) || !value.every((v) => typeof v === 'string' && v !== ''))
      throw new ArgumentError(`Expected an array of column names for options.${name} but received ${describeReceived(value)}`);
    if (new Set(value).size !== value.length) throw new ArgumentError(`Expected distinct names in options.${name}`);
    return value as string[];
  };
  if (featureColumns === undefined) {
    if (categoricalColumns !== undefined) throw new ArgumentError('Expected options.featureColumns with options.categoricalColumns');
    return undefined;
  }
  const names = list(featureColumns, 'featureColumns');
  const categorical = categoricalColumns === undefined ? [] : list(categoricalColumns, 'categoricalColumns');
  for (const c of categorical)
    if (!names.includes(c)) throw new ArgumentError(`Expected options.categoricalColumns to name feature columns but ${JSON.stringify(c)} is not in options.featureColumns`);
  return { names, categorical: new Set(categorical) };
}

export function readFeatureCells(raw: Record<string, unknown>, columns: FeatureColumns, csv: boolean, at: string): Features {
  const out: Features = {};
  for (const name of columns.names) {
    const cell = raw[name];
    const categorical = columns.categorical.has(name);
    if (csv) {
      const text = String(cell ?? '').trim();
      if (text === '') out[name] = null;
      else if (categorical) out[name] = text;
      else {
        const value = plainNumber(text);
        if (value === undefined) throw dataError(`${at}: Expected a number or an empty cell for numeric feature ${JSON.stringify(name)} but received ${describeReceived(cell)} (list it in categoricalColumns if it is a category)`);
        out[name] = value;
      }
    } else if (cell === null) {
      out[name] = null;
    } else if (categorical) {
      if (typeof cell !== 'string' && !(typeof cell === 'number' && Number.isFinite(cell)))
        throw dataError(`${at}: Expected a string, number or null for categorical feature ${JSON.stringify(name)} but received ${describeReceived(cell)}`);
      out[name] = String(cell);
    } else {
      if (typeof cell !== 'number' || !Number.isFinite(cell))
        throw dataError(`${at}: Expected a finite number or null for numeric feature ${JSON.stringify(name)} but received ${describeReceived(cell)} (list it in categoricalColumns if it is a category)`);
      out[name] = cell;
    }
  }
  return out;
}

function plainNumber(s: string): number | undefined {
  if (!/^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/.test(s)) return undefined;
  const value = Number(s);
  return Number.isFinite(value) ? value : undefined;
}

function dataError(message: string): FormatError {
  return new FormatError('ERR_DATA', message);
}
