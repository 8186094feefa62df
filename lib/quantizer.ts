// 4-bit NF4/FP4 quantization, bitsandbytes-compatible (codes, packing, block
// absmax, double quantization, quant_state JSON), on the native addon.
//
//   const q = new Quantizer({ type: 'nf4', blockSize: 64, doubleQuant: true });
//   const packed = await q.quantize(weights, [out, in]);
//   const back = await q.dequantize(packed);            // Float32Array
import { expected, fromNativeError } from './errors.js';
import { loadAddon } from './native/loader.js';
import type { NativePacked4bit, NativePacked4bitInput } from './native/types.js';
import { isPlainObject, oneOf, optionsObject } from './validate.js';

export type QuantType = 'nf4' | 'fp4';
/** The dtype of the weights that were quantized (quant_state "dtype"), and of a dequantized output. */
export type QuantDtype = 'float32' | 'bfloat16' | 'float16';

export const BLOCK_SIZES = [32, 64, 128, 256, 512, 1024, 2048, 4096] as const;
const QUANT_TYPES: readonly QuantType[] = ['nf4', 'fp4'];
const QUANT_DTYPES: readonly QuantDtype[] = ['float32', 'bfloat16', 'float16'];

export interface QuantizerOptions {
  /** Default 'nf4'. */
  type?: QuantType;
  /** Elements per absmax block: 32, 64 (default), 128, ..., 4096. */
  blockSize?: number;
  /** Quantize the block absmax again (8-bit, blocks of 256, minus their mean). Default true. */
  doubleQuant?: boolean;
}

/** How a model's transformer-block linears are held in 4 bits. */
export interface ModelQuantizationOptions extends QuantizerOptions {
  /**
   * Block linears to keep in full precision (bitsandbytes' llm_int8_skip_modules): a module
   * name or a suffix at a dot, e.g. ['lin2'] or ['distilbert.transformer.layer.5.ffn.lin1'].
   */
  skip?: string[];
}

/** ModelQuantizationOptions checked, with every default filled in. */
export function modelQuantization(value: unknown, name: string): Required<ModelQuantizationOptions> {
  const o = optionsObject(value, name);
  const { skip, ...rest } = o;
  const q = new Quantizer(rest as QuantizerOptions);
  if (skip !== undefined && !Array.isArray(skip)) throw expected('an array of module names', `${name}.skip`, skip);
  (skip ?? []).forEach((s: unknown, i: number) => {
    if (typeof s !== 'string' || s.length === 0) throw expected('a non-empty string', `${name}.skip[${i}]`, s);
  });
  return { type: q.type, blockSize: q.blockSize, doubleQuant: q.doubleQuant, skip: [...((skip as string[] | undefined) ?? [])] };
}

/** Weights in 4 bits, as bitsandbytes keeps them (see NativePacked4bit for every field). */
export type Packed4bit = NativePacked4bit;

export type Packed4bitInput = NativePacked4bitInput;

export interface QuantizeOptions {
  /** 'bfloat16' / 'float16': weights given as a Uint16Array of raw bits, or a Float32Array of values of that dtype. */
  dtype?: QuantDtype;
}

export interface DequantizeOptions {
  /** Output dtype; 'bfloat16' / 'float16' give a Uint16Array of raw bits (rounded to nearest even). */
  dtype?: QuantDtype;
}

export class Quantizer {
  readonly type: QuantType;
  readonly blockSize: number;
  readonly doubleQuant: boolean;

  constructor(options: QuantizerOptions = {}) {
    const o = optionsObject(options, 'options');
    this.type = oneOf(o.type, QUANT_TYPES, 'options.type', 'nf4');
    this.blockSize = blockSize(o.blockSize, 'options.blockSize', 64);
    if (o.doubleQuant !== undefined && typeof o.doubleQuant !== 'boolean')
      throw expected('a boolean', 'options.doubleQuant', o.doubleQuant);
    this.doubleQuant = o.doubleQuant ?? true;
  }

  /**
   * Writes a 4-bit copy of a Hugging Face DistilBERT checkpoint as transformers +
   * bitsandbytes save one: the transformer-block linears packed (weight, weight.absmax,
   * weight.quant_map, ..., weight.quant_state.bitsandbytes__nf4), everything else in full
   * precision, and `quantization_config` in config.json. Each linear is quantized as it is
   * read, so the model is never held in fp32 as a whole; `skip` keeps linears in full precision.
   */
  static async quantizeModel(inDir: string, outDir: string, options: ModelQuantizationOptions = {}): Promise<void> {
    const quantization = modelQuantization(options, 'options');
    // Loaded lazily: model.js imports this module.
    const { Model } = await import('./model.js');
    const model = await Model.load(inDir, { device: 'cpu', precision: 'fp32', quantization });
    try {
      await model.saveMerged(outDir);
    } finally {
      model.dispose();
    }
  }

  /** Quantizes `weights` (row-major, of `shape`) in blocks of blockSize. NaN or infinite weights are refused. */
  async quantize(weights: Float32Array | Uint16Array, shape: number[], options: QuantizeOptions = {}): Promise<Packed4bit> {
    const o = optionsObject(options, 'options');
    const dtype = oneOf(o.dtype, QUANT_DTYPES, 'options.dtype', 'float32');
    const n = shapeSize(shape, 'shape');
    if (n < 1) throw expected('a shape with at least one element', 'shape', shape);
    const wide = dtype === 'float32' ? 'a Float32Array' : 'a Float32Array or Uint16Array';
    if (!(weights instanceof Float32Array || (dtype !== 'float32' && weights instanceof Uint16Array)) || weights.length !== n)
      throw expected(`${wide} of length ${n} (shape [${shape.join(', ')}])`, 'weights', weights);
    try {
      return (await loadAddon().quantize4bit(weights, shape, {
        type: this.type,
        blockSize: this.blockSize,
        doubleQuant: this.doubleQuant,
        dtype,
      })) as Packed4bit;
    } catch (error) {
      throw fromNativeError(error);
    }
  }

  /** code[q] * absmax per element (the packed object's own type, block size and statistics). */
  dequantize(packed: Packed4bitInput): Promise<Float32Array>;
  dequantize(packed: Packed4bitInput, options: { dtype: 'float32' }): Promise<Float32Array>;
  dequantize(packed: Packed4bitInput, options: { dtype: 'bfloat16' | 'float16' }): Promise<Uint16Array>;
  dequantize(packed: Packed4bitInput, options?: DequantizeOptions): Promise<Float32Array | Uint16Array>;
  async dequantize(packed: Packed4bitInput, options: DequantizeOptions = {}): Promise<Float32Array | Uint16Array> {
    const o = optionsObject(options, 'options');
    const dtype = oneOf(o.dtype, QUANT_DTYPES, 'options.dtype', 'float32');
    checkPacked(packed);
    try {
      return await loadAddon().dequantize4bit(packed, { dtype });
    } catch (error) {
      throw fromNativeError(error);
    }
  }
}

function blockSize(value: unknown, name: string, fallback?: number): number {
  if (value === undefined && fallback !== undefined) return fallback;
  if (typeof value !== 'number' || !(BLOCK_SIZES as readonly number[]).includes(value))
    throw expected(`one of ${BLOCK_SIZES.join(', ')}`, name, value);
  return value;
}

function shapeSize(shape: unknown, name: string): number {
  if (!Array.isArray(shape)) throw expected('an array of non-negative integers', name, shape);
  let n = 1;
  shape.forEach((d, i) => {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) throw expected('a non-negative integer', `${name}[${i}]`, d);
    n *= d;
  });
  return n;
}

/**
 * The sizes of a packed object, checked before it crosses to native code (which
 * checks them again, and the quant_state JSON when present).
 */
function checkPacked(packed: unknown): void {
  if (!isPlainObject(packed)) throw expected('a packed 4-bit object', 'packed', packed);
  const p = packed as Record<string, unknown>;
  if (p.quantState !== undefined && typeof p.quantState !== 'string')
    throw expected('a quant_state JSON string', 'packed.quantState', p.quantState);
  const fromState = typeof p.quantState === 'string';
  if (p.type !== undefined || !fromState) oneOf(p.type, QUANT_TYPES, 'packed.type');
  if (p.dtype !== undefined) oneOf(p.dtype, QUANT_DTYPES, 'packed.dtype');
  if (p.blockSize !== undefined || !fromState) blockSize(p.blockSize, 'packed.blockSize');
  if (p.shape === undefined && fromState) return; // the sizes come from quantState: native code checks them
  const n = shapeSize(p.shape, 'packed.shape');
  if (n < 1) throw expected('a shape with at least one element', 'packed.shape', p.shape);
  const bytes = Math.ceil(n / 2);
  if (!(p.data instanceof Uint8Array) || p.data.length !== bytes)
    throw expected(`a Uint8Array of length ${bytes}`, 'packed.data', p.data);
  if (p.blockSize === undefined) return;
  const blocks = Math.ceil(n / (p.blockSize as number));
  if (p.nestedAbsmax === undefined && !fromState) {
    if (!(p.absmax instanceof Float32Array) || p.absmax.length !== blocks)
      throw expected(`a Float32Array of length ${blocks}`, 'packed.absmax', p.absmax);
  } else if (p.nestedAbsmax !== undefined) {
    if (!(p.absmax instanceof Uint8Array) || p.absmax.length !== blocks)
      throw expected(`a Uint8Array of length ${blocks} (8-bit codes)`, 'packed.absmax', p.absmax);
    const nestedBlockSize = blockSize(p.nestedBlockSize, 'packed.nestedBlockSize', 256);
    const nested = Math.ceil(blocks / nestedBlockSize);
    if (!(p.nestedAbsmax instanceof Float32Array) || p.nestedAbsmax.length !== nested)
      throw expected(`a Float32Array of length ${nested}`, 'packed.nestedAbsmax', p.nestedAbsmax);
    if (!fromState && (typeof p.offset !== 'number' || !Number.isFinite(p.offset)))
      throw expected('a finite number', 'packed.offset', p.offset);
  }
}
