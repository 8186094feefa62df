// Argument checks shared by the public classes; messages read
// "Expected X for name but received Y" (see errors.ts).
import { expected } from './errors.js';

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !ArrayBuffer.isView(value);
}

export function optionsObject(value: unknown, name: string): Record<string, unknown> {
  if (value === undefined) return {};
  if (!isPlainObject(value)) throw expected('an options object', name, value);
  return value;
}

export function positiveInteger(value: unknown, name: string, fallback?: number): number {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1)
    throw expected('a positive integer', name, value);
  return value;
}

export function nonNegativeInteger(value: unknown, name: string, fallback?: number): number {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0)
    throw expected('a non-negative integer', name, value);
  return value;
}

export function oneOf<T extends string>(value: unknown, allowed: readonly T[], name: string, fallback?: T): T {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value))
    throw expected(`one of ${allowed.map((a) => `'${a}'`).join(', ')}`, name, value);
  return value as T;
}

export function nonEmptyString(value: unknown, name: string): string {
  if (typeof value !== 'string' || value.length === 0) throw expected('a non-empty string', name, value);
  return value;
}

/** A non-empty array of strings (texts to classify). */
export function textList(value: unknown, name: string): string[] {
  if (!Array.isArray(value)) throw expected('an array of strings', name, value);
  if (value.length === 0) throw expected('a non-empty array of strings', name, value);
  value.forEach((item, i) => {
    if (typeof item !== 'string') throw expected('a string', `${name}[${i}]`, item);
  });
  return value as string[];
}

/** 'auto' | 'cpu' | 'cuda' | 'cuda:N' (default 'auto'). */
export function deviceOption(value: unknown, name = 'options.device'): string {
  if (value === undefined) return 'auto';
  if (typeof value !== 'string' || !/^(auto|cpu|cuda(:\d+)?)$/.test(value))
    throw expected("'auto', 'cpu', 'cuda' or 'cuda:N'", name, value);
  return value;
}

/** An array or typed array of numbers (the metrics' inputs), else ERR_INVALID_ARGUMENT naming `name`. */
export function numberList(value: unknown, name: string): ArrayLike<number> {
  if (Array.isArray(value) || (ArrayBuffer.isView(value) && !(value instanceof DataView) && !(value instanceof BigInt64Array) && !(value instanceof BigUint64Array)))
    return value as ArrayLike<number>;
  throw expected('an array or typed array of numbers', name, value);
}
