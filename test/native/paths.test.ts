// Paths at the addon boundary: a NUL character (which would cut the path short in the
// system call) is refused by every binding that takes a path, and the atomic writers
// never replace something that is not a regular file. Found by fuzzing the native
// surface: a NUL path in addAdapter used to crash the process.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { writeSafetensors } from '../../lib/index.js';
import { writeAtomic } from '../../lib/lora/save.js';
import type { NativeModelHandle } from '../../lib/native/types.js';
import { addon } from '../helpers/addon.js';
import { rejectsWith } from '../helpers/errors.js';
import { golden } from '../helpers/golden.js';

const NUL_PATH = 'adapter\u0000.safetensors';
const dir = mkdtempSync(join(tmpdir(), 'lora-node-paths-'));
const NUL_MESSAGE = /Expected a path without NUL characters for .* but received the string "adapter\\u0000\.safetensors"/;

describe('paths with a NUL character', () => {
  let model: NativeModelHandle;
  beforeAll(async () => {
    model = await addon.NativeModel.load(golden('tiny').checkpoint, { device: 'cpu', precision: 'fp32', threads: 1 });
  });
  afterAll(() => model.dispose());

  it('are refused with ERR_INVALID_ARGUMENT by every binding that takes a path; the process lives on', async () => {
    const calls: [string, () => unknown][] = [
      ['NativeModel.load', () => addon.NativeModel.load(NUL_PATH, { device: 'cpu', precision: 'fp32', threads: 1 })],
      ['loadAdapter', () => model.loadAdapter(NUL_PATH)],
      ['saveTrainable', () => model.saveTrainable(NUL_PATH)],
      ['saveStateDict', () => model.saveStateDict(NUL_PATH)],
      ['readSafetensors', () => addon.readSafetensors(NUL_PATH)],
      ['tryLockFile', () => addon.tryLockFile(NUL_PATH)],
    ];
    for (const [name, call] of calls) {
      let thrown: { code?: string; message: string } | undefined;
      try {
        await call();
      } catch (error) {
        thrown = error as { code?: string; message: string };
      }
      expect(thrown, name).toBeDefined();
      expect(thrown!.code, name).toBe('ERR_INVALID_ARGUMENT');
      expect(thrown!.message, name).toMatch(NUL_MESSAGE);
    }
  });

  it('in a multi-adapter addAdapter (which used to crash)', async () => {
    const multi = addon.NativeMultiModel.fromModel(model);
    const spec = { modules: [{ module: 'distilbert.transformer.layer.0.attention.q_lin', r: 4, alpha: 8 }], dropout: 0, useRslora: false, init: 'kaiming', bias: 'none', modulesToSave: [] };
    expect(() => multi.addAdapter({ name: 'x', weightsPath: NUL_PATH, spec, numLabels: 3, metadata: '{}' } as never)).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringMatching(NUL_MESSAGE) }),
    );
    await rejectsWith(multi.addAdapter({ name: 'x', weightsPath: join(dir, 'missing.safetensors'), spec, numLabels: 3, metadata: '{}' } as never), 'ERR_IO', /missing\.safetensors: cannot open/);
    multi.dispose();
  });
});

describe('files that are not regular files', () => {
  it('writers refuse to replace a FIFO (or a device): ERR_IO, and the FIFO stays; the reader refuses it without blocking', async () => {
    const fifo = join(dir, 'pipe');
    execFileSync('mkfifo', [fifo]);
    await rejectsWith(writeSafetensors(fifo, { t: { dtype: 'F32', shape: [1], data: new Float32Array(1) } }), 'ERR_IO', /pipe: exists and is not a regular file; not replacing it/);
    await rejectsWith(writeAtomic(fifo, '{}'), 'ERR_IO', /pipe: exists and is not a regular file; not replacing it/);
    expect(statSync(fifo).isFIFO()).toBe(true);
    // Reading one fails at once instead of waiting for a writer that never comes.
    await rejectsWith(addon.readSafetensors(fifo), 'ERR_IO', /pipe: not a regular file/);
    expect(existsSync(join(dir, 'pipe.tmp'))).toBe(false);
  });
});

describe('backward on a model with nothing to train', () => {
  it('is ERR_INVALID_ARGUMENT saying what to do, not a libtorch message', async () => {
    {
      const model = await addon.NativeModel.load(golden('tiny').checkpoint, { device: 'cpu', precision: 'fp32', threads: 1 });
      const batch = [new Int32Array([2, 13, 3, 0]), new Int32Array([1, 1, 1, 0]), 1, 4] as const;
      await expect(async () => model.forward(...batch, { labels: new Int32Array([1]), backward: true })).rejects.toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_ARGUMENT', message: expect.stringMatching(/Expected a model with trainable parameters for backward: true \(attach LoRA or enable full fine-tuning\)/) }),
      );
      model.dispose();
    }
  });
});
