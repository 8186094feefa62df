// Quantizer / quantize4bit / dequantize4bit on random data: round trips for
// every block size and both types, odd sizes, the padding nibble, all-zero
// blocks, thread-count independence, the quant_state JSON (writer and parser),
// and bad input (each checked for its code and message, in TypeScript and at
// the native entry).
import { describe, expect, it } from 'vitest';

import { LoraNodeError, Quantizer, type Packed4bit } from '../../lib/index.js';
import { addon } from '../helpers/addon.js';

const BLOCK_SIZES = [32, 64, 128, 256, 512, 1024, 2048, 4096];
const TYPES = ['nf4', 'fp4'] as const;
const f32 = Math.fround;

function randomNormal(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0;
  const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 4294967296;
  return Float32Array.from({ length: n }, () => scale * Math.sqrt(-2 * Math.log(next())) * Math.cos(2 * Math.PI * next()));
}

/** IEEE half bits of a float32 value, rounded to nearest even (an independent reference for float16 outputs). */
function float16Bits(value: number): number {
  const sign = value < 0 || Object.is(value, -0) ? 0x8000 : 0;
  const a = Math.abs(value);
  const rne = (x: number) => {
    const f = Math.floor(x);
    return x - f > 0.5 || (x - f === 0.5 && f % 2 === 1) ? f + 1 : f;
  };
  if (a < 2 ** -14) return sign | rne(a / 2 ** -24); // subnormal (a carry into 0x400 is the smallest normal)
  let e = Math.floor(Math.log2(a));
  while (2 ** e > a) e--;
  while (2 ** (e + 1) <= a) e++;
  let m = rne((a / 2 ** e - 1) * 1024);
  if (m === 1024) {
    m = 0;
    e++;
  }
  return e > 15 ? sign | 0x7c00 : sign | ((e + 15) << 10) | m;
}

/** Half the largest gap between neighbouring levels: the worst rounding, in units of a block's absmax. */
function halfLargestGap(levels: Float32Array): number {
  const sorted = Array.from(levels).sort((a, b) => a - b);
  let gap = 0;
  for (let i = 1; i < sorted.length; i++) gap = Math.max(gap, sorted[i]! - sorted[i - 1]!);
  return gap / 2;
}

/** The code of 1.0, so a packed copy full of it decodes to each block's (stored) absmax. */
const ONE_BYTE = { nf4: 0xff, fp4: 0x33 } as const;

async function decodedAbsmax(q: Quantizer, p: Packed4bit): Promise<Float32Array> {
  const ones = await q.dequantize({ ...p, data: new Uint8Array(p.data.length).fill(ONE_BYTE[p.type]) });
  const blocks = Math.ceil(ones.length / p.blockSize);
  return Float32Array.from({ length: blocks }, (_, b) => ones[b * p.blockSize]!);
}

/** Every element within half the largest gap of its block's absmax (+ the double-quant error of that absmax). */
async function expectRoundTrip(q: Quantizer, x: Float32Array, p: Packed4bit): Promise<number> {
  const out = await q.dequantize(p);
  expect(out.length).toBe(x.length);
  const half = halfLargestGap(addon.quantMaps()[p.type]);
  const stored = await decodedAbsmax(q, p);
  let worst = 0;
  for (let b = 0; b < stored.length; b++) {
    const part = x.subarray(b * p.blockSize, (b + 1) * p.blockSize);
    const exact = part.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const bound = half * exact + Math.abs(stored[b]! - exact) + 1e-6 * exact;
    for (let i = 0; i < part.length; i++) {
      const err = Math.abs(out[b * p.blockSize + i]! - part[i]!);
      worst = Math.max(worst, err / (exact || 1));
      if (err > bound) expect(err, `block ${b} element ${i}`).toBeLessThanOrEqual(bound);
    }
  }
  return worst;
}

async function rejects(promise: Promise<unknown> | (() => unknown), code: string, message: RegExp): Promise<void> {
  let error: { code?: string; message?: string } | undefined;
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (e) {
    error = e as typeof error;
  }
  expect(error, 'expected a rejection').toBeDefined();
  expect(error!.message).toMatch(message);
  expect(error!.code).toBe(code);
}

describe('round trips on random data', () => {
  describe.each(TYPES)('%s', (type) => {
    it.each(BLOCK_SIZES)('block size %i, with and without double quant', async (blockSize) => {
      const n = 5 * blockSize + 3; // full blocks, a partial tail, an odd count
      const x = randomNormal(n, blockSize * 13 + (type === 'fp4' ? 1 : 0), 0.04);
      for (const doubleQuant of [false, true]) {
        const q = new Quantizer({ type, blockSize, doubleQuant });
        const p = await q.quantize(x, [n]);
        expect(p.data.length).toBe(Math.ceil(n / 2));
        expect(p.absmax.length).toBe(6);
        expect(p.absmax).toBeInstanceOf(doubleQuant ? Uint8Array : Float32Array);
        if (doubleQuant) {
          expect(p.nestedAbsmax!.length).toBe(1);
          expect(p.nestedBlockSize).toBe(256);
        }
        const worst = await expectRoundTrip(q, x, p);
        expect(worst).toBeGreaterThan(0);
        expect(worst).toBeLessThan(halfLargestGap(addon.quantMaps()[type]) + 0.05);
      }
    });
  });

  it('a million weights: equal results with one and two intra-op threads', async () => {
    const x = randomNormal(1 << 20, 99, 0.1);
    const q = new Quantizer();
    addon.setThreads(1);
    const one = await q.quantize(x, [1024, 1024]);
    const oneOut = await q.dequantize(one);
    addon.setThreads(2);
    const two = await q.quantize(x, [1024, 1024]);
    expect(two).toEqual(one);
    expect(await q.dequantize(two)).toEqual(oneOut);
    await expectRoundTrip(q, x, two);
  });
});

describe('every vectorized path decodes exactly as the scalar one', () => {
  const runtime = addon.runtimeInfo();
  const paths = ['scalar', ...(runtime.cpu.avx2 ? ['avx2'] : []), ...(runtime.cpu.avx512f ? ['avx512'] : [])];

  it.each(TYPES)('%s: every block size, odd and tail lengths, float32 / bfloat16 / float16 outputs', async (type) => {
    const previous = process.env.LORA_NODE_SIMD;
    try {
      for (const blockSize of BLOCK_SIZES) {
        const n = 3 * blockSize + 45;
        const x = randomNormal(n, blockSize + 5, 0.3);
        const p = await new Quantizer({ type, blockSize, doubleQuant: true }).quantize(x, [n]);
        const results = new Map<string, Array<Float32Array | Uint16Array>>();
        for (const path of paths) {
          process.env.LORA_NODE_SIMD = path === 'avx512' ? 'all' : path;
          results.set(path, [
            await addon.dequantize4bit(p),
            await addon.dequantize4bit(p, { dtype: 'bfloat16' }),
            await addon.dequantize4bit(p, { dtype: 'float16' }),
          ]);
        }
        for (const path of paths) expect(results.get(path), `${path}, block size ${blockSize}`).toEqual(results.get('scalar'));
        expect(results.get('scalar')![2]).toEqual(Uint16Array.from(results.get('scalar')![0]!, float16Bits));
      }
    } finally {
      if (previous === undefined) delete process.env.LORA_NODE_SIMD;
      else process.env.LORA_NODE_SIMD = previous;
    }
    expect(paths.length).toBeGreaterThan(1); // this machine has at least AVX2: the comparison means something
  });
});

describe('odd sizes and block layout', () => {
  it.each([
    [1, 64],
    [3, 32],
    [63, 64],
    [65, 64],
    [127, 128],
    [4097, 4096],
    [1000, 256],
    [77777, 1024],
  ])('n = %i, block size %i', async (n, blockSize) => {
    const x = randomNormal(n, n, 1);
    for (const type of TYPES) {
      const q = new Quantizer({ type, blockSize, doubleQuant: false });
      const p = await q.quantize(x, [n]);
      expect(p.data.length).toBe(Math.ceil(n / 2));
      expect(p.absmax.length).toBe(Math.ceil(n / blockSize));
      // the tail block keeps its own absmax: the max |x| of its elements
      const tailStart = (p.absmax.length - 1) * blockSize;
      expect(p.absmax[p.absmax.length - 1]).toBe(x.subarray(tailStart).reduce((m, v) => Math.max(m, Math.abs(v)), 0));
      if (n % 2) expect(p.data[p.data.length - 1]! & 15).toBe(type === 'nf4' ? 7 : 0); // the 0.0 pad
      await expectRoundTrip(q, x, p);
    }
  });

  it('shapes of any rank; the quant_state records them', async () => {
    const x = randomNormal(2 * 3 * 5 * 7, 5);
    const q = new Quantizer({ doubleQuant: false });
    for (const shape of [[210], [14, 15], [2, 3, 35], [2, 3, 5, 7], [1, 210, 1]]) {
      const p = await q.quantize(x, shape);
      expect(p.shape).toEqual(shape);
      expect(JSON.parse(p.quantState).shape).toEqual(shape);
      expect(await q.dequantize(p)).toEqual(await q.dequantize({ ...(await q.quantize(x, [210])), shape, quantState: undefined as never }));
    }
  });

  it('all-zero blocks: NF4 packs 0x77, FP4 0x00, both decode to zeros; an all-zero tail stores absmax 1e-38', async () => {
    const x = new Float32Array(64 + 64 + 10);
    x.fill(0.5, 64, 128);
    for (const type of TYPES) {
      const q = new Quantizer({ type, blockSize: 64, doubleQuant: false });
      const p = await q.quantize(x, [x.length]);
      expect(Array.from(p.data.subarray(0, 32))).toEqual(new Array(32).fill(type === 'nf4' ? 0x77 : 0x00));
      expect(p.absmax[0]).toBe(0);
      expect(p.absmax[2]).toBe(f32(1e-38));
      const out = await q.dequantize(p);
      expect(Array.from(out.subarray(0, 64)).every((v) => v === 0)).toBe(true);
      expect(Array.from(out.subarray(128)).every((v) => v === 0)).toBe(true);
      expect(Array.from(out.subarray(64, 128)).every((v) => v === 0.5)).toBe(true);
    }
  });

  it('bfloat16 and float16 weights: raw bits or exact float32 values give the same result, dequantized to that dtype', async () => {
    const x = randomNormal(300, 3, 0.1);
    const bf16 = Uint16Array.from(new Uint32Array(x.buffer.slice(0)), (u) => u >>> 16); // truncation: any bf16 values will do
    const widened = new Float32Array(Uint32Array.from(bf16, (b) => b << 16).buffer);
    const q = new Quantizer();
    const a = await q.quantize(bf16, [300], { dtype: 'bfloat16' });
    const b = await q.quantize(widened, [300], { dtype: 'bfloat16' });
    expect(a).toEqual(b);
    expect(JSON.parse(a.quantState).dtype).toBe('bfloat16');
    const asF32 = await q.dequantize(a);
    const asBf16 = await q.dequantize(a, { dtype: 'bfloat16' });
    // round to nearest even of each float32 value
    const rne = Uint16Array.from(new Uint32Array(asF32.buffer), (u) => (u + 0x7fff + ((u >>> 16) & 1)) >>> 16);
    expect(asBf16).toEqual(rne);
    const half = await q.dequantize(a, { dtype: 'float16' });
    expect(half).toEqual(Uint16Array.from(asF32, float16Bits));
    expect(Array.from([1, -2, 65504, 65520, 2 ** -24, 2 ** -25, 3 * 2 ** -25, 1 + 2 ** -11, 1 + 3 * 2 ** -11], float16Bits)).toEqual([
      0x3c00, 0xc000, 0x7bff, 0x7c00, 0x0001, 0x0000, 0x0002, 0x3c00, 0x3c02,
    ]); // the reference itself: overflow, subnormals and ties to even
    await rejects(q.quantize(Float32Array.of(0.1, 0.2), [2], { dtype: 'bfloat16' }), 'ERR_INVALID_ARGUMENT', /Expected bfloat16 values for data but received 0\.1\d* at index 0/);
  });
});

describe('the quant_state JSON', () => {
  /** One block: offset = the block's absmax, so the JSON shows Python's repr() of that float32. */
  async function offsetText(absmax: number): Promise<string> {
    const p = await new Quantizer().quantize(Float32Array.of(absmax, 0), [2]);
    expect(p.offset).toBe(f32(absmax));
    return JSON.parse(p.quantState.replace(/"nested_offset": ([^}]+)\}/, '"nested_offset": "$1"}')).nested_offset;
  }

  it.each([
    [1, '1.0'],
    [0.5, '0.5'],
    [12345, '12345.0'],
    [1e-5, '9.999999747378752e-06'],
    [1e-4, '9.999999747378752e-05'],
    [0.001, '0.0010000000474974513'],
    [2 ** 50, '1125899906842624.0'],
    [2 ** 54, '1.8014398509481984e+16'],
    [1e20, '1.0000000200408773e+20'],
    [0.3788003623485565, '0.3788003623485565'],
  ])('nested_offset %d is written as Python writes it: %s', async (value, text) => {
    expect(await offsetText(value)).toBe(text);
  });

  it('the exact bytes and key order of bitsandbytes, with and without double quant', async () => {
    const x = randomNormal(6 * 7, 1);
    const plain = await new Quantizer({ type: 'fp4', blockSize: 32, doubleQuant: false }).quantize(x, [6, 7]);
    expect(plain.quantState).toBe('{"quant_type": "fp4", "blocksize": 32, "dtype": "float32", "shape": [6, 7]}');
    const nested = await new Quantizer({ type: 'nf4', blockSize: 128, doubleQuant: true }).quantize(x, [6, 7]);
    expect(nested.quantState).toMatch(
      /^\{"quant_type": "nf4", "blocksize": 128, "dtype": "float32", "shape": \[6, 7\], "nested_blocksize": 256, "nested_dtype": "float32", "nested_offset": [0-9.e+-]+\}$/,
    );
    expect(addon.parseQuantState(nested.quantState)).toEqual({
      quantType: 'nf4',
      blockSize: 128,
      dtype: 'float32',
      shape: [6, 7],
      nestedBlockSize: 256,
      nestedDtype: 'float32',
      nestedOffset: nested.offset,
    });
  });

  const VALID = '{"quant_type": "nf4", "blocksize": 64, "dtype": "float32", "shape": [4, 16]}';
  it.each([
    ['not JSON', '{"quant_type": "nf4", "blocksize": 64', /Invalid quant_state: not valid JSON/],
    ['not an object', '[1, 2]', /Invalid quant_state: expected a JSON object but found an array of length 2/],
    ['missing quant_type', '{"blocksize": 64, "dtype": "float32", "shape": [4]}', /missing "quant_type"/],
    ['unknown quant_type', VALID.replace('nf4', 'int4'), /expected "nf4" or "fp4" for "quant_type" but found the string "int4"/],
    ['blocksize a string', VALID.replace('64', '"64"'), /expected an integer for "blocksize" but found the string "64"/],
    ['unsupported blocksize', VALID.replace('64', '48'), /expected a power of two from 32 to 4096 for "blocksize" but found number 48/],
    ['unknown dtype', VALID.replace('float32', 'float64'), /for "dtype" but found the string "float64"/],
    ['negative dimension', VALID.replace('[4, 16]', '[4, -16]'), /expected an array of non-negative integers for "shape"/],
    ['partial double quant', VALID.replace('}', ', "nested_blocksize": 256}'), /"nested_blocksize", "nested_dtype" and "nested_offset" together/],
    ['nested dtype', VALID.replace('}', ', "nested_blocksize": 256, "nested_dtype": "float16", "nested_offset": 0.5}'), /expected "float32" for "nested_dtype"/],
    ['nested offset', VALID.replace('}', ', "nested_blocksize": 256, "nested_dtype": "float32", "nested_offset": "x"}'), /expected a finite number for "nested_offset"/],
  ])('corrupted (%s): ERR_CONFIG with a clear message', async (_, json, message) => {
    await rejects(() => addon.parseQuantState(json), 'ERR_CONFIG', message);
    const q = new Quantizer({ doubleQuant: false });
    const p = await q.quantize(randomNormal(64, 2), [4, 16]);
    await rejects(q.dequantize({ data: p.data, absmax: p.absmax, quantState: json }), 'ERR_CONFIG', message);
  });

  it('a quant_state that disagrees with the packed fields is refused', async () => {
    const q = new Quantizer({ doubleQuant: false });
    const p = await q.quantize(randomNormal(64, 2), [4, 16]);
    await rejects(q.dequantize({ ...p, type: 'fp4' }), 'ERR_INVALID_ARGUMENT', /Expected 'nf4' \(as packed.quantState says\) for packed.type but received the string "fp4"/);
    await rejects(q.dequantize({ ...p, shape: [16, 4] }), 'ERR_INVALID_ARGUMENT', /Expected the shape \[4, 16\] \(as packed.quantState says\) for packed.shape/);
    await rejects(
      q.dequantize({ ...p, quantState: p.quantState.replace('64', '32') }),
      'ERR_INVALID_ARGUMENT',
      /Expected 32 \(as packed.quantState says\) for packed.blockSize but received number 64/,
    );
  });
});

describe('bad input', () => {
  const x = randomNormal(256, 4);

  it.each([16, 48, 100, 8192, 64.5, '64', null])('unsupported block size %s', async (blockSize) => {
    const message = /^Expected one of 32, 64, 128, 256, 512, 1024, 2048, 4096 for options.blockSize but received/;
    await rejects(() => new Quantizer({ blockSize: blockSize as number }), 'ERR_INVALID_ARGUMENT', message);
    await rejects(() => addon.quantize4bit(x, [256], { blockSize: blockSize as never }), 'ERR_INVALID_ARGUMENT', /^Expected one of 32, 64, 128, 256, 512, 1024, 2048, 4096 for options.blockSize but received/);
  });

  it.each([
    [NaN, 'NaN', 17],
    [Infinity, 'inf', 200],
    [-Infinity, '-inf', 0],
  ])('%s weights: the first bad index is named', async (bad, shown, index) => {
    const y = x.slice();
    y[index] = bad;
    y[255] = NaN; // a later one is not the one reported
    const message = new RegExp(`^Expected finite values for weights but received -?${shown === 'NaN' ? 'nan' : shown} at index ${index}$`, 'i');
    await rejects(new Quantizer().quantize(y, [16, 16]), 'ERR_INVALID_ARGUMENT', message);
    await rejects(() => addon.quantize4bit(y, [256], {}), 'ERR_INVALID_ARGUMENT', message);
  });

  it('shape and data size disagreeing', async () => {
    await rejects(new Quantizer().quantize(x, [16, 15]), 'ERR_INVALID_ARGUMENT', /^Expected a Float32Array of length 240 \(shape \[16, 15\]\) for weights but received a Float32Array of length 256$/);
    await rejects(() => addon.quantize4bit(x, [16, 15], {}), 'ERR_INVALID_ARGUMENT', /^Expected a Float32Array of length 240 \(shape \[16, 15\]\) for data but received a Float32Array of length 256$/);
    await rejects(new Quantizer().quantize(x, [0, 4]), 'ERR_INVALID_ARGUMENT', /^Expected a shape with at least one element for shape/);
    await rejects(new Quantizer().quantize(x, [16, -16]), 'ERR_INVALID_ARGUMENT', /^Expected a non-negative integer for shape\[1\] but received number -16$/);
    await rejects(() => addon.quantize4bit(x, [16, 16.5], {}), 'ERR_INVALID_ARGUMENT', /^Expected a non-negative integer for shape\[1\] but received number 16.5$/);
    await rejects(new Quantizer().quantize(Array.from(x) as never, [256]), 'ERR_INVALID_ARGUMENT', /for weights but received an array of length 256$/);
  });

  it('bad options', async () => {
    expect(() => new Quantizer({ type: 'int4' as never })).toThrow(/^Expected one of 'nf4', 'fp4' for options.type but received the string "int4"$/);
    expect(() => new Quantizer({ doubleQuant: 1 as never })).toThrow(/^Expected a boolean for options.doubleQuant but received number 1$/);
    await rejects(() => addon.quantize4bit(x, [256], { type: 'int4' as never }), 'ERR_INVALID_ARGUMENT', /^Expected 'nf4' or 'fp4' for options.type but received the string "int4"$/);
    await rejects(() => addon.quantize4bit(x, [256], { doubleQuant: 'yes' as never }), 'ERR_INVALID_ARGUMENT', /^Expected a boolean for options.doubleQuant but received the string "yes"$/);
    await rejects(new Quantizer().quantize(x, [256], { dtype: 'int8' as never }), 'ERR_INVALID_ARGUMENT', /^Expected one of 'float32', 'bfloat16', 'float16' for options.dtype/);
  });

  describe('packed objects', () => {
    const plainQ = new Quantizer({ doubleQuant: false });
    const nestedQ = new Quantizer({ doubleQuant: true });

    it('missing or wrong absmax, data and nested statistics', async () => {
      const p = await plainQ.quantize(x, [256]);
      const d = await nestedQ.quantize(x, [256]);
      const cases: Array<[Record<string, unknown>, RegExp]> = [
        [{ ...p, absmax: undefined }, /^Expected a Float32Array of length 4 for packed.absmax but received undefined$/],
        [{ ...p, absmax: new Float32Array(3) }, /^Expected a Float32Array of length 4 for packed.absmax but received a Float32Array of length 3$/],
        [{ ...p, data: new Uint8Array(127) }, /^Expected a Uint8Array of length 128 for packed.data but received a Uint8Array of length 127$/],
        [{ ...d, absmax: d.nestedAbsmax }, /^Expected a Uint8Array of length 4 \(8-bit codes\) for packed.absmax but received a Float32Array of length 1$/],
        [{ ...d, nestedAbsmax: new Float32Array(2) }, /^Expected a Float32Array of length 1 for packed.nestedAbsmax but received a Float32Array of length 2$/],
        [{ ...d, quantState: undefined, offset: NaN }, /^Expected a finite number for packed.offset but received number NaN$/],
        [{ ...p, type: 'int4' }, /^Expected one of 'nf4', 'fp4' for packed.type but received the string "int4"$/],
        [{ ...p, blockSize: 48 }, /^Expected one of 32, 64, 128, 256, 512, 1024, 2048, 4096 for packed.blockSize but received number 48$/],
      ];
      for (const [packed, message] of cases) {
        await rejects(plainQ.dequantize(packed as never), 'ERR_INVALID_ARGUMENT', message);
        await expect(plainQ.dequantize(packed as never)).rejects.toBeInstanceOf(LoraNodeError);
      }
    });

    it('the native entry checks them again', async () => {
      const p = await plainQ.quantize(x, [256]);
      const d = await nestedQ.quantize(x, [256]);
      const cases: Array<[Record<string, unknown>, RegExp]> = [
        [{ ...p, absmax: undefined }, /^Expected a Float32Array of length 4 for packed.absmax but received undefined$/],
        [{ ...p, quantState: undefined, type: undefined }, /^Expected 'nf4' or 'fp4' for packed.type but received undefined$/],
        [{ ...d, nestedAbsmax: undefined }, /^Expected a Float32Array of length 1 for packed.nestedAbsmax but received undefined$/],
        [{ ...d, absmax: new Float32Array(4) }, /^Expected a Uint8Array of length 4 for packed.absmax but received a Float32Array of length 4$/],
        [{ ...p, absmax: Float32Array.of(1, 2, NaN, 4) }, /^Expected finite values for absmax but received nan at index 2$/],
        [{ ...d, nestedAbsmax: Float32Array.of(Infinity) }, /^Expected finite values for nested_absmax but received inf at index 0$/],
        [{ ...p, data: new Uint8Array(129) }, /^Expected a Uint8Array of length 128 for packed.data but received a Uint8Array of length 129$/],
        [{ ...d, quantState: p.quantState }, /^Expected undefined \(packed.quantState has no double quantization\) for packed.nestedAbsmax/],
      ];
      for (const [packed, message] of cases) await rejects(() => addon.dequantize4bit(packed as never), 'ERR_INVALID_ARGUMENT', message);
      await rejects(() => addon.dequantize4bit('packed' as never), 'ERR_INVALID_ARGUMENT', /^Expected a packed 4-bit object for packed but received the string "packed"$/);
      await rejects(() => addon.dequantize4bit(p, { dtype: 'float64' } as never), 'ERR_INVALID_ARGUMENT', /^Expected 'float32', 'bfloat16' or 'float16' for options.dtype but received the string "float64"$/);
    });
  });
});
