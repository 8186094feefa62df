// Access to the golden fixture sets copied from ../shared/golden (see test/fixtures/GOLDEN.md).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { type Tensor, readSafetensors } from './safetensors.js';

export const FIXTURES = join(import.meta.dirname, '..', 'fixtures');
export const GOLDEN_SETS = ['tiny', 'small-multilabel', 'real-vocab'] as const;
export type GoldenSet = (typeof GOLDEN_SETS)[number];

export interface Golden {
  set: GoldenSet;
  checkpoint: string;
  json: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  tensors: Map<string, Tensor>;
  float32(name: string): Float32Array;
  int32(name: string): Int32Array;
  shape(name: string): number[];
}

const cache = new Map<GoldenSet, Golden>();

export function golden(set: GoldenSet): Golden {
  const hit = cache.get(set);
  if (hit) return hit;
  const dir = join(FIXTURES, set);
  const tensors = readSafetensors(join(dir, 'golden.safetensors'));
  const get = (name: string): Tensor => {
    const t = tensors.get(name);
    if (!t) throw new Error(`${set}: golden tensor ${name} is missing`);
    return t;
  };
  const g: Golden = {
    set,
    checkpoint: join(dir, 'checkpoint'),
    json: JSON.parse(readFileSync(join(dir, 'golden.json'), 'utf8')),
    tensors,
    float32: (name) => {
      const t = get(name);
      if (!(t.data instanceof Float32Array)) throw new Error(`${name} is ${t.dtype}, not F32`);
      return t.data;
    },
    int32: (name) => Int32Array.from(get(name).data as BigInt64Array, Number),
    shape: (name) => get(name).shape,
  };
  cache.set(set, g);
  return g;
}

/** Largest |a - b| over two equally long arrays. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} != ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}
