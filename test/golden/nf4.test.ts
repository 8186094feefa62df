// 4-bit quantization against the fixtures (GOLDEN.md "NF4", golden.json → nf4)
// and, for FP4 (no goldens exist), against an independent reference written
// here in plain JS from bitsandbytes' own code:
//   bitsandbytes/functional.py get_4bit_type('fp4'): [0, 0.0625, 8, 12, 4, 6, 2, 3,
//     -0, -0.0625, -8, -12, -4, -6, -2, -3] divided by 12 in float32 (the Python int
//     -0 is +0);
//   csrc/kernels.cu dQuantizeFP4: sign bit from x < 0, then |x| walks a binary tree
//     of pivots 0.29166667f, 0.583333f, 0.8333333f, 0.4166667f, 0.0859375f,
//     0.20833333f, 0.00260417f with strict '>';
//   csrc/kernels.cu dDequantizeFP4Tree: the same sixteen float32 levels.
// NF4 and the 8-bit dynamic map are checked against the goldens bit for bit
// (the fixtures' own tolerance for NF4 data: exact); the JS reference below
// follows GOLDEN.md for them, and is checked against the goldens too.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { Quantizer } from '../../lib/index.js';
import { addon } from '../helpers/addon.js';
import { FIXTURES, GOLDEN_SETS, golden, maxAbsDiff } from '../helpers/golden.js';
import { readSafetensors } from '../helpers/safetensors.js';

const DEQUANT_ABS = 1e-6;
const f32 = Math.fround;

// --- the independent reference (float32 arithmetic through Math.fround) ---

const FP4_LEVELS = Float32Array.from([0, 0.0625, 8, 12, 4, 6, 2, 3, 0, -0.0625, -8, -12, -4, -6, -2, -3], (v) => f32(v / 12));

function fp4Code(x: number): number {
  const sign = x < 0 ? 8 : 0;
  const a = Math.abs(x);
  const p = (v: number) => a > f32(v);
  if (p(0.29166667)) {
    if (p(0.583333)) return (p(0.8333333) ? 0b0011 : 0b0010) + sign;
    return (p(0.4166667) ? 0b0101 : 0b0100) + sign;
  }
  if (p(0.0859375)) return (p(0.20833333) ? 0b0111 : 0b0110) + sign;
  return (p(0.00260417) ? 0b0001 : 0b0000) + sign;
}

/** torch.bucketize(x, midpoints): the count of float32 midpoints strictly below x. */
function bucketize(levels: Float32Array): (x: number) => number {
  const mids = Array.from({ length: levels.length - 1 }, (_, i) => f32(f32(levels[i]! + levels[i + 1]!) / 2));
  return (x) => mids.filter((m) => x > m).length;
}

const MIN_SCALE = f32(1e-38);

/** GOLDEN.md: full blocks x * (1/max(absmax,1e-38)), the tail x / max(absmax,1e-38) (stored clamped), clamp to [-1,1]. */
function blockwise(x: Float32Array, blockSize: number, code: (s: number) => number): { codes: number[]; absmax: Float32Array } {
  const n = x.length;
  const blocks = Math.ceil(n / blockSize);
  const absmax = new Float32Array(blocks);
  const codes: number[] = [];
  const clamp = (v: number) => Math.min(1, Math.max(-1, v));
  for (let b = 0; b < blocks; b++) {
    const part = x.subarray(b * blockSize, Math.min(n, (b + 1) * blockSize));
    const m = part.reduce((acc, v) => Math.max(acc, Math.abs(v)), 0);
    if (part.length === blockSize) {
      absmax[b] = m;
      const r = f32(1 / Math.max(m, MIN_SCALE));
      for (const v of part) codes.push(code(clamp(f32(v * r))));
    } else {
      absmax[b] = Math.max(m, MIN_SCALE);
      for (const v of part) codes.push(code(clamp(f32(v / Math.max(m, MIN_SCALE)))));
    }
  }
  return { codes, absmax };
}

function reference4bit(x: Float32Array, blockSize: number, type: 'nf4' | 'fp4', nf4Levels: Float32Array) {
  const code = type === 'fp4' ? fp4Code : bucketize(nf4Levels);
  const { codes, absmax } = blockwise(x, blockSize, code);
  if (codes.length % 2) codes.push(code(0)); // odd count: a 0.0 pad
  const data = new Uint8Array(codes.length / 2);
  for (let i = 0; i < data.length; i++) data[i] = (codes[2 * i]! << 4) | codes[2 * i + 1]!;
  const levels = type === 'fp4' ? FP4_LEVELS : nf4Levels;
  const dequant = Float32Array.from(x, (_, i) => f32(levels[codes[i]!]! * absmax[Math.floor(i / blockSize)]!));
  return { data, absmax, dequant };
}

function bf16BitsToFloat(bits: Uint16Array): Float32Array {
  const u = new Uint32Array(bits.length);
  bits.forEach((b, i) => (u[i] = b << 16));
  return new Float32Array(u.buffer);
}

function bytesOf(t: { data: unknown }): Uint8Array {
  return t.data as Uint8Array;
}

function randomNormal(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0;
  const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 4294967296;
  return Float32Array.from({ length: n }, () => scale * Math.sqrt(-2 * Math.log(next())) * Math.cos(2 * Math.PI * next()));
}

const BLOCK_SIZES = [32, 64, 128, 256, 512, 1024, 2048, 4096];
const decoder = new TextDecoder();

describe.each(GOLDEN_SETS)('NF4 golden set %s', (set) => {
  const g = golden(set);
  const maps = addon.quantMaps();
  const u8 = (name: string) => bytesOf(g.tensors.get(name)!);
  const u16 = (name: string) => g.tensors.get(name)!.data as Uint16Array;
  const text = (name: string) => decoder.decode(u8(name));

  it('nf4.quant_map and nf4.nested_quant_map are our tables, bit for bit', () => {
    expect(maps.nf4).toEqual(g.float32('nf4.quant_map'));
    expect(maps.dynamic).toEqual(g.float32('nf4.nested_quant_map'));
  });

  it('edge block 0 holds the float32 midpoints of the NF4 levels (the ties)', () => {
    const mids = Array.from({ length: 15 }, (_, i) => f32(f32(maps.nf4[i]! + maps.nf4[i + 1]!) / 2));
    expect(Array.from(g.float32('nf4.edge.W').subarray(1, 16))).toEqual(mids);
  });

  describe.each(['q_lin0', 'edge', 'bf16'])('case %s', (c) => {
    const info = g.json.nf4.cases[c];
    const shape = g.shape(`nf4.${c}.W`);
    const bf16 = c === 'bf16';
    const weights = bf16 ? u16(`nf4.${c}.W`) : g.float32(`nf4.${c}.W`);
    const dtype = bf16 ? 'bfloat16' : 'float32';
    const outDtype = { dtype } as const;
    const plain = new Quantizer({ type: 'nf4', blockSize: 64, doubleQuant: false });
    const nested = new Quantizer({ type: 'nf4', blockSize: 64, doubleQuant: true });

    it('packed bytes, absmax (bitwise), dequant and quant_state bytes', async () => {
      expect(info.blocksize).toBe(64);
      const p = await plain.quantize(weights, shape, { dtype });
      expect(p.data).toEqual(u8(`nf4.${c}.packed`));
      expect(g.shape(`nf4.${c}.packed`)).toEqual([p.data.length, 1]);
      expect(p.absmax).toEqual(g.float32(`nf4.${c}.absmax`));
      expect(p.quantState).toBe(text(`nf4.${c}.quant_state`));
      expect(p.quantState).toBe(info.quant_state_json);
      if (bf16) {
        const out = await plain.dequantize(p, { dtype: 'bfloat16' });
        expect(out).toEqual(u16(`nf4.${c}.dequant`));
        expect(maxAbsDiff(bf16BitsToFloat(out), bf16BitsToFloat(u16(`nf4.${c}.dequant`)))).toBe(0);
      } else {
        const out = await plain.dequantize(p);
        const diff = maxAbsDiff(out, g.float32(`nf4.${c}.dequant`));
        expect(diff).toBeLessThanOrEqual(DEQUANT_ABS);
        expect(out).toEqual(g.float32(`nf4.${c}.dequant`)); // and in fact exact
      }
    });

    it('double quant: absmax codes, nested_absmax, offset, absmax_dequant, dequant, quant_state', async () => {
      const p = await nested.quantize(weights, shape, { dtype });
      expect(p.data).toEqual(u8(`nf4.${c}.packed`)); // the 4-bit codes use the exact absmax
      expect(p.absmax).toBeInstanceOf(Uint8Array);
      expect(p.absmax).toEqual(u8(`nf4.${c}.dq.absmax`));
      expect(p.nestedAbsmax).toEqual(g.float32(`nf4.${c}.dq.nested_absmax`));
      expect(p.offset).toBe(g.float32(`nf4.${c}.dq.offset`)[0]);
      expect(p.offset).toBe(info.offset);
      expect(p.nestedBlockSize).toBe(256);
      expect(p.quantState).toBe(text(`nf4.${c}.dq.quant_state`));
      expect(p.quantState).toBe(info.dq_quant_state_json);

      // absmax_dequant: decode every element as the code of 1.0 (NF4 15), so each block yields its absmax.
      const ones = await nested.dequantize({ ...p, data: new Uint8Array(p.data.length).fill(0xff) });
      const absmax = Float32Array.from({ length: info.n_blocks }, (_, b) => ones[b * 64]!);
      expect(maxAbsDiff(absmax, g.float32(`nf4.${c}.dq.absmax_dequant`))).toBeLessThanOrEqual(DEQUANT_ABS);
      expect(absmax).toEqual(g.float32(`nf4.${c}.dq.absmax_dequant`));

      if (bf16) {
        expect(await nested.dequantize(p, outDtype as { dtype: 'bfloat16' })).toEqual(u16(`nf4.${c}.dq.dequant`));
      } else {
        const out = await nested.dequantize(p);
        expect(maxAbsDiff(out, g.float32(`nf4.${c}.dq.dequant`))).toBeLessThanOrEqual(DEQUANT_ABS);
        expect(out).toEqual(g.float32(`nf4.${c}.dq.dequant`));
      }
    });

    it('dequantizes from the stored state alone (packed bytes, absmax, quant_state)', async () => {
      const fromState = await nested.dequantize(
        {
          data: u8(`nf4.${c}.packed`),
          absmax: u8(`nf4.${c}.dq.absmax`),
          nestedAbsmax: g.float32(`nf4.${c}.dq.nested_absmax`),
          quantState: text(`nf4.${c}.dq.quant_state`),
        },
        outDtype,
      );
      expect(fromState).toEqual(bf16 ? u16(`nf4.${c}.dq.dequant`) : g.float32(`nf4.${c}.dq.dequant`));
    });

    it('the JS reference agrees with the goldens (so it can judge FP4 below)', () => {
      const x = bf16 ? bf16BitsToFloat(weights as Uint16Array) : (weights as Float32Array);
      const r = reference4bit(x, 64, 'nf4', maps.nf4);
      expect(r.data).toEqual(u8(`nf4.${c}.packed`));
      expect(r.absmax).toEqual(g.float32(`nf4.${c}.absmax`));
      if (!bf16) expect(r.dequant).toEqual(g.float32(`nf4.${c}.dequant`));
    });
  });

  it('model_nf4.safetensors: every quantized Linear, from the checkpoint weights, as bitsandbytes saved it', async () => {
    const model = readSafetensors(join(FIXTURES, set, 'model_nf4.safetensors'));
    const checkpoint = readSafetensors(join(g.checkpoint, 'model.safetensors'));
    const quantizer = new Quantizer({ type: 'nf4', blockSize: 64, doubleQuant: true });
    const modules = g.json.qlora.quantized_modules as string[];
    expect(modules.length).toBeGreaterThan(0);
    for (const m of modules) {
      const w = checkpoint.get(`${m}.weight`)!;
      const dtype = w.dtype === 'F16' ? 'float16' : 'float32';
      const p = await quantizer.quantize(w.data as Float32Array | Uint16Array, w.shape, { dtype });
      const key = (suffix: string) => model.get(`${m}.weight${suffix}`)!;
      expect(p.data, m).toEqual(key('').data);
      expect(key('').shape).toEqual([p.data.length, 1]);
      expect(p.absmax, m).toEqual(key('.absmax').data);
      expect(p.nestedAbsmax, m).toEqual(key('.nested_absmax').data);
      expect(p.quantState, m).toBe(decoder.decode(key('.quant_state.bitsandbytes__nf4').data as Uint8Array));
      expect(key('.quant_map').data).toEqual(maps.nf4);
      expect(key('.nested_quant_map').data).toEqual(maps.dynamic);
      const fromFile = await quantizer.dequantize({
        data: key('').data as Uint8Array,
        absmax: key('.absmax').data as Uint8Array,
        nestedAbsmax: key('.nested_absmax').data as Float32Array,
        quantState: p.quantState,
      });
      expect(fromFile).toEqual(await quantizer.dequantize(p));
    }
  });
});

describe('FP4 against the JS reference from bitsandbytes (no goldens exist)', () => {
  const maps = addon.quantMaps();

  it('the FP4 levels are get_4bit_type("fp4") in float32', () => {
    expect(maps.fp4).toEqual(FP4_LEVELS);
    expect(Object.is(maps.fp4[8], 0)).toBe(true); // the Python int -0 is +0
  });

  it.each(BLOCK_SIZES)('random weights, block size %i: packed, absmax and dequant equal the reference (FP4, and NF4 too)', async (blockSize) => {
    const n = 3 * blockSize + 17; // full blocks, a tail, an odd count
    const x = randomNormal(n, blockSize, 0.05);
    for (const type of ['fp4', 'nf4'] as const) {
      const q = new Quantizer({ type, blockSize, doubleQuant: false });
      const p = await q.quantize(x, [n]);
      const r = reference4bit(x, blockSize, type, maps.nf4);
      expect(p.data).toEqual(r.data);
      expect(p.absmax).toEqual(r.absmax);
      expect(JSON.parse(p.quantState)).toEqual({ quant_type: type, blocksize: blockSize, dtype: 'float32', shape: [n] });
      const out = await q.dequantize(p);
      expect(maxAbsDiff(out, r.dequant)).toBeLessThanOrEqual(DEQUANT_ABS);
      expect(out).toEqual(r.dequant);
    }
  });

  it('every level, every pivot (ties go to the smaller magnitude), its neighbours, and signed zeros', async () => {
    const pivots = [0.00260417, 0.0859375, 0.20833333, 0.29166667, 0.4166667, 0.583333, 0.8333333].map(f32);
    const up = (v: number) => {
      const b = new Float32Array([v]);
      const u = new Uint32Array(b.buffer);
      u[0]! += v >= 0 ? 1 : -1;
      return b[0]!;
    };
    const values = [...maps.fp4, ...pivots, ...pivots.map(up), ...pivots.map((p) => -p), ...pivots.map((p) => -up(p)), -0, 0, -1e-9];
    // Blocks of 32 that each start with 1.0, so every block has absmax 1 and scales by exactly 1.
    const blocks: number[] = [];
    for (let i = 0; i < values.length; i += 31) blocks.push(1, ...values.slice(i, i + 31));
    while (blocks.length % 32) blocks.push(0.5);
    const x = Float32Array.from(blocks);
    const q = new Quantizer({ type: 'fp4', blockSize: 32, doubleQuant: false });
    const p = await q.quantize(x, [x.length]);
    expect(p.data).toEqual(reference4bit(x, 32, 'fp4', maps.nf4).data);
    const codes = Array.from(p.data).flatMap((byte) => [byte >> 4, byte & 15]);
    expect(codes.slice(1, 17)).toEqual(Array.from({ length: 16 }, (_, i) => (i === 8 ? 0 : i))); // level 8 is +0: code 0
    expect(codes.slice(17, 24)).toEqual([0, 1, 6, 7, 4, 5, 2]); // a pivot itself stays below
    expect(codes.slice(24, 31)).toEqual([1, 6, 7, 4, 5, 2, 3]); // one ulp above goes up
  });

  it.each([false, true])('round trip with doubleQuant %s stays within the largest half gap of each block', async (doubleQuant) => {
    const x = randomNormal(10_000, 7, 0.02);
    const q = new Quantizer({ type: 'fp4', blockSize: 64, doubleQuant });
    const p = await q.quantize(x, [100, 100]);
    const out = await q.dequantize(p);
    // absmax as stored (decoded), from an all-"1.0" code (FP4 code 3) copy
    const ones = await q.dequantize({ ...p, data: new Uint8Array(p.data.length).fill(0x33) });
    for (let i = 0; i < x.length; i++) {
      const a = ones[i - (i % 64)]!;
      const exact = Math.max(...Array.from(x.subarray(i - (i % 64), i - (i % 64) + 64), Math.abs));
      expect(Math.abs(out[i]! - x[i]!)).toBeLessThanOrEqual((1 / 6) * exact + Math.abs(a - exact) + 1e-6 * exact);
    }
  });

  it('double quant of FP4: the 8-bit absmax codes follow the dynamic map midpoints', async () => {
    const x = randomNormal(64 * 600, 11, 0.1); // 600 blocks: two full nested blocks of 256 and a tail
    const q = new Quantizer({ type: 'fp4', blockSize: 64, doubleQuant: true });
    const p = await q.quantize(x, [600, 64]);
    const plain = await new Quantizer({ type: 'fp4', blockSize: 64, doubleQuant: false }).quantize(x, [600, 64]);
    expect(p.data).toEqual(plain.data);
    const centered = Float32Array.from(plain.absmax as Float32Array, (a) => f32(a - p.offset!));
    const r = blockwise(centered, 256, bucketize(maps.dynamic));
    expect(Array.from(p.absmax)).toEqual(r.codes);
    expect(p.nestedAbsmax).toEqual(r.absmax);
  });
});
