// Test-only safetensors reader: 8-byte little-endian header length, JSON header, raw data.
import { readFileSync } from 'node:fs';

export type TensorData = BigInt64Array | Int32Array | Float32Array | Float64Array | Uint8Array | Uint16Array;

export interface Tensor {
  dtype: string;
  shape: number[];
  data: TensorData;
}

interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

// F16/BF16 come back as raw Uint16 bits: the tests that need them decode themselves.
const ARRAY_TYPES: Record<string, (buffer: ArrayBuffer) => TensorData> = {
  I64: (b) => new BigInt64Array(b),
  I32: (b) => new Int32Array(b),
  F32: (b) => new Float32Array(b),
  F64: (b) => new Float64Array(b),
  U8: (b) => new Uint8Array(b),
  F16: (b) => new Uint16Array(b),
  BF16: (b) => new Uint16Array(b),
};

export function readSafetensors(file: string): Map<string, Tensor> {
  const bytes = readFileSync(file);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, HeaderEntry>;
  const dataStart = 8 + headerLength;
  const tensors = new Map<string, Tensor>();
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const make = ARRAY_TYPES[entry.dtype];
    if (!make) throw new Error(`${file}: unsupported dtype ${entry.dtype} for ${name}`);
    const [begin, end] = entry.data_offsets;
    // Copy into a fresh, aligned ArrayBuffer: the data start need not be 8-aligned, and a
    // Buffer's slice() is a view, not a copy.
    const buffer = new Uint8Array(bytes.subarray(dataStart + begin, dataStart + end)).buffer;
    tensors.set(name, { dtype: entry.dtype, shape: entry.shape, data: make(buffer) });
  }
  return tensors;
}

/** An I64 tensor as plain numbers, with its shape. */
export function int64Tensor(tensors: Map<string, Tensor>, name: string): { shape: number[]; values: number[] } {
  const tensor = tensors.get(name);
  if (!tensor) throw new Error(`no tensor ${name}`);
  if (!(tensor.data instanceof BigInt64Array)) throw new Error(`${name} is ${tensor.dtype}, not I64`);
  return { shape: tensor.shape, values: Array.from(tensor.data, Number) };
}
