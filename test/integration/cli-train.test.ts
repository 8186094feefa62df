// The training commands as a user runs them (dist/, built by npm test):
// `train` (JSON lines and plain progress), `eval`, `predict --adapter`, `demo`,
// Ctrl-C, and the errors a user meets first.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

import { Classifier, type Example } from '../../lib/index.js';
import { FIXTURES, golden } from '../helpers/golden.js';
import { binaryExamples } from '../helpers/synthetic.js';

const CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli', 'main.js');
const MODEL = golden('tiny').checkpoint;
const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000 });
const dir = mkdtempSync(join(tmpdir(), 'lora-node-cli-train-'));

/** A CSV with other column names than the defaults, and an extra column. */
function writeCsv(file: string, examples: Example[]): string {
  const quote = (s: string) => `"${s.replaceAll('"', '""')}"`;
  const rows = examples.map((e, i) => `${i},${quote(e.text)},${quote(String(e.label))}`);
  writeFileSync(file, ['id,review,sentiment', ...rows].join('\n') + '\n');
  return file;
}

const TRAIN = writeCsv(join(dir, 'train.csv'), binaryExamples(240, 1));
const EVAL = writeCsv(join(dir, 'eval.csv'), binaryExamples(80, 2));
const COLUMNS = ['--text-column', 'review', '--label-column', 'sentiment'];
const SETTINGS = ['--epochs', '5', '--batch-size', '16', '--learning-rate', '3e-3', '--lora-r', '8', '--lora-alpha', '16',
  '--target-modules', 'all-linear', '--seed', '1', '--threads', '2', '--device', 'cpu', '--precision', 'fp32'];
const RUNTIME = ['--device', 'cpu', '--precision', 'fp32'];
const jsonLines = (stdout: string) => stdout.trim().split('\n').map((line) => JSON.parse(line) as Record<string, any>);

describe('lora-node train', () => {
  const adapter = join(dir, 'adapter');
  const merged = join(dir, 'merged');
  let plain: ReturnType<typeof run>;
  let json: ReturnType<typeof run>;

  beforeAll(() => {
    plain = run('train', '--model', MODEL, '--data', TRAIN, '--eval', EVAL, '--out', adapter, ...COLUMNS, ...SETTINGS);
    json = run('train', '--model', MODEL, '--data', TRAIN, '--eval', EVAL, '--out', merged, '--merged', '--json', ...COLUMNS, ...SETTINGS);
  }, 240_000);

  it('--json prints progress, evaluate and result events, and nothing on stderr', () => {
    expect(json.stderr).toBe('');
    expect(json.status).toBe(0);
    const events = jsonLines(json.stdout);
    const progress = events.filter((e) => e.type === 'progress');
    expect(progress.map((e) => e.step)).toEqual(Array.from({ length: 75 }, (_, i) => i + 1)); // 15 steps × 5 epochs
    for (const p of progress) {
      expect(p.totalSteps).toBe(75);
      for (const key of ['epoch', 'loss', 'learningRate', 'samplesPerSecond', 'eta']) expect(typeof p[key], key).toBe('number');
    }
    const evaluations = events.filter((e) => e.type === 'evaluate');
    expect(evaluations.map((e) => e.step)).toEqual([15, 30, 45, 60, 75]);
    expect(evaluations[0]!.report.kind).toBe('classification');
    expect(events.some((e) => e.type === 'notice' && /initialised fresh/.test(e.message))).toBe(true); // 3-label head, 2 labels
    const result = events.at(-1)!;
    expect(result.type).toBe('result');
    expect(result).toMatchObject({ task: 'binary', labels: ['negative', 'positive'], steps: 75, saved: 'merged checkpoint', out: merged });
    expect(result.finalEvaluation.accuracy).toBeGreaterThanOrEqual(0.85);
    expect(result.history).toBeUndefined();
    for (const file of ['config.json', 'model.safetensors', 'lora-node.json']) expect(existsSync(join(merged, file)), file).toBe(true);
  });

  it('without a terminal prints plain progress lines (about every 5%) on stderr and the report on stdout', () => {
    expect(plain.status).toBe(0);
    const steps = plain.stderr.match(/^step \d+\/75 \(\d+%\) {2}epoch \d+\.\d\d {2}loss \d+\.\d{4} {2}lr \S+ {2}\d+\.\d samples\/s {2}ETA \S+$/gm) ?? [];
    expect(steps.length).toBeGreaterThanOrEqual(15);
    expect(steps.length).toBeLessThanOrEqual(25);
    expect(steps.at(-1)).toMatch(/^step 75\/75 \(100%\)/);
    expect(plain.stderr.match(/^eval {2}step \d+ {2}epoch \d\.00 {2}loss \S+ {2}accuracy \S+ {2}f1_macro \S+/gm)).toHaveLength(5);
    expect(plain.stdout).toMatch(/^training .* \(binary, LoRA r=8 alpha=16 on all-linear\) on 240 examples/m);
    expect(plain.stdout).toMatch(/trained 75 steps \(5\.00 epochs\)/);
    expect(plain.stdout).toMatch(/precision +recall +f1-score +support/);
    expect(plain.stdout).toMatch(/^ +accuracy +\d\.\d{4} +80$/m);
    expect(plain.stdout).toContain('confusion matrix');
    expect(plain.stdout).toContain(`adapter saved to ${adapter}`);
    for (const file of ['adapter_config.json', 'adapter_model.safetensors', 'lora-node.json']) expect(existsSync(join(adapter, file)), file).toBe(true);
  });

  it('eval --json reports the metrics training ended with, for the adapter and the merged checkpoint alike', () => {
    const trained = jsonLines(json.stdout).at(-1)!.finalEvaluation;
    const viaAdapter = run('eval', '--model', MODEL, '--adapter', adapter, '--data', EVAL, ...COLUMNS, ...RUNTIME, '--json');
    expect(viaAdapter.stderr).toBe('');
    expect(viaAdapter.status).toBe(0);
    const report = JSON.parse(viaAdapter.stdout);
    expect(report).toMatchObject({ type: 'report', task: 'binary', labels: ['negative', 'positive'], examples: 80 });
    expect(report.report.accuracy).toBe(trained.accuracy);
    expect(report.report.confusionMatrix).toEqual(trained.confusionMatrix);
    const viaMerged = JSON.parse(run('eval', '--model', merged, '--data', EVAL, ...COLUMNS, ...RUNTIME, '--json').stdout);
    expect(viaMerged.report.confusionMatrix).toEqual(trained.confusionMatrix);
  });

  it('eval prints a classification report', () => {
    const text = run('eval', '--model', MODEL, '--adapter', adapter, '--data', EVAL, ...COLUMNS, ...RUNTIME);
    expect(text.status).toBe(0);
    expect(text.stdout).toMatch(/\+ adapter .*\(binary, labels: negative, positive\)/);
    expect(text.stdout).toMatch(/^ +negative +\d\.\d{4} +\d\.\d{4} +\d\.\d{4} +\d+$/m);
    expect(text.stdout).toMatch(/^ +macro avg /m);
    expect(text.stdout).toMatch(/ROC-AUC \d\.\d{4}/);
  });

  it('predict --adapter applies the adapter, as the library does', async () => {
    const texts = ['the film was great , it is great', 'the plot was boring , it is boring'];
    const result = run('predict', '--model', MODEL, '--adapter', adapter, ...RUNTIME, '--json', ...texts);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const lines = jsonLines(result.stdout);
    using clf = await Classifier.load(MODEL, { adapter, device: 'cpu', precision: 'fp32' });
    const expected = await clf.predict(texts);
    expect(lines.map((l) => l.label)).toEqual(expected.map((p) => p.label));
    lines.forEach((l, i) => expect(l.score).toBeCloseTo(expected[i]!.score, 6));
    expect(lines.map((l) => l.label)).toEqual(['positive', 'negative']);
  });
});

describe('lora-node train --task mlm', () => {
  it('trains a masked LM on plain text, lowers the held-out masked loss and saves a DistilBertForMaskedLM checkpoint', async () => {
    const text = readFileSync(join(FIXTURES, 'mlm', 'definitions.txt'), 'utf8');
    const file = join(dir, 'mlm.txt');
    writeFileSync(file, text);
    const out = join(dir, 'mlm-out');
    const result = run('train', '--model', MODEL, '--task', 'mlm', '--data', file, '--eval', file, '--out', out, '--full',
      '--epochs', '8', '--learning-rate', '3e-3', '--batch-size', '8', '--device', 'cpu', '--precision', 'fp32', '--json');
    expect(result.status, result.stderr).toBe(0);
    const events = result.stdout.trim().split('\n').map((l) => JSON.parse(l));
    const evaluations = events.filter((e) => e.type === 'evaluate').map((e) => e.report);
    expect(evaluations[0].kind).toBe('masked-lm');
    expect(evaluations.at(-1).loss).toBeLessThan(evaluations[0].loss);
    expect(events.at(-1)).toMatchObject({ type: 'result', task: 'mlm', saved: 'checkpoint' });
    expect(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')).architectures).toEqual(['DistilBertForMaskedLM']);
  });

  it('the optimisation, QLoRA and early-stopping flags reach the Trainer', () => {
    const out = join(dir, 'qlora-merged');
    const r = run('train', '--model', MODEL, '--data', TRAIN, '--eval', EVAL, '--out', out, '--merged', '--json', ...COLUMNS, ...SETTINGS,
      '--quantize', 'nf4', '--metric', 'average_precision', '--patience', '1', '--class-weights', 'balanced', '--weight-decay', '0',
      '--warmup-ratio', '0.2', '--scheduler', 'cosine', '--gradient-accumulation', '3');
    expect(r.status, r.stderr).toBe(0);
    const events = jsonLines(r.stdout);
    const progress = events.filter((e) => e.type === 'progress');
    // 240 examples in batches of 16 = 15 micro-batches an epoch; 3 of them make a step: 5 steps an epoch.
    expect(progress[0]!.totalSteps).toBe(25);
    // cosine schedule with 20% warmup: the rate rises for the first 5 steps, then falls.
    const rates = progress.map((e) => e.learningRate as number);
    expect(rates[4]).toBeGreaterThan(rates[0]!);
    expect(rates.at(-1)).toBeLessThan(rates[5]!);
    const result = events.at(-1)!;
    expect(result.best.metric).toBe('average_precision');
    // --quantize nf4: the merged checkpoint is a bitsandbytes 4-bit one.
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    expect(config.quantization_config).toMatchObject({ load_in_4bit: true, bnb_4bit_quant_type: 'nf4' });
    const bad = run('train', '--model', MODEL, '--data', TRAIN, '--out', out, ...COLUMNS, '--patience', '2');
    expect(bad.stderr).toMatch(/Expected --eval FILE with --patience .* but received none \[ERR_INVALID_ARGUMENT\]/);
    const weights = run('train', '--model', MODEL, '--data', TRAIN, '--eval', EVAL, '--out', out, ...COLUMNS, '--class-weights', '1,2,3', '--epochs', '1');
    expect(weights.stderr).toMatch(/--class-weights/);
    expect(weights.stderr).toMatch(/\[ERR_[A-Z_]+\]/);
    expect(run('train', '--model', MODEL, '--data', TRAIN, '--out', out, '--quantize', 'int8').stderr).toMatch(/Expected one of nf4, fp4 for --quantize but received "int8"/);
  }, 120_000);

  it('masking flags without --task mlm, or a probability out of range, are errors naming the flag', () => {
    const noTask = run('train', '--model', MODEL, '--data', TRAIN, '--out', join(dir, 'x'), '--whole-word-masking');
    expect(noTask.status).toBe(1);
    expect(noTask.stderr).toMatch(/Expected --task mlm with --whole-word-masking but received no --task/);
    const badP = run('train', '--model', MODEL, '--task', 'mlm', '--data', TRAIN, '--out', join(dir, 'x'), '--mlm-probability', '1.5');
    expect(badP.status).toBe(1);
    expect(badP.stderr).toMatch(/Expected a number in \(0, 1\) for --mlm-probability but received "1.5"/);
  });
});

describe('lora-node demo', () => {
  it('--fresh trains on the bundled examples with a fresh, plainly untrained base; reports metrics; saves the adapter', () => {
    const out = join(dir, 'demo');
    const started = performance.now();
    const demo = run('demo', '--fresh', '--out', out, '--threads', '2');
    const seconds = (performance.now() - started) / 1000;
    expect(demo.status, demo.stderr).toBe(0);
    expect(seconds).toBeLessThan(60);
    expect(demo.stdout).toMatch(/480 training and 120 held-out messages/);
    expect(demo.stdout).toMatch(/UNTRAINED \(random weights\)/);
    expect(demo.stdout).toMatch(/^ +accuracy +\d\.\d{4} +120$/m);
    expect(demo.stdout).toMatch(/the saved adapter, loaded back: \d+ of 120 held-out messages right/);
    expect(demo.stdout.match(/^[ ✗] (ok|spam|phishing) +-> (ok|spam|phishing) +\d\.\d{3} {2}\S/gm)!.length).toBeGreaterThanOrEqual(6);
    expect(demo.stdout).toContain(`adapter saved to ${out}`);
    expect(demo.stderr).toMatch(/^step 150\/150 \(100%\)/m);
    for (const file of ['adapter_config.json', 'adapter_model.safetensors', 'lora-node.json', 'base-model/config.json', 'base-model/vocab.txt'])
      expect(existsSync(join(out, file)), file).toBe(true);
    // The adapter works with the commands a user tries next.
    const evaluated = JSON.parse(run('eval', '--model', join(out, 'base-model'), '--adapter', out, '--data', join(import.meta.dirname, '..', '..', 'examples', 'risk-messages.eval.csv'), '--json').stdout);
    expect(evaluated.report.accuracy).toBeGreaterThan(0.6); // chance is about 0.5 (the majority class)
  }, 120_000);
});

describe('lora-node train: errors and interrupts', () => {
  it('a missing flag, a bad column, a bad value or an unknown label exits 1 with the error code', () => {
    const noData = run('train', '--model', MODEL, '--out', join(dir, 'x'));
    expect(noData.status).toBe(1);
    expect(noData.stderr).toMatch(/Expected --data FILE .* but received none \[ERR_INVALID_ARGUMENT\]/);
    const badColumn = run('train', '--model', MODEL, '--data', TRAIN, '--out', join(dir, 'x'), '--text-column', 'body');
    expect(badColumn.status).toBe(1);
    expect(badColumn.stderr).toMatch(/has no "body" column \(columns found: "id", "review", "sentiment"\); set --text-column \[ERR_DATA\]/);
    const badEpochs = run('train', '--model', MODEL, '--data', TRAIN, '--out', join(dir, 'x'), ...COLUMNS, '--epochs', '0');
    expect(badEpochs.status).toBe(1);
    expect(badEpochs.stderr).toMatch(/Expected a positive integer for --epochs but received "0" \[ERR_INVALID_ARGUMENT\]/);
    const fullWithLora = run('train', '--model', MODEL, '--data', TRAIN, '--out', join(dir, 'x'), '--full', '--lora-r', '4');
    expect(fullWithLora.stderr).toMatch(/Expected no LoRA flags with --full .* --lora-r \[ERR_INVALID_ARGUMENT\]/);
    const unknownLabel = writeCsv(join(dir, 'unknown.csv'), [{ text: 'the film was good', label: 'neutral' }]);
    const badEval = run('eval', '--model', MODEL, '--adapter', join(dir, 'adapter'), '--data', unknownLabel, ...COLUMNS);
    expect(badEval.status).toBe(1);
    expect(badEval.stderr).toMatch(/unknown label "neutral".*\[ERR_DATA\]/);
    expect(existsSync(join(dir, 'x'))).toBe(false);
  });

  it('an unknown flag is a usage error (exit 2)', () => {
    const result = run('train', '--model', MODEL, '--data', TRAIN, '--out', join(dir, 'x'), '--epoch', '2');
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/Unknown option '--epoch'/);
  });

  it('Ctrl-C stops at the next step, keeps the checkpoint and exits 130', async () => {
    const checkpoints = join(dir, 'interrupted-checkpoints');
    const child = spawn(process.execPath, [CLI, 'train', '--model', MODEL, '--data', TRAIN, '--out', join(dir, 'interrupted'), ...COLUMNS,
      '--epochs', '500', '--checkpoints', checkpoints, '--checkpoint-every', '2', '--threads', '2', '--json']);
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
    const code = await new Promise<number | null>((resolve) => {
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk;
        if (stdout.includes('"type":"checkpoint"') && !child.killed) child.kill('SIGINT');
      });
      child.on('close', resolve);
    });
    expect(code).toBe(130);
    expect(stderr).toMatch(/interrupted: training was aborted at step \d+ of 7500; the last complete checkpoint in .* is kept; continue with --resume .* \[ERR_ABORTED\]/);
    expect(readdirSync(checkpoints).some((name) => /^checkpoint-\d+$/.test(name))).toBe(true);
    expect(existsSync(join(dir, 'interrupted'))).toBe(false);
  }, 60_000);
});
