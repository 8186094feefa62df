// The command line as a user runs it: `lora-node predict` and `lora-node doctor`
// (runs dist/, which `npm test` compiles first).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import { Classifier, readSafetensors } from '../../lib/index.js';
import { FIXTURES, golden } from '../helpers/golden.js';

const CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli', 'main.js');
const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });

describe('lora-node CLI (dist/, built by npm test)', () => {
  it("package.json's bin is executable and runs the CLI, as `npx lora-node` does", () => {
    const root = join(import.meta.dirname, '..', '..');
    const bin = join(root, JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).bin['lora-node']);
    expect(statSync(bin).mode & 0o111).not.toBe(0);
    const result = spawnSync(bin, ['--help'], { encoding: 'utf8', timeout: 60_000 });
    expect(result.error).toBeUndefined();
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^Usage: lora-node <command>/);
  });

  it('predict --json prints one prediction per text, equal to the library', async () => {
    const g = golden('tiny');
    const texts: string[] = g.json.batches.padded.texts;
    const result = run('predict', '--model', g.checkpoint, '--precision', 'fp32', '--device', 'cpu', '--json', ...texts);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const lines = result.stdout.trim().split('\n').map((l) => JSON.parse(l));
    using clf = await Classifier.load(g.checkpoint, { precision: 'fp32', device: 'cpu' });
    const expected = await clf.predict(texts);
    expect(lines.map((l) => l.text)).toEqual(texts);
    lines.forEach((line, i) => {
      expect(line.label).toBe(expected[i]!.label);
      expect(line.score).toBeCloseTo(expected[i]!.score, 6);
    });
  });

  it('predict --data reads the text column of a CSV: the same predictions as the texts given as arguments', () => {
    const g = golden('tiny');
    const texts: string[] = g.json.batches.padded.texts;
    const csv = join(mkdtempSync(join(tmpdir(), 'lora-node-cli-predict-')), 'texts.csv');
    writeFileSync(csv, ['id,text', ...texts.map((t, i) => `${i},"${t.replaceAll('"', '""')}"`)].join('\n') + '\n');
    const fromArgs = run('predict', '--model', g.checkpoint, '--precision', 'fp32', '--device', 'cpu', '--json', ...texts);
    const fromData = run('predict', '--model', g.checkpoint, '--precision', 'fp32', '--device', 'cpu', '--json', '--data', csv);
    expect(fromData.stderr).toBe('');
    expect(fromData.status).toBe(0);
    expect(fromData.stdout).toBe(fromArgs.stdout);
  });

  it('predict prints a table with the device and precision', () => {
    const result = run('predict', '--model', golden('real-vocab').checkpoint, 'I loved it', 'I hated it');
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/binary, labels: NEGATIVE, POSITIVE/);
    expect(result.stdout).toMatch(/device: cpu, precision: (fp32|bf16)/);
    expect(result.stdout.match(/^(NEGATIVE|POSITIVE)\s+0\.\d{4}\s+I (loved|hated) it$/gm)).toHaveLength(2);
  });

  it('usage errors exit 2, runtime errors exit 1 with the error code', () => {
    expect(run('frobnicate').status).toBe(2);
    const noModel = run('predict', 'text');
    expect(noModel.status).toBe(1);
    expect(noModel.stderr).toMatch(/Expected --model DIR .* \[ERR_INVALID_ARGUMENT\]/);
    const badModel = run('predict', '--model', '/nonexistent', 'text');
    expect(badModel.status).toBe(1);
    expect(badModel.stderr).toMatch(/config\.json .*\[ERR_CONFIG\]/);
    expect(run('predict', '--model', golden('tiny').checkpoint, '--threads', 'two', 'x').stderr).toMatch(/Expected a positive integer for --threads but received "two"/);
  });

  it('quantize writes the bitsandbytes reference tensors, keeps --skip linears in float32, and checks its flags', async () => {
    const out = join(mkdtempSync(join(tmpdir(), 'lora-node-cli-quantize-')), 'nf4');
    const result = run('quantize', '--model', golden('tiny').checkpoint, '--out', out, '--skip', 'lin2', '--json');
    expect(result.status).toBe(0);
    const summary = JSON.parse(result.stdout);
    expect(summary).toMatchObject({ type: 'quantized', quantization: { type: 'nf4', blockSize: 64, doubleQuant: true, skip: ['lin2'] } });
    expect(summary.bytesAfter).toBeLessThan(summary.bytesBefore);
    const written = (await readSafetensors(join(out, 'model.safetensors'))).tensors;
    const reference = (await readSafetensors(join(FIXTURES, 'tiny', 'model_nf4.safetensors'))).tensors;
    for (const [name, t] of Object.entries(reference)) {
      if (name.includes('.ffn.lin2.')) continue;
      expect(Array.from(written[name]!.data as ArrayLike<number>), name).toEqual(Array.from(t.data as ArrayLike<number>));
    }
    expect(written['distilbert.transformer.layer.0.ffn.lin2.weight']!.dtype).toBe('F32');
    const badBlock = run('quantize', '--model', golden('tiny').checkpoint, '--out', out, '--block-size', '48');
    expect(badBlock.status).toBe(1);
    expect(badBlock.stderr).toMatch(/Expected one of 32, 64, .* for --block-size but received "48" \[ERR_INVALID_ARGUMENT\]/);
    const badSkip = run('quantize', '--model', golden('tiny').checkpoint, '--out', out + '-2', '--skip', 'lin3');
    expect(badSkip.status).toBe(1);
    expect(badSkip.stderr).toMatch(/"lin3" matches none \[ERR_CONFIG\]/);
  });

  it('doctor reports libtorch, CUDA, BLAS, threads, precision and the addon', () => {
    const text = run('doctor');
    expect(text.status).toBe(0);
    for (const field of ['addon:', 'libtorch:', 'CUDA available:', 'BLAS:', 'OpenBLAS core:', 'threads:', "precision 'auto':"])
      expect(text.stdout).toContain(field);
    const json = JSON.parse(run('doctor', '--json').stdout);
    expect(json.torchVersion).toMatch(/^\d+\.\d+/);
    expect(json.addonPath).toMatch(/lora_node\.node$|\.node$/);
    expect(['openblas', 'mkl', 'reference', 'unknown']).toContain(json.blas.kind);
    expect(json.threads.available).toBeGreaterThan(0);
    expect(['fp32', 'bf16']).toContain(json.autoPrecision.precision);
  });
});
