// readSafetensors / writeSafetensors (native/core/safetensors.cpp through
// native/addon/safetensors_binding.cpp): the golden checkpoint, round trips of
// every dtype, header validation on malformed files, and atomic writes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { addon } from '../helpers/addon.js';

const GOLDEN = fileURLToPath(new URL('../fixtures/tiny/checkpoint/model.safetensors', import.meta.url));

let dir = '';
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lora-node-safetensors-'));
});
afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

let counter = 0;
function tmpPath(name = 'model.safetensors'): string {
  const sub = path.join(dir, `case-${++counter}`);
  fs.mkdirSync(sub);
  return path.join(sub, name);
}

/** Writes a safetensors-shaped file: u64 LE header length, header (object → JSON, or raw text), data. */
function malformed(header: object | string, data: Uint8Array | number = 0, headerLength?: bigint): string {
  const text = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header), 'utf8');
  const bytes = typeof data === 'number' ? new Uint8Array(data) : data;
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(headerLength ?? BigInt(text.length));
  const file = tmpPath();
  fs.writeFileSync(file, Buffer.concat([length, text, bytes]));
  return file;
}

/** Parses a safetensors file in plain JS: an independent check of what the addon reads and writes. */
function parseInJs(file: string): { headerLength: number; header: Record<string, any>; data: Buffer } {
  const bytes = fs.readFileSync(file);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8'));
  return { headerLength, header, data: bytes.subarray(8 + headerLength) };
}

function bytesOf(view: ArrayBufferView): Buffer {
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength);
}

/** Runs a function expected to throw synchronously and returns the error. */
function thrown(fn: () => unknown): Error & { code?: string } {
  try {
    fn();
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected a synchronous throw');
}

async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error('expected the promise to reject');
}

describe('readSafetensors on the golden checkpoint', () => {
  it('reads every tensor with its name, dtype, shape and bytes', async () => {
    const { metadata, tensors } = await addon.readSafetensors(GOLDEN);
    const reference = parseInJs(GOLDEN);
    const names = Object.keys(reference.header).filter((k) => k !== '__metadata__').sort();

    expect(metadata).toEqual({ format: 'pt' });
    expect(Object.keys(tensors).sort()).toEqual(names);
    expect(names).toHaveLength(40);
    expect(tensors['distilbert.embeddings.word_embeddings.weight'].shape).toEqual([100, 32]);
    expect(tensors['distilbert.embeddings.position_embeddings.weight'].shape).toEqual([512, 32]);
    expect(tensors['classifier.weight'].shape).toEqual([3, 32]);
    expect(tensors['classifier.bias'].shape).toEqual([3]);

    for (const name of names) {
      const info = reference.header[name];
      const tensor = tensors[name];
      expect(tensor.dtype).toBe(info.dtype);
      expect(tensor.shape).toEqual(info.shape);
      expect(tensor.data).toBeInstanceOf(Float32Array);
      const [begin, end] = info.data_offsets;
      expect(bytesOf(tensor.data).equals(reference.data.subarray(begin, end))).toBe(true);
    }
  });

  it('rejects a missing file and a directory with ERR_IO', async () => {
    const missing = path.join(dir, 'does-not-exist.safetensors');
    const e1 = await rejection(addon.readSafetensors(missing));
    expect(e1.code).toBe('ERR_IO');
    expect(e1.message).toContain(missing);
    expect(e1.message).toContain('No such file');

    const e2 = await rejection(addon.readSafetensors(dir));
    expect(e2.code).toBe('ERR_IO');
    expect(e2.message).toContain('not a regular file');
  });

  it('validates its argument', () => {
    for (const bad of [undefined, '', 42, null, {}]) {
      const e = thrown(() => addon.readSafetensors(bad));
      expect(e.code).toBe('ERR_INVALID_ARGUMENT');
      expect(e.message).toMatch(/^Expected a non-empty path string for path but received /);
    }
  });
});

describe('writeSafetensors then readSafetensors', () => {
  const f16Bits = new Uint16Array([0x3c00, 0xc000, 0x7bff, 0x0001, 0x8000, 0x7e00]); // 1, -2, max, subnormal, -0, NaN
  const bf16Bits = new Uint16Array([0x3f80, 0xc000, 0x7f7f, 0x0001, 0x8000, 0x7fc0]);
  const cases: Record<string, { dtype: string; shape: number[]; data: ArrayBufferView }> = {
    'a.f32': { dtype: 'F32', shape: [2, 3], data: new Float32Array([1.5, -2, 3.25, 0, -0, 3.4e38]) },
    'b.f16': { dtype: 'F16', shape: [3, 2], data: f16Bits },
    'c.bf16': { dtype: 'BF16', shape: [6], data: bf16Bits },
    'd.i64': { dtype: 'I64', shape: [3], data: new BigInt64Array([0n, -(2n ** 63n), 2n ** 63n - 1n]) },
    'e.i32': { dtype: 'I32', shape: [2, 2], data: new Int32Array([1, -1, 2147483647, -2147483648]) },
    'f.u8': { dtype: 'U8', shape: [4], data: new Uint8Array([0, 1, 128, 255]) },
    'g.bool': { dtype: 'BOOL', shape: [3], data: new Uint8Array([1, 0, 1]) },
    'h.i8': { dtype: 'I8', shape: [2], data: new Int8Array([-128, 127]) },
    'i.i16': { dtype: 'I16', shape: [2], data: new Int16Array([-32768, 32767]) },
    'j.f64': { dtype: 'F64', shape: [2], data: new Float64Array([Math.PI, -1e300]) },
    'k.scalar': { dtype: 'F32', shape: [], data: new Float32Array([7]) },
    'l.empty': { dtype: 'F32', shape: [0, 3], data: new Float32Array(0) },
  };
  const expectedArray: Record<string, Function> = {
    F32: Float32Array, F16: Uint16Array, BF16: Uint16Array, I64: BigInt64Array, I32: Int32Array,
    U8: Uint8Array, BOOL: Uint8Array, I8: Int8Array, I16: Int16Array, F64: Float64Array,
  };

  it('round-trips every dtype, scalars, empty tensors and metadata', async () => {
    const file = tmpPath();
    const metadata = { format: 'pt', note: 'héllo "quoted" \n newline' };
    await expect(addon.writeSafetensors(file, cases, metadata)).resolves.toBeUndefined();

    const read = await addon.readSafetensors(file);
    expect(read.metadata).toEqual(metadata);
    expect(Object.keys(read.tensors).sort()).toEqual(Object.keys(cases).sort());
    for (const [name, want] of Object.entries(cases)) {
      const got = read.tensors[name];
      expect(got.dtype).toBe(want.dtype);
      expect(got.shape).toEqual(want.shape);
      expect(got.data).toBeInstanceOf(expectedArray[want.dtype]);
      expect(bytesOf(got.data).equals(bytesOf(want.data))).toBe(true);
    }
    // Only the final file is left in the folder: the temp file was renamed.
    expect(fs.readdirSync(path.dirname(file))).toEqual([path.basename(file)]);
  });

  it('writes the layout of the Rust library: padded header, name order, contiguous data', async () => {
    const file = tmpPath();
    await addon.writeSafetensors(file, cases, { format: 'pt' });
    const { headerLength, header, data } = parseInJs(file);

    expect((8 + headerLength) % 8).toBe(0);
    expect(header.__metadata__).toEqual({ format: 'pt' });
    const names = Object.keys(cases).sort();
    let offset = 0;
    for (const name of names) {
      const want = cases[name]!;
      expect(header[name]).toEqual({ dtype: want.dtype, shape: want.shape, data_offsets: [offset, offset + want.data.byteLength] });
      expect(data.subarray(offset, offset + want.data.byteLength).equals(bytesOf(want.data))).toBe(true);
      offset += want.data.byteLength;
    }
    expect(data.length).toBe(offset);
  });

  it('omits __metadata__ when there is none, and keeps odd names as plain keys', async () => {
    const file = tmpPath();
    const tensors = {
      ['__proto__']: { dtype: 'U8', shape: [1], data: new Uint8Array([9]) },
      'name with "quotes" and ünïcode': { dtype: 'U8', shape: [1], data: new Uint8Array([8]) },
    };
    expect(Object.keys(tensors)).toContain('__proto__');
    await addon.writeSafetensors(file, tensors);
    expect(parseInJs(file).header.__metadata__).toBeUndefined();

    const read = await addon.readSafetensors(file);
    expect(read.metadata).toEqual({});
    expect(Object.keys(read.tensors).sort()).toEqual(Object.keys(tensors).sort());
    expect(Object.getPrototypeOf(read.tensors)).toBe(Object.prototype);
    expect(Array.from(read.tensors['__proto__'].data)).toEqual([9]);
  });

  it('accepts raw little-endian bytes in a Uint8Array for any dtype, and typed array views', async () => {
    const file = tmpPath();
    const values = new Float32Array([1, 2, 3, 4, 5]);
    const view = new Float32Array(values.buffer, 4, 3); // [2, 3, 4], at a byte offset
    await addon.writeSafetensors(file, {
      raw: { dtype: 'F32', shape: [2], data: new Uint8Array(values.buffer, 0, 8) },
      view: { dtype: 'F32', shape: [3], data: view },
    });
    const read = await addon.readSafetensors(file);
    expect(Array.from(read.tensors.raw.data)).toEqual([1, 2]);
    expect(Array.from(read.tensors.view.data)).toEqual([2, 3, 4]);
  });

  it('writes a file with no tensors', async () => {
    const file = tmpPath();
    await addon.writeSafetensors(file, {});
    expect(await addon.readSafetensors(file)).toEqual({ metadata: {}, tensors: {} });
  });

  it('replaces an existing file', async () => {
    const file = tmpPath();
    await addon.writeSafetensors(file, { a: { dtype: 'U8', shape: [1], data: new Uint8Array([1]) } });
    await addon.writeSafetensors(file, { b: { dtype: 'U8', shape: [1], data: new Uint8Array([2]) } });
    expect(Object.keys((await addon.readSafetensors(file)).tensors)).toEqual(['b']);
  });
});

describe('readSafetensors rejects malformed files', () => {
  const f32x6 = { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] };

  async function expectHeaderError(file: string, ...fragments: string[]): Promise<void> {
    const e = await rejection(addon.readSafetensors(file));
    expect(e.code).toBe('ERR_SAFETENSORS_HEADER');
    expect(e.message).toContain(file);
    for (const fragment of fragments) expect(e.message).toContain(fragment);
  }

  it('a file shorter than the 8-byte header length', async () => {
    const file = tmpPath();
    fs.writeFileSync(file, Buffer.from([1, 2, 3, 4, 5]));
    await expectHeaderError(file, 'file is 5 bytes, shorter than the 8-byte header length');
    const empty = tmpPath();
    fs.writeFileSync(empty, Buffer.alloc(0));
    await expectHeaderError(empty, 'file is 0 bytes');
  });

  it('a data section cut short', async () => {
    const file = malformed({ 'x.weight': f32x6 }, 10);
    await expectHeaderError(file, 'tensor "x.weight"', 'data_offsets [0, 24] run past the end of the data section (10 bytes)');
  });

  it('a header length past the end of the file', async () => {
    const file = malformed({ 'x.weight': f32x6 }, 24, 5000n);
    await expectHeaderError(file, 'header length 5000 runs past the end of the file');
    const huge = malformed('{}', 0, 2n ** 64n - 1n);
    await expectHeaderError(huge, 'header length 18446744073709551615 runs past the end of the file (10 bytes)');
  });

  it('a header length above the 100 MB maximum', async () => {
    const file = malformed('{}', 0, 150_000_000n);
    fs.truncateSync(file, 200_000_000); // sparse: costs no disk
    await expectHeaderError(file, 'header length 150000000 exceeds the maximum of 100000000 bytes');
  });

  it('a header that is not JSON', async () => {
    await expectHeaderError(malformed('{"x.weight": {"dtype": "F32",'), 'header is not valid JSON');
    await expectHeaderError(malformed('\u0000\u0000\u0000\u0000'), 'header is not valid JSON');
  });

  it('a header that is JSON but not an object', async () => {
    await expectHeaderError(malformed('[1, 2, 3]'), 'header must be a JSON object but is [1,2,3]');
    await expectHeaderError(malformed('"text"'), 'header must be a JSON object');
  });

  it('an entry that is not an object, or lacks fields', async () => {
    await expectHeaderError(malformed({ x: 3 }), 'tensor "x": entry must be an object but is 3');
    await expectHeaderError(malformed({ x: { shape: [1], data_offsets: [0, 4] } }, 4), 'tensor "x": "dtype" must be a string');
    await expectHeaderError(malformed({ x: { dtype: 'F32', data_offsets: [0, 4] } }, 4), 'tensor "x": "shape" must be an array');
    await expectHeaderError(malformed({ x: { dtype: 'F32', shape: [1] } }, 4), 'tensor "x": "data_offsets" must be [begin, end]');
    await expectHeaderError(
      malformed({ x: { dtype: 'F32', shape: [1], data_offsets: [0] } }, 4),
      '"data_offsets" must be [begin, end] with non-negative integers but is [0]',
    );
  });

  it('an unknown dtype', async () => {
    await expectHeaderError(malformed({ 'x.weight': { ...f32x6, dtype: 'Q4' } }, 24), 'tensor "x.weight": unknown dtype "Q4"');
  });

  it('a shape whose size does not match the byte range', async () => {
    const file = malformed({ 'x.weight': { ...f32x6, data_offsets: [0, 12] } }, 24);
    await expectHeaderError(file, `${file}: tensor "x.weight": data_offsets [0, 12] hold 12 bytes but dtype F32 with shape [2, 3] needs 24`);
  });

  it('a shape whose size overflows 64 bits', async () => {
    const file = malformed(`{"x":{"dtype":"F32","shape":[4611686018427387904,4611686018427387904],"data_offsets":[0,4]}}`, 4);
    await expectHeaderError(file, 'needs more than 2^64');
  });

  it('offsets past the end of the data (lying offsets)', async () => {
    const file = malformed({ 'x.weight': { ...f32x6, data_offsets: [100, 124] } }, 24);
    await expectHeaderError(file, 'tensor "x.weight": data_offsets [100, 124] run past the end of the data section (24 bytes)');
  });

  it('offsets that end before they begin, or are negative', async () => {
    await expectHeaderError(malformed({ x: { dtype: 'U8', shape: [0], data_offsets: [8, 4] } }, 8), 'data_offsets [8, 4] end before they begin');
    await expectHeaderError(malformed({ x: { dtype: 'U8', shape: [4], data_offsets: [-4, 0] } }, 8), '"data_offsets" must be [begin, end]');
  });

  it('overlapping tensors', async () => {
    const file = malformed(
      { a: { dtype: 'F32', shape: [6], data_offsets: [0, 24] }, b: { dtype: 'F32', shape: [3], data_offsets: [12, 24] } },
      24,
    );
    await expectHeaderError(file, 'tensor "b": data_offsets [12, 24] overlap tensor "a" at [0, 24]');
  });

  it('negative, fractional or non-numeric shape entries', async () => {
    for (const shape of ['[-1, 3]', '[1.5]', '["2"]', '[2.0]', '[null]']) {
      const file = malformed(`{"x":{"dtype":"U8","shape":${shape},"data_offsets":[0,2]}}`, 2);
      await expectHeaderError(file, 'tensor "x": "shape" must be an array of non-negative integers');
    }
  });

  it('a __metadata__ that is not a string map', async () => {
    await expectHeaderError(malformed({ __metadata__: { epoch: 3 } }), '"__metadata__" value "epoch" must be a string but is 3');
    await expectHeaderError(malformed({ __metadata__: ['a'] }), '"__metadata__" must be an object of strings');
  });
});

describe('writeSafetensors validation and atomicity', () => {
  const good = { w: { dtype: 'F32', shape: [2], data: new Float32Array([1, 2]) } };

  function expectArgumentError(fn: () => unknown, ...fragments: string[]): void {
    const e = thrown(fn);
    expect(e.code).toBe('ERR_INVALID_ARGUMENT');
    expect(e.message).toMatch(/^Expected .* for .* but received /);
    for (const fragment of fragments) expect(e.message).toContain(fragment);
  }

  it('validates arguments on the calling thread', () => {
    const file = tmpPath();
    expectArgumentError(() => addon.writeSafetensors(7, good), 'for path but received number 7');
    expectArgumentError(() => addon.writeSafetensors(file, [good]), 'for tensors but received an array of length 1');
    expectArgumentError(() => addon.writeSafetensors(file), 'for tensors but received undefined');
    expectArgumentError(() => addon.writeSafetensors(file, { w: 3 }), 'for tensors["w"] but received number 3');
    expectArgumentError(
      () => addon.writeSafetensors(file, { w: { ...good.w, dtype: 'F8' } }),
      'Expected one of F32, F16, BF16, I64, I32, U8',
      'for tensors["w"].dtype but received the string "F8"',
    );
    expectArgumentError(() => addon.writeSafetensors(file, { w: { ...good.w, dtype: 32 } }), 'for tensors["w"].dtype but received number 32');
    expectArgumentError(
      () => addon.writeSafetensors(file, { w: { ...good.w, shape: [-2] } }),
      'Expected a non-negative integer for tensors["w"].shape[0] but received number -2',
    );
    expectArgumentError(() => addon.writeSafetensors(file, { w: { ...good.w, shape: [0.5] } }), 'tensors["w"].shape[0] but received number 0.5');
    expectArgumentError(() => addon.writeSafetensors(file, { w: { ...good.w, shape: '2' } }), 'for tensors["w"].shape but received the string "2"');
    expectArgumentError(
      () => addon.writeSafetensors(file, { w: { ...good.w, data: [1, 2] } }),
      'Expected a Float32Array (or a Uint8Array of raw bytes) for tensors["w"].data but received an array of length 2',
    );
    expectArgumentError(
      () => addon.writeSafetensors(file, { w: { ...good.w, data: new Int32Array(2) } }),
      'for tensors["w"].data but received a Int32Array of length 2',
    );
    expectArgumentError(
      () => addon.writeSafetensors(file, { w: { ...good.w, shape: [3] } }),
      'Expected data of 12 bytes (dtype F32, shape [3]) for tensors["w"].data but received a Float32Array of length 2',
    );
    expectArgumentError(
      () => addon.writeSafetensors(file, { w: { ...good.w, shape: [2 ** 52, 2 ** 52] } }),
      'Expected data of more than 2^64 bytes',
    );
    expectArgumentError(() => addon.writeSafetensors(file, good, { epoch: 3 }), 'Expected a string for metadata["epoch"] but received number 3');
    expectArgumentError(() => addon.writeSafetensors(file, good, 'pt'), 'for metadata but received the string "pt"');
    expectArgumentError(() => addon.writeSafetensors(file, { __metadata__: good.w }), '"__metadata__"');
    // Nothing was written.
    expect(fs.readdirSync(path.dirname(file))).toEqual([]);
  });

  it('rejects a path in a missing folder with ERR_IO and leaves no temp file', async () => {
    const parent = path.dirname(tmpPath());
    const file = path.join(parent, 'no', 'such', 'folder', 'model.safetensors');
    const e = await rejection(addon.writeSafetensors(file, good));
    expect(e.code).toBe('ERR_IO');
    expect(e.message).toContain(file);
    expect(e.message).toContain('No such file or directory');
    expect(fs.readdirSync(parent)).toEqual([]);
  });

  it('removes its temp file when the final rename fails', async () => {
    // The target is a folder: the temp file is written and fsynced, then rename() fails.
    const target = tmpPath('model.safetensors');
    fs.mkdirSync(target);
    fs.writeFileSync(path.join(target, 'keep'), 'x');
    const e = await rejection(addon.writeSafetensors(target, good));
    expect(e.code).toBe('ERR_IO');
    expect(e.message).toContain(target);
    expect(e.message).toContain('cannot rename');
    expect(fs.readdirSync(path.dirname(target))).toEqual(['model.safetensors']);
    expect(fs.readdirSync(target)).toEqual(['keep']);
  });

  it('leaves an existing file untouched when a write is rejected', async () => {
    const file = tmpPath();
    await addon.writeSafetensors(file, good, { version: '1' });
    const before = fs.readFileSync(file);

    expect(() => addon.writeSafetensors(file, { w: { ...good.w, dtype: 'nope' } })).toThrow();
    expect(() => addon.writeSafetensors(file, { w: { ...good.w, shape: [5] } })).toThrow();
    expect(fs.readFileSync(file).equals(before)).toBe(true);
    expect((await addon.readSafetensors(file)).metadata).toEqual({ version: '1' });
    expect(fs.readdirSync(path.dirname(file))).toEqual([path.basename(file)]);
  });
});
