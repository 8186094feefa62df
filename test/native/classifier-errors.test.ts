// Bad checkpoints and bad calls: each gives a coded error and the process lives on.
import { rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { Classifier, readSafetensors, writeSafetensors } from '../../lib/index.js';
import { addon } from '../helpers/addon.js';
import { copyCheckpoint, editConfig } from '../helpers/checkpoint-copy.js';
import { golden } from '../helpers/golden.js';
import { rejectsWith } from '../helpers/errors.js';

const load = (dir: string, options = {}) => Classifier.load(dir, { device: 'cpu', precision: 'fp32', ...options });


describe('bad checkpoints', () => {
  it('missing folder or config.json', async () => {
    await rejectsWith(load('/nonexistent/checkpoint'), 'ERR_CONFIG', /missing \/nonexistent\/checkpoint\/config\.json/);
    const dir = copyCheckpoint();
    rmSync(join(dir, 'config.json'));
    await rejectsWith(load(dir), 'ERR_CONFIG', /config\.json/);
  });

  it('unknown model_type', async () => {
    const dir = copyCheckpoint();
    editConfig(dir, (c) => (c.model_type = 'llama'));
    await rejectsWith(load(dir), 'ERR_CONFIG', /unsupported model_type "llama"/);
  });

  it('config.json that is not JSON', async () => {
    const dir = copyCheckpoint();
    writeFileSync(join(dir, 'config.json'), '{"model_type": "distilbert",');
    await rejectsWith(load(dir), 'ERR_CONFIG', /not valid JSON/);
  });

  it('dim not divisible by n_heads', async () => {
    const dir = copyCheckpoint();
    editConfig(dir, (c) => (c.n_heads = 5));
    await rejectsWith(load(dir), 'ERR_CONFIG', /dim 32 is not divisible by n_heads 5/);
  });

  it('tensor shapes that disagree with the config', async () => {
    const dir = copyCheckpoint();
    editConfig(dir, (c) => (c.hidden_dim = 48));
    await rejectsWith(load(dir), 'ERR_SHAPE', /"distilbert\.transformer\.layer\.0\.ffn\.lin1\.weight" has shape \[64, 32\] but config\.json implies \[48, 32\]/);
  });

  it('a label count that disagrees with the classifier', async () => {
    const dir = copyCheckpoint();
    editConfig(dir, (c) => {
      c.id2label = { 0: 'a', 1: 'b' };
      c.label2id = { a: 0, b: 1 };
    });
    await rejectsWith(load(dir), 'ERR_SHAPE', /"classifier\.weight" has shape \[3, 32\] but config\.json implies \[2, 32\]/);
  });

  it('more layers in the file than n_layers', async () => {
    const dir = copyCheckpoint();
    editConfig(dir, (c) => (c.n_layers = 1));
    await rejectsWith(load(dir), 'ERR_SHAPE', /more layers than n_layers = 1/);
  });

  it('a missing tensor', async () => {
    const dir = copyCheckpoint();
    const file = join(dir, 'model.safetensors');
    const { tensors } = await readSafetensors(file);
    delete tensors['distilbert.transformer.layer.1.attention.v_lin.bias'];
    await writeSafetensors(file, tensors, { format: 'pt' });
    await rejectsWith(load(dir), 'ERR_MISSING_TENSOR', /no tensor "distilbert\.transformer\.layer\.1\.attention\.v_lin\.bias"/);
  });

  it('a truncated model.safetensors', async () => {
    const dir = copyCheckpoint();
    truncateSync(join(dir, 'model.safetensors'), 5000);
    await rejectsWith(load(dir), 'ERR_SAFETENSORS_HEADER', /model\.safetensors/);
  });

  it('no weights at all, with a hint for pytorch_model.bin', async () => {
    const dir = copyCheckpoint();
    rmSync(join(dir, 'model.safetensors'));
    writeFileSync(join(dir, 'pytorch_model.bin'), 'x');
    await rejectsWith(load(dir), 'ERR_IO', /no model\.safetensors.*found pytorch_model\.bin/);
  });

  it('no tokenizer files: logits() works, predict() explains', async () => {
    const dir = copyCheckpoint();
    rmSync(join(dir, 'tokenizer.json'));
    rmSync(join(dir, 'vocab.txt'));
    using clf = await load(dir);
    await rejectsWith(clf.predict(['hello']), 'ERR_TOKENIZER', /has no tokenizer \(looked for tokenizer\.json and vocab\.txt\)/);
    const logits = await clf.logits({ inputIds: new Int32Array([2, 5, 3]), attentionMask: new Int32Array([1, 1, 1]), batchSize: 1, seqLen: 3 });
    expect(logits).toHaveLength(3);
  });

  it('a malformed tokenizer.json fails the load', async () => {
    const dir = copyCheckpoint();
    writeFileSync(join(dir, 'tokenizer.json'), '{ not json');
    await rejectsWith(load(dir), 'ERR_TOKENIZER', /tokenizer\.json/);
  });
});

describe('bad options', () => {
  const dir = golden('tiny').checkpoint;
  it.each([
    [{ device: 'gpu' }, /Expected 'auto', 'cpu', 'cuda' or 'cuda:N' for options\.device but received the string "gpu"/],
    [{ precision: 'fp8' }, /Expected one of 'auto', 'fp32', 'bf16', 'fp16' for options\.precision but received the string "fp8"/],
    [{ threads: 0 }, /Expected a positive integer for options\.threads but received number 0/],
    [{ maxLength: 1.5 }, /Expected a positive integer for options\.maxLength but received number 1\.5/],
  ])('%j', async (options, message) => {
    await rejectsWith(Classifier.load(dir, options as object), 'ERR_INVALID_ARGUMENT', message);
  });

  it('a checkpoint path that is not a string', async () => {
    await rejectsWith(Classifier.load(42 as unknown as string), 'ERR_INVALID_ARGUMENT', /Expected a non-empty string for checkpointDir but received number 42/);
  });

  it('fp16 on the CPU', async () => {
    await rejectsWith(load(dir, { precision: 'fp16' }), 'ERR_INVALID_ARGUMENT', /fp16' only on a CUDA device/);
  });

  it.runIf(!addon.runtimeInfo().cudaAvailable)('cuda without a GPU', async () => {
    await rejectsWith(load(dir, { device: 'cuda' }), 'ERR_DEVICE', /no usable CUDA device/);
  });
});

describe('bad calls on a loaded classifier', () => {
  let clf: Classifier;
  beforeAll(async () => {
    clf = await load(golden('tiny').checkpoint);
  });
  afterAll(() => clf.dispose());

  it('empty or non-string texts', async () => {
    await rejectsWith(clf.predict([]), 'ERR_INVALID_ARGUMENT', /Expected a non-empty array of strings for texts but received an array of length 0/);
    await rejectsWith(clf.predict('hello' as unknown as string[]), 'ERR_INVALID_ARGUMENT', /Expected an array of strings for texts but received the string "hello"/);
    await rejectsWith(clf.predict(['ok', 7 as unknown as string]), 'ERR_INVALID_ARGUMENT', /Expected a string for texts\[1\] but received number 7/);
    await rejectsWith(clf.predict(['ok'], { batchSize: -1 }), 'ERR_INVALID_ARGUMENT', /options\.batchSize/);
  });

  const ids = new Int32Array([2, 10, 11, 3, 2, 12, 3, 0]);
  const mask = new Int32Array([1, 1, 1, 1, 1, 1, 1, 0]);

  it('logits() with inconsistent sizes', async () => {
    await rejectsWith(clf.logits({ inputIds: ids, attentionMask: mask, batchSize: 3, seqLen: 4 }), 'ERR_INVALID_ARGUMENT', /Expected an Int32Array of length 12 \(batchSize × seqLen\) for batch\.inputIds but received a Int32Array of length 8/);
    await rejectsWith(clf.logits({ inputIds: ids, attentionMask: mask.subarray(0, 4), batchSize: 2, seqLen: 4 }), 'ERR_INVALID_ARGUMENT', /batch\.attentionMask/);
    await rejectsWith(clf.logits({ inputIds: Array.from(ids) as unknown as Int32Array, attentionMask: mask, batchSize: 2, seqLen: 4 }), 'ERR_INVALID_ARGUMENT', /Expected an Int32Array for batch\.inputIds but received an array of length 8/);
    await rejectsWith(clf.logits({ inputIds: new Int32Array(513), attentionMask: new Int32Array(513), batchSize: 1, seqLen: 513 }), 'ERR_INVALID_ARGUMENT', /seqLen of at most 512/);
  });

  it('logits() with ids outside the vocabulary', async () => {
    const bad = ids.slice();
    bad[5] = 100;
    await rejectsWith(clf.logits({ inputIds: bad, attentionMask: mask, batchSize: 2, seqLen: 4 }), 'ERR_INVALID_ARGUMENT', /Expected token ids in \[0, 100\) for batch\.inputIds\[5\] but received number 100/);
    bad[5] = -1;
    await rejectsWith(clf.logits({ inputIds: bad, attentionMask: mask, batchSize: 2, seqLen: 4 }), 'ERR_INVALID_ARGUMENT', /received number -1/);
  });

  it('the native entry checks again when JavaScript validation is bypassed', async () => {
    const handle = await addon.NativeModel.load(golden('tiny').checkpoint, { device: 'cpu', precision: 'fp32', threads: 1 });
    const bad = ids.slice();
    bad[0] = 1000;
    await rejectsWith(handle.forward(bad, mask, 2, 4), 'ERR_INVALID_ARGUMENT', /Expected token ids in \[0, 100\) but received 1000/);
    expect(() => handle.forward(ids, mask, 3, 4)).toThrow(/Expected inputIds of length 12/);
    expect(() => handle.forward(ids, mask, 0, 4)).toThrow(/Expected a positive integer for batchSize/);
    await rejectsWith(handle.forward(new Int32Array(600), new Int32Array(600), 1, 600), 'ERR_INVALID_ARGUMENT', /seqLen <= max_position_embeddings \(512\)/);
    handle.dispose();
    expect(() => handle.forward(ids, mask, 2, 4)).toThrow(/after dispose/);
  });

  it('still works after all of the above', async () => {
    const logits = await clf.logits({ inputIds: ids, attentionMask: mask, batchSize: 2, seqLen: 4 });
    expect(logits).toHaveLength(6);
    expect(Array.from(logits).every(Number.isFinite)).toBe(true);
  });
});

describe('dispose', () => {
  it('is idempotent, works with `using`, and later calls throw ERR_DISPOSED', async () => {
    const clf = await load(golden('tiny').checkpoint);
    clf.dispose();
    clf.dispose();
    await rejectsWith(clf.predict(['hello']), 'ERR_DISPOSED', /Classifier was used after dispose\(\)/);
    expect(() => clf.encode(['hello'])).toThrow(expect.objectContaining({ code: 'ERR_DISPOSED' }));
    let escaped: Classifier | undefined;
    {
      using scoped = await load(golden('tiny').checkpoint);
      escaped = scoped;
    }
    await rejectsWith(escaped.predict(['hello']), 'ERR_DISPOSED', /after dispose/);
  });

  it('a predict queued before dispose() rejects cleanly', async () => {
    const clf = await load(golden('tiny').checkpoint);
    const first = clf.predict(['one']);
    const second = clf.predict(['two']);
    clf.dispose();
    // Queued work starts after the current tick, when the handle is already gone.
    await rejectsWith(first, 'ERR_DISPOSED', /after dispose/);
    await rejectsWith(second, 'ERR_DISPOSED', /after dispose/);
  });
});
