// The risk shapes from the command line (dist/, built by npm test):
// `train --features/--categorical`, `train --task ordinal --labels`, and
// `eval` of what they saved.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

import type { Example } from '../../lib/index.js';
import { golden } from '../helpers/golden.js';
import { SEVERITIES, fusedExamples, severityExamples } from '../helpers/risk-synthetic.js';

const CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli', 'main.js');
const MODEL = golden('tiny').checkpoint;
const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 120_000 });
const dir = mkdtempSync(join(tmpdir(), 'lora-node-cli-risk-'));
const SETTINGS = ['--epochs', '10', '--batch-size', '16', '--learning-rate', '3e-3', '--lora-r', '8', '--lora-alpha', '16',
  '--target-modules', 'all-linear', '--seed', '1', '--threads', '2', '--device', 'cpu', '--precision', 'fp32', '--json'];
const RUNTIME = ['--device', 'cpu', '--precision', 'fp32', '--json'];

function writeCsv(file: string, examples: Example[]): string {
  const cell = (v: unknown) => (v === null || v === undefined ? '' : `"${String(v).replaceAll('"', '""')}"`);
  const rows = examples.map((e) => [cell(e.text), cell(e.label), cell(e.features?.amount), cell(e.features?.channel)].join(','));
  writeFileSync(file, ['text,label,amount,channel', ...rows].join('\n') + '\n');
  return file;
}
const result = (stdout: string) => JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, any>;

describe('lora-node train with features', () => {
  it('--features/--categorical train a fused model; eval reads the same columns and reproduces its metrics', () => {
    const train = writeCsv(join(dir, 'fused.csv'), fusedExamples(240, 1));
    const held = writeCsv(join(dir, 'fused.eval.csv'), fusedExamples(120, 2));
    const out = join(dir, 'fused-adapter');
    const trained = run('train', '--model', MODEL, '--data', train, '--eval', held, '--out', out, '--features', 'amount,channel', '--categorical', 'channel', ...SETTINGS);
    expect(trained.stderr).toBe('');
    const final = result(trained.stdout).finalEvaluation;
    expect(final.accuracy).toBeGreaterThanOrEqual(0.85);
    const evaluated = run('eval', '--model', MODEL, '--adapter', out, '--data', held, ...RUNTIME);
    expect(evaluated.stderr).toBe('');
    expect(JSON.parse(evaluated.stdout).report.accuracy).toBeCloseTo(final.accuracy, 10);
    const textsOnly = run('predict', '--model', MODEL, '--adapter', out, ...RUNTIME, 'the movie was bad');
    expect(textsOnly.status).toBe(1);
    expect(textsOnly.stderr).toMatch(/Expected --data FILE \(rows with the feature columns amount, channel\) .*\[ERR_INVALID_ARGUMENT\]/);

    // predict --data reads the model's feature columns and ignores the label column:
    // its labels agree with the examples exactly as often as eval's accuracy says.
    const predicted = run('predict', '--model', MODEL, '--adapter', out, '--data', held, ...RUNTIME);
    expect(predicted.stderr).toBe('');
    const lines = predicted.stdout.trim().split('\n').map((l) => JSON.parse(l));
    const examples = fusedExamples(120, 2);
    expect(lines).toHaveLength(examples.length);
    expect(lines[0].features).toEqual(examples[0]!.features);
    const agree = lines.filter((l, i) => l.label === examples[i]!.label).length / examples.length;
    expect(agree).toBeCloseTo(final.accuracy, 10);

    // The same rows as unlabelled JSONL give the same predictions.
    const unlabelled = join(dir, 'fused.unlabelled.jsonl');
    writeFileSync(unlabelled, examples.map((e) => JSON.stringify({ message: e.text, ...e.features })).join('\n') + '\n');
    const fromJsonl = run('predict', '--model', MODEL, '--adapter', out, '--data', unlabelled, '--text-column', 'message', ...RUNTIME);
    expect(fromJsonl.stderr).toBe('');
    expect(fromJsonl.stdout).toBe(predicted.stdout);
  }, 120_000);

  it('predict --data: one source of texts, the model\'s feature columns present, column flags only with --data', () => {
    const out = join(dir, 'fused-adapter');
    const bothSources = run('predict', '--model', MODEL, '--adapter', out, '--data', join(dir, 'fused.eval.csv'), 'a text');
    expect(bothSources.stderr).toMatch(/Expected texts from one source, --data FILE or arguments \/ --file, but received both/);
    const missing = join(dir, 'no-amount.csv');
    writeFileSync(missing, 'text,channel\nthe movie was bad,web\n');
    const noColumn = run('predict', '--model', MODEL, '--adapter', out, '--data', missing, ...RUNTIME);
    expect(noColumn.status).toBe(1);
    expect(noColumn.stderr).toMatch(/no-amount\.csv: the header row has no "amount" column .*set --features \[ERR_DATA\]/);
    const stray = run('predict', '--model', MODEL, '--text-column', 'message', 'a text');
    expect(stray.stderr).toMatch(/Expected --text-column only with --data FILE but received it without/);
  });

  it('a bad feature cell or --categorical without --features exits 1 naming the flag', () => {
    const bad = join(dir, 'bad.csv');
    writeFileSync(bad, 'text,label,amount,channel\nthe movie was bad,risky,lots,web\nthe movie was good,safe,3,sms\n');
    const badCell = run('train', '--model', MODEL, '--data', bad, '--out', join(dir, 'x'), '--features', 'amount,channel');
    expect(badCell.status).toBe(1);
    expect(badCell.stderr).toMatch(/record 1 \(line 2\): Expected a number or an empty cell for numeric feature "amount" but received the string "lots" \(list it in --categorical/);
    const noFeatures = run('train', '--model', MODEL, '--data', bad, '--out', join(dir, 'x'), '--categorical', 'channel');
    expect(noFeatures.stderr).toMatch(/Expected --features with --categorical/);
  });
});

describe('lora-node train --task ordinal', () => {
  it('trains with the labels in order and eval reports MAE in classes and quadratic weighted kappa', () => {
    const train = writeCsv(join(dir, 'severity.csv'), severityExamples(240, 1));
    const held = writeCsv(join(dir, 'severity.eval.csv'), severityExamples(120, 2));
    const out = join(dir, 'ordinal-adapter');
    const trained = run('train', '--model', MODEL, '--data', train, '--eval', held, '--out', out, '--task', 'ordinal', '--labels', SEVERITIES.join(','), ...SETTINGS);
    expect(trained.stderr).toBe('');
    const r = result(trained.stdout);
    expect([r.task, r.labels]).toEqual(['ordinal', SEVERITIES]);
    expect(r.finalEvaluation.ordinal.mae).toBeLessThan(0.5);
    const evaluated = JSON.parse(run('eval', '--model', MODEL, '--adapter', out, '--data', held, ...RUNTIME).stdout);
    expect(evaluated.task).toBe('ordinal');
    expect(evaluated.report.ordinal.mae).toBeCloseTo(r.finalEvaluation.ordinal.mae, 10);
    expect(evaluated.report.ordinal.qwk).toBeCloseTo(r.finalEvaluation.ordinal.qwk, 10);
    const text = run('eval', '--model', MODEL, '--adapter', out, '--data', held, '--device', 'cpu', '--precision', 'fp32');
    expect(text.stdout).toMatch(/MAE \(classes\) \d\.\d{4}  quadratic weighted kappa -?\d\.\d{4}/);
    const predicted = run('predict', '--model', MODEL, '--adapter', out, '--device', 'cpu', '--precision', 'fp32', 'it was bad , worst , hate');
    expect(predicted.stdout).toMatch(/severity \d\.\d\d/);
  }, 120_000);
});
