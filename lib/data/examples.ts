// Training examples: read from CSV/TSV or JSONL, labels checked against the task,
// then encoded into the flat buffers the native trainer takes.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import { ArgumentError, FormatError, LoraNodeError, describeReceived, expected, type ErrorCode } from '../errors.js';
import { type FeatureColumns, featureColumnsOption, readFeatureCells } from '../features/columns.js';
import type { Features } from '../features/schema.js';
import { TASKS, type Task } from '../task.js';
import { isPlainObject, nonEmptyString, oneOf, optionsObject } from '../validate.js';

/** A string (binary, multi-class), a list of strings (multi-label) or a number (regression). */
export type Label = string | string[] | number;

export interface Example {
  text: string;
  label: Label;
  /** Tabular attributes beside the text: numbers (numeric), strings (categorical) or null (missing). */
  features?: Features;
}

export interface LoadExamplesOptions {
  /** Column (CSV) or field (JSONL) holding the text. Default 'text'. */
  textColumn?: string;
  /** Column or field holding the label. Default 'label'. */
  labelColumn?: string;
  /** 'auto' (default) picks by extension: .csv → CSV, .tsv/.tab → tab-separated, .jsonl/.ndjson → JSONL. */
  format?: 'csv' | 'jsonl' | 'auto';
  /** CSV field delimiter. Default: a tab for .tsv/.tab files, else a comma. */
  delimiter?: string;
  /** Separates the labels of one multi-label CSV cell ("spam|abuse"). Default '|'. */
  labelSeparator?: string;
  /** How to read labels. When absent the task is inferred; see inferTask and loadExamples. */
  task?: Task;
  /** Columns (fields) read into Example.features; numeric unless listed in categoricalColumns. */
  featureColumns?: string[];
  /** Which of featureColumns hold categories (kept as strings). */
  categoricalColumns?: string[];
}

/** Integer labels with at most this many distinct values are read as class ids, not targets. */
const MAX_INTEGER_CLASSES = 20;

// The one place that builds data errors, so the code can become a member of ErrorCode.
function dataError(message: string, cause?: unknown): FormatError {
  return new FormatError('ERR_DATA', message, cause === undefined ? undefined : { cause });
}

/**
 * Reads examples from a CSV/TSV file (RFC 4180, header row) or a JSONL file (one object per line,
 * blank lines skipped). Labels are read for `options.task`; without it the task is inferred:
 * in JSONL by inferTask on the labels as written; in CSV, where every cell is text, a label
 * containing `labelSeparator` makes the file multi-label, labels that are all numbers are read as
 * numbers and given to inferTask, anything else is a class name. Returns [] for a file with no rows.
 * Bad rows are FormatErrors (code ERR_DATA) naming the file and the row.
 */
export async function loadExamples(file: string, options?: LoadExamplesOptions): Promise<Example[]> {
  nonEmptyString(file, 'path');
  const opts = optionsObject(options, 'options');
  const labelColumn = opts['labelColumn'] === undefined ? 'label' : nonEmptyString(opts['labelColumn'], 'options.labelColumn');
  const separator = opts['labelSeparator'] === undefined ? '|' : nonEmptyString(opts['labelSeparator'], 'options.labelSeparator');
  const task = opts['task'] === undefined ? undefined : oneOf(opts['task'], TASKS, 'options.task');
  const { rows, csv, textColumn, features } = await readRows(file, opts, labelColumn);
  if (rows.length === 0) return [];
  const reader: LabelReader = { csv, separator, column: labelColumn };
  const rowTask = task ?? inferRowTask(rows, reader);
  return rows.map((row) => {
    const at = `${file}, ${row.where}`;
    const example: Example = { text: checkText(row.text, textColumn, at), label: readLabel(row.label, rowTask, reader, at) };
    if (features) example.features = readFeatureCells(row.features, features, csv, at);
    return example;
  });
}

/** Text to classify, with the features a model trained on them needs. */
export interface Input {
  text: string;
  features?: Features;
}

export type LoadInputsOptions = Omit<LoadExamplesOptions, 'labelColumn' | 'labelSeparator' | 'task'>;

/**
 * Reads unlabelled rows (text and feature columns; any other column is ignored) from the same
 * CSV/TSV and JSONL files as loadExamples, with the same rules and errors. Returns [] for a file
 * with no rows.
 */
export async function loadInputs(file: string, options?: LoadInputsOptions): Promise<Input[]> {
  nonEmptyString(file, 'path');
  const opts = optionsObject(options, 'options');
  for (const name of ['labelColumn', 'labelSeparator', 'task'])
    if (opts[name] !== undefined) throw new ArgumentError(`Expected no options.${name} (loadInputs reads unlabelled rows; use loadExamples for labels) but received ${describeReceived(opts[name])}`);
  const { rows, csv, textColumn, features } = await readRows(file, opts, undefined);
  return rows.map((row) => {
    const at = `${file}, ${row.where}`;
    const input: Input = { text: checkText(row.text, textColumn, at) };
    if (features) input.features = readFeatureCells(row.features, features, csv, at);
    return input;
  });
}

/** The options both readers share, checked, and the file's rows; labelColumn undefined: no labels. */
async function readRows(file: string, opts: Record<string, unknown>, labelColumn: string | undefined) {
  const textColumn = opts['textColumn'] === undefined ? 'text' : nonEmptyString(opts['textColumn'], 'options.textColumn');
  const format = resolveFormat(file, oneOf(opts['format'], ['csv', 'jsonl', 'auto'] as const, 'options.format', 'auto'));
  const delimiter = opts['delimiter'] === undefined ? defaultDelimiter(file) : nonEmptyString(opts['delimiter'], 'options.delimiter');
  const features = featureColumnsOption(opts['featureColumns'], opts['categoricalColumns']);
  const content = await readText(file);
  const columns: Columns = { text: textColumn, label: labelColumn, features: features?.names ?? [] };
  const rows = format === 'csv' ? readCsvRows(content, file, delimiter, columns) : readJsonlRows(content, file, columns);
  return { rows, csv: format === 'csv', textColumn, features };
}

/**
 * The task that labels call for: any array → 'multi-label'; all numbers → 'regression', unless
 * they are all integers with at most 20 distinct values (then class ids); otherwise, by the
 * number of distinct labels: exactly 2 → 'binary', else 'multi-class'.
 */
export function inferTask(examples: readonly { label: unknown }[]): Task {
  if (!Array.isArray(examples) || examples.length === 0) throw expected('a non-empty array of examples', 'examples', examples);
  const labels = examples.map((e) => e.label);
  if (labels.some(Array.isArray)) return 'multi-label';
  const distinct = new Set(labels.map(String));
  if (labels.every((l) => typeof l === 'number')) {
    const classIds = labels.every((l) => Number.isInteger(l)) && distinct.size <= MAX_INTEGER_CLASSES;
    if (!classIds) return 'regression';
  }
  return distinct.size === 2 ? 'binary' : 'multi-class';
}

/**
 * The sorted labels of a dataset (multi-label: the union of every example's labels). Integer-like
 * labels sort by value ("2" before "10"), others by UTF-16 code units, so the order never depends
 * on the locale. Regression has one output, named 'LABEL_0' as transformers names it.
 */
export function labelSpace(examples: readonly Example[], task: Task): string[] {
  checkExamples(examples);
  oneOf(task, TASKS, 'task');
  if (task === 'regression') return ['LABEL_0'];
  const seen = new Set<string>();
  examples.forEach((e, i) => {
    for (const label of task === 'multi-label' ? multiLabelOf(e, i) : [classLabelOf(e, i)]) seen.add(label);
  });
  return sortLabels([...seen]);
}

/**
 * Labels as the trainer takes them: class ids (Int32Array [n]) for binary and multi-class,
 * multi-hot rows (Float32Array [n * labels.length]) for multi-label, targets (Float32Array [n])
 * for regression. A label not in `labels` is an error naming the example.
 */
export function encodeLabels(examples: readonly Example[], labels: readonly string[], task: Task): Int32Array | Float32Array {
  checkExamples(examples);
  oneOf(task, TASKS, 'task');
  if (task === 'regression') {
    return Float32Array.from(examples, (e, i) => {
      if (typeof e.label !== 'number' || !Number.isFinite(e.label))
        throw dataError(`examples[${i}]: Expected a finite number (regression target) for label but received ${describeReceived(e.label)}`);
      return e.label;
    });
  }
  const ids = labelIds(labels);
  const idOf = (label: string, i: number): number => {
    const id = ids.get(label);
    if (id === undefined) throw dataError(`examples[${i}] has the unknown label ${JSON.stringify(label)}; known labels: ${listLabels(labels)}`);
    return id;
  };
  if (task !== 'multi-label') return Int32Array.from(examples, (e, i) => idOf(classLabelOf(e, i), i));
  const K = labels.length;
  const multiHot = new Float32Array(examples.length * K);
  examples.forEach((e, i) => {
    for (const label of multiLabelOf(e, i)) multiHot[i * K + idOf(label, i)] = 1;
  });
  return multiHot;
}

// ---- reading files ----

interface RawRow {
  /** "line 3" (JSONL) or "record 2 (line 3)" (CSV), for error messages. */
  where: string;
  text: unknown;
  label: unknown;
  /** Raw cells / fields of the feature columns. */
  features: Record<string, unknown>;
}
interface Columns {
  text: string;
  /** undefined: the rows carry no label (loadInputs). */
  label: string | undefined;
  features: string[];
}

function resolveFormat(file: string, format: 'csv' | 'jsonl' | 'auto'): 'csv' | 'jsonl' {
  if (format !== 'auto') return format;
  const ext = path.extname(file).toLowerCase();
  if (ext === '.csv' || ext === '.tsv' || ext === '.tab') return 'csv';
  if (ext === '.jsonl' || ext === '.ndjson') return 'jsonl';
  throw expected("a path ending in .csv, .tsv, .tab, .jsonl or .ndjson (or options.format 'csv' or 'jsonl')", 'path', file);
}

function defaultDelimiter(file: string): string {
  const ext = path.extname(file).toLowerCase();
  return ext === '.tsv' || ext === '.tab' ? '\t' : ',';
}

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new LoraNodeError('ERR_IO', `Cannot read ${file}: ${(error as Error).message}`, { cause: error });
  }
}

interface CsvRecord {
  record: string[];
  info: { lines: number; empty_lines: number };
}

function readCsvRows(content: string, file: string, delimiter: string, columns: Columns): RawRow[] {
  let records: CsvRecord[];
  try {
    // skip_empty_lines: blank lines between rows are layout, as pandas reads them.
    records = parseCsv(content, { bom: true, delimiter, info: true, skip_empty_lines: true }) as unknown as CsvRecord[];
  } catch (error) {
    throw dataError(`${file}: ${(error as Error).message}`, error);
  }
  const [header, ...body] = records;
  if (header === undefined) return [];
  const textIndex = columnIndex(header.record, columns.text, 'textColumn', file);
  const labelIndex = columns.label === undefined ? -1 : columnIndex(header.record, columns.label, 'labelColumn', file);
  const featureIndex = columns.features.map((name) => columnIndex(header.record, name, 'featureColumns', file));
  // info.lines is the line a record ends on; where it starts follows from the previous end
  // and the blank lines skipped since, so a quoted multi-line field reports its first line.
  let previous = header.info;
  return body.map(({ record, info }, r) => {
    const first = previous.lines + 1 + (info.empty_lines - previous.empty_lines);
    previous = info;
    const lines = first === info.lines ? `line ${first}` : `lines ${first}-${info.lines}`;
    const features = Object.fromEntries(columns.features.map((name, f) => [name, record[featureIndex[f]!]]));
    return { where: `record ${r + 1} (${lines})`, text: record[textIndex], label: labelIndex < 0 ? undefined : record[labelIndex], features };
  });
}

function columnIndex(header: string[], name: string, option: string, file: string): number {
  const index = header.indexOf(name);
  const found = `columns found: ${header.map((c) => JSON.stringify(c)).join(', ')}`;
  if (index < 0) throw dataError(`${file}: the header row has no ${JSON.stringify(name)} column (${found}); set options.${option}`);
  if (header.indexOf(name, index + 1) >= 0) throw dataError(`${file}: the header row has more than one ${JSON.stringify(name)} column (${found})`);
  return index;
}

function readJsonlRows(content: string, file: string, columns: Columns): RawRow[] {
  const rows: RawRow[] = [];
  const lines = content.replace(/^\uFEFF/, '').split('\n');
  lines.forEach((raw, i) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') return;
    const at = `${file}, line ${i + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      // Python's json.dumps writes NaN and Infinity, which are not JSON.
      const hint = /\b(NaN|-?Infinity)\b/.test(line) ? ' (NaN and Infinity are not JSON; targets must be finite numbers)' : '';
      throw dataError(`${at}: invalid JSON: ${(error as Error).message}${hint}`, error);
    }
    if (!isPlainObject(value)) throw dataError(`${at}: Expected a JSON object for the row but received ${describeReceived(value)}`);
    const wanted = [
      [columns.text, 'textColumn'],
      ...(columns.label === undefined ? [] : [[columns.label, 'labelColumn'] as const]),
      ...columns.features.map((f) => [f, 'featureColumns'] as const),
    ] as const;
    for (const [name, option] of wanted) {
      if (!Object.hasOwn(value, name))
        throw dataError(`${at}: no ${JSON.stringify(name)} field (fields found: ${Object.keys(value).map((k) => JSON.stringify(k)).join(', ')}); set options.${option}`);
    }
    const features = Object.fromEntries(columns.features.map((name) => [name, value[name]]));
    rows.push({ where: `line ${i + 1}`, text: value[columns.text], label: columns.label === undefined ? undefined : value[columns.label], features });
  });
  return rows;
}

function checkText(text: unknown, column: string, at: string): string {
  if (typeof text !== 'string') throw dataError(`${at}: Expected a string for ${column} but received ${describeReceived(text)}`);
  if (text.trim() === '') throw dataError(`${at}: empty text in ${JSON.stringify(column)}`);
  return text;
}

// ---- labels as written in a file ----

interface LabelReader {
  /** CSV cells are always strings, so numbers and lists have to be parsed out of them. */
  csv: boolean;
  separator: string;
  column: string;
}

/** The task of rows read without options.task (the rule is in loadExamples' comment). */
function inferRowTask(rows: readonly RawRow[], reader: LabelReader): Task {
  if (!reader.csv) return inferTask(rows);
  const cells = rows.map((r) => String(r.label));
  if (cells.some((c) => c.includes(reader.separator))) return 'multi-label';
  const numbers = cells.map(strictNumber);
  if (numbers.every((n) => n !== undefined)) return inferTask(numbers.map((label) => ({ label })));
  return inferTask(cells.map((c) => ({ label: c.trim() })));
}

function readLabel(raw: unknown, task: Task, reader: LabelReader, at: string): Label {
  const name = reader.column;
  if (task === 'regression') {
    const value = reader.csv ? strictNumber(String(raw)) : raw;
    if (typeof value !== 'number' || !Number.isFinite(value))
      throw dataError(`${at}: Expected a finite number (regression target) for ${name} but received ${describeReceived(raw)}`);
    return value;
  }
  if (task === 'multi-label') {
    if (reader.csv) return unique(String(raw).split(reader.separator).map((l) => l.trim()).filter((l) => l !== ''));
    if (!Array.isArray(raw) || !raw.every((l) => typeof l === 'string' && l.trim() !== ''))
      throw dataError(`${at}: Expected an array of non-empty strings (multi-label) for ${name} but received ${describeReceived(raw)}`);
    return unique(raw as string[]);
  }
  // Binary and multi-class: class names; numbers and booleans in JSON name classes too.
  const label = reader.csv ? String(raw).trim() : typeof raw === 'number' || typeof raw === 'boolean' ? String(raw) : raw;
  if (typeof label !== 'string')
    throw dataError(`${at}: Expected a string, number or boolean (class label) for ${name} but received ${describeReceived(raw)}`);
  if (label.trim() === '') throw dataError(`${at}: empty ${name} (for multi-label rows without labels, pass task: 'multi-label')`);
  return label;
}

/** A finite number written plainly ("3", "-0.5", "1e-3"); "", "NaN", "Infinity", "0x10", "1,5" are not. */
function strictNumber(cell: string): number | undefined {
  const s = cell.trim();
  if (!/^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/.test(s)) return undefined;
  const value = Number(s);
  return Number.isFinite(value) ? value : undefined;
}

const unique = (labels: string[]): string[] => [...new Set(labels)];

// ---- labels of Example objects ----

function checkExamples(examples: readonly Example[]): void {
  if (!Array.isArray(examples)) throw expected('an array of examples', 'examples', examples);
}

function classLabelOf(e: Example, i: number): string {
  if (typeof e.label === 'string') return e.label;
  if (typeof e.label === 'number' && Number.isFinite(e.label)) return String(e.label);
  throw dataError(`examples[${i}]: Expected a string or number (class label) for label but received ${describeReceived(e.label)}`);
}

function multiLabelOf(e: Example, i: number): string[] {
  if (Array.isArray(e.label) && e.label.every((l) => typeof l === 'string')) return e.label;
  throw dataError(`examples[${i}]: Expected an array of strings (multi-label) for label but received ${describeReceived(e.label)}`);
}

function sortLabels(labels: string[]): string[] {
  if (labels.every((l) => /^-?\d{1,15}$/.test(l))) return labels.sort((a, b) => Number(a) - Number(b));
  return labels.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function labelIds(labels: readonly string[]): Map<string, number> {
  if (!Array.isArray(labels) || !labels.every((l) => typeof l === 'string')) throw expected('an array of label strings', 'labels', labels);
  const ids = new Map<string, number>();
  labels.forEach((label, id) => {
    if (ids.has(label)) throw new ArgumentError(`Expected distinct labels for labels but received ${JSON.stringify(label)} twice`);
    ids.set(label, id);
  });
  return ids;
}

function listLabels(labels: readonly string[]): string {
  const shown = labels.slice(0, 20).map((l) => JSON.stringify(l)).join(', ');
  return labels.length > 20 ? `${shown}, … (${labels.length} in all)` : shown;
}
