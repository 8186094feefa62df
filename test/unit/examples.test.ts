import { describe, it, expect, afterAll } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { encodeLabels, inferTask, labelSpace, loadExamples, loadInputs, type Example } from '../../lib/data/examples.js';
import { caught } from '../helpers/errors.js';

const dir = mkdtempSync(path.join(tmpdir(), 'lora-node-examples-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let fileCount = 0;
/** Writes `content` to a fresh file named like `name` and returns its path. */
function file(name: string, content: string): string {
  const full = path.join(dir, `${fileCount++}-${name}`);
  writeFileSync(full, content);
  return full;
}

async function rejection(promise: Promise<unknown>): Promise<{ code?: string; message: string; name: string }> {
  try {
    await promise;
  } catch (error) {
    return error as { code?: string; message: string; name: string };
  }
  throw new Error('expected a rejection');
}


describe('loadExamples: CSV', () => {
  it('reads RFC 4180 quoting: commas, doubled quotes and newlines inside quotes, CRLF rows', async () => {
    const csv = file(
      'quoted.csv',
      'id,text,label\r\n' +
        '1,"Refund, please",billing\r\n' +
        '2,"She said ""hi""\r\nthen left",other\r\n' +
        '3,plain text,billing\r\n',
    );
    expect(await loadExamples(csv)).toEqual([
      { text: 'Refund, please', label: 'billing' },
      { text: 'She said "hi"\r\nthen left', label: 'other' },
      { text: 'plain text', label: 'billing' },
    ]);
  });

  it('reads TSV by extension, a byte order mark, blank lines, and other column names', async () => {
    const tsv = file('data.tsv', '\uFEFFbody\ty\nthis, has commas\tspam\n\nok\tham\n');
    expect(await loadExamples(tsv, { textColumn: 'body', labelColumn: 'y' })).toEqual([
      { text: 'this, has commas', label: 'spam' },
      { text: 'ok', label: 'ham' },
    ]);
  });

  it('splits multi-label cells on the separator, trimmed; an empty cell is no labels', async () => {
    const csv = file('multi.csv', 'text,label\na,"spam | abuse"\nb,\nc,abuse\n');
    expect(await loadExamples(csv, { task: 'multi-label' })).toEqual([
      { text: 'a', label: ['spam', 'abuse'] },
      { text: 'b', label: [] },
      { text: 'c', label: ['abuse'] },
    ]);
    const semicolons = file('multi2.csv', 'text,label\na,x;y\nb,y\n');
    expect(await loadExamples(semicolons, { labelSeparator: ';' })).toEqual([
      { text: 'a', label: ['x', 'y'] },
      { text: 'b', label: ['y'] },
    ]);
  });

  it('parses regression targets strictly', async () => {
    const csv = file('reg.csv', 'text,label\na,0.5\nb,-2e-3\nc, 7 \n');
    expect(await loadExamples(csv, { task: 'regression' })).toEqual([
      { text: 'a', label: 0.5 },
      { text: 'b', label: -0.002 },
      { text: 'c', label: 7 },
    ]);
  });

  it('infers the task from the cells when none is given', async () => {
    // Non-integer numbers → regression; few integers → class names; a separator anywhere → multi-label.
    expect(await loadExamples(file('a.csv', 'text,label\na,0.5\nb,1\n'))).toEqual([
      { text: 'a', label: 0.5 },
      { text: 'b', label: 1 },
    ]);
    expect(await loadExamples(file('b.csv', 'text,label\na,0\nb,1\nc,2\n'))).toEqual([
      { text: 'a', label: '0' },
      { text: 'b', label: '1' },
      { text: 'c', label: '2' },
    ]);
    expect(await loadExamples(file('c.csv', 'text,label\na,x|y\nb,x\n'))).toEqual([
      { text: 'a', label: ['x', 'y'] },
      { text: 'b', label: ['x'] },
    ]);
  });

  it('returns no examples for a file with only a header', async () => {
    expect(await loadExamples(file('empty.csv', 'text,label\n'))).toEqual([]);
  });
});

describe('loadExamples: JSONL', () => {
  it('reads one object per line, skips blank lines, keeps strings, arrays and numbers', async () => {
    const jsonl = file('d.jsonl', '{"text":"a","label":"pos"}\r\n\n{"text":"b","label":"neg","extra":1}\n   \n');
    expect(await loadExamples(jsonl)).toEqual([
      { text: 'a', label: 'pos' },
      { text: 'b', label: 'neg' },
    ]);
    const multi = file('m.ndjson', '{"text":"a","label":["x","y","x"]}\n{"text":"b","label":[]}\n');
    expect(await loadExamples(multi)).toEqual([
      { text: 'a', label: ['x', 'y'] },
      { text: 'b', label: [] },
    ]);
    const reg = file('r.jsonl', '{"text":"a","label":0.25}\n{"text":"b","label":3}\n');
    expect(await loadExamples(reg)).toEqual([
      { text: 'a', label: 0.25 },
      { text: 'b', label: 3 },
    ]);
  });

  it('turns numbers and booleans into class names for classification', async () => {
    const ints = file('i.jsonl', '{"text":"a","label":1}\n{"text":"b","label":0}\n');
    expect(await loadExamples(ints)).toEqual([
      { text: 'a', label: '1' },
      { text: 'b', label: '0' },
    ]);
    const bools = file('b.jsonl', '{"text":"a","label":true}\n');
    expect(await loadExamples(bools, { task: 'binary' })).toEqual([{ text: 'a', label: 'true' }]);
    const asClasses = file('c.jsonl', '{"text":"a","label":0.5}\n');
    expect(await loadExamples(asClasses, { task: 'multi-class' })).toEqual([{ text: 'a', label: '0.5' }]);
  });

  it('reads a .txt file when told the format', async () => {
    const txt = file('data.txt', '{"text":"a","label":"x"}\n');
    expect(await loadExamples(txt, { format: 'jsonl' })).toEqual([{ text: 'a', label: 'x' }]);
  });
});

describe('loadExamples: bad rows are errors naming the file and the row', () => {
  async function dataError(promise: Promise<unknown>, message: string): Promise<void> {
    const e = await rejection(promise);
    expect(e.name).toBe('FormatError');
    expect(e.code).toBe('ERR_DATA');
    expect(e.message).toBe(message);
  }

  it('a missing text or label column lists the columns found', async () => {
    const csv = file('cols.csv', 'content,label\na,x\n');
    await dataError(loadExamples(csv), `${csv}: the header row has no "text" column (columns found: "content", "label"); set options.textColumn`);
    await dataError(loadExamples(csv, { textColumn: 'content', labelColumn: 'y' }),
      `${csv}: the header row has no "y" column (columns found: "content", "label"); set options.labelColumn`);
    const jsonl = file('cols.jsonl', '{"text":"a","label":"x"}\n{"text":"b","category":"y"}\n');
    await dataError(loadExamples(jsonl), `${jsonl}, line 2: no "label" field (fields found: "text", "category"); set options.labelColumn`);
  });

  it('empty text, with the record number and the line it starts on', async () => {
    const csv = file('empty-text.csv', 'text,label\n"two\nlines",x\n\n"  ",y\n');
    await dataError(loadExamples(csv), `${csv}, record 2 (line 5): empty text in "text"`);
    const jsonl = file('empty-text.jsonl', '{"text":"a","label":"x"}\n\n{"text":"","label":"y"}\n');
    await dataError(loadExamples(jsonl), `${jsonl}, line 3: empty text in "text"`);
  });

  it('a record spanning lines names the range', async () => {
    const csv = file('span.csv', 'text,label\na,1.5\n"multi\nline",oops\n');
    await dataError(loadExamples(csv, { task: 'regression' }),
      `${csv}, record 2 (lines 3-4): Expected a finite number (regression target) for label but received the string "oops"`);
  });

  it('NaN, Infinity and empty regression targets', async () => {
    for (const cell of ['NaN', 'Infinity', '', '1e999', '0x10']) {
      const csv = file('nan.csv', `text,label\na,1\nb,${cell}\n`);
      await dataError(loadExamples(csv, { task: 'regression' }),
        `${csv}, record 2 (line 3): Expected a finite number (regression target) for label but received the string ${JSON.stringify(cell)}`);
    }
    const jsonl = file('nan.jsonl', '{"text":"a","label":NaN}\n');
    const e = await rejection(loadExamples(jsonl, { task: 'regression' }));
    expect(e.code).toBe('ERR_DATA');
    expect(e.message).toMatch(new RegExp(`^${jsonl.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}, line 1: invalid JSON: .*\\(NaN and Infinity are not JSON; targets must be finite numbers\\)$`));
  });

  it('invalid JSON and rows that are not objects', async () => {
    const broken = file('broken.jsonl', '{"text":"a","label":"x"}\n{"text": "b", label: "y"}\n');
    const e = await rejection(loadExamples(broken));
    expect(e.code).toBe('ERR_DATA');
    expect(e.message.startsWith(`${broken}, line 2: invalid JSON: `)).toBe(true);
    const array = file('array.jsonl', '["a","x"]\n');
    await dataError(loadExamples(array), `${array}, line 1: Expected a JSON object for the row but received an array of length 2`);
  });

  it('labels of the wrong type', async () => {
    const jsonl = file('types.jsonl', '{"text":"a","label":["x"]}\n{"text":"b","label":"y"}\n');
    await dataError(loadExamples(jsonl), `${jsonl}, line 2: Expected an array of non-empty strings (multi-label) for label but received the string "y"`);
    const reg = file('types2.jsonl', '{"text":"a","label":"0.5"}\n');
    await dataError(loadExamples(reg, { task: 'regression' }),
      `${reg}, line 1: Expected a finite number (regression target) for label but received the string "0.5"`);
    const cls = file('types3.jsonl', '{"text":"a","label":"x"}\n{"text":"b","label":null}\n');
    await dataError(loadExamples(cls), `${cls}, line 2: Expected a string, number or boolean (class label) for label but received null`);
    const text = file('types4.jsonl', '{"text":5,"label":"x"}\n');
    await dataError(loadExamples(text), `${text}, line 1: Expected a string for text but received number 5`);
  });

  it('an empty class label', async () => {
    const csv = file('empty-label.csv', 'text,label\na,x\nb,\n');
    await dataError(loadExamples(csv), `${csv}, record 2 (line 3): empty label (for multi-label rows without labels, pass task: 'multi-label')`);
  });

  it('CSV syntax errors from the parser keep its line number', async () => {
    const csv = file('fields.csv', 'text,label\na,x,extra\n');
    const e = await rejection(loadExamples(csv));
    expect(e.code).toBe('ERR_DATA');
    expect(e.message).toBe(`${csv}: Invalid Record Length: expect 2, got 3 on line 2`);
  });

  it('options and files', async () => {
    let e = await rejection(loadExamples(file('x.txt', '')));
    expect(e.code).toBe('ERR_INVALID_ARGUMENT');
    expect(e.message).toMatch(/^Expected a path ending in \.csv, \.tsv, \.tab, \.jsonl or \.ndjson .* for path but received the string/);
    e = await rejection(loadExamples(file('y.csv', ''), { task: 'ranking' as never }));
    expect(e.message).toBe("Expected one of 'binary', 'multi-class', 'multi-label', 'regression', 'ordinal' for options.task but received the string \"ranking\"");
    e = await rejection(loadExamples(path.join(dir, 'missing.csv')));
    expect(e.code).toBe('ERR_IO');
    expect(e.message).toContain(`Cannot read ${path.join(dir, 'missing.csv')}: ENOENT`);
  });
});

describe('loadInputs: unlabelled rows', () => {
  it('reads the text and feature columns of CSV and JSONL without a label column; other columns are ignored', async () => {
    const csv = file('in.csv', 'id,message,amount,channel\n1,"Refund, please",12.5,web\n2,hello,,sms\n');
    const jsonl = file('in.jsonl', '{"message":"Refund, please","amount":12.5,"channel":"web","id":1}\n\n{"message":"hello","amount":null,"channel":"sms"}\n');
    const options = { textColumn: 'message', featureColumns: ['amount', 'channel'], categoricalColumns: ['channel'] };
    const expected = [
      { text: 'Refund, please', features: { amount: 12.5, channel: 'web' } },
      { text: 'hello', features: { amount: null, channel: 'sms' } },
    ];
    expect(await loadInputs(csv, options)).toEqual(expected);
    expect(await loadInputs(jsonl, options)).toEqual(expected);
    expect(await loadInputs(file('plain.tsv', 'text\tlabel\nfirst\tx\nsecond\ty\n'))).toEqual([{ text: 'first' }, { text: 'second' }]);
    expect(await loadInputs(file('empty.csv', 'text\n'))).toEqual([]);
  });

  it('bad rows and label options are errors as in loadExamples', async () => {
    const noText = await rejection(loadInputs(file('no-text.csv', 'body\nhi\n')));
    expect(noText.code).toBe('ERR_DATA');
    expect(noText.message).toMatch(/the header row has no "text" column \(columns found: "body"\); set options\.textColumn/);
    const empty = await rejection(loadInputs(file('blank.jsonl', '{"text":"  "}\n')));
    expect(empty.message).toMatch(/blank\.jsonl, line 1: empty text in "text"/);
    const badFeature = await rejection(loadInputs(file('bad.csv', 'text,amount\nhi,lots\n'), { featureColumns: ['amount'] }));
    expect(badFeature.message).toMatch(/record 1 \(line 2\): Expected a number or an empty cell for numeric feature "amount" but received the string "lots"/);
    const withLabel = await rejection(loadInputs(file('x.csv', 'text\nhi\n'), { labelColumn: 'label' } as never));
    expect(withLabel.code).toBe('ERR_INVALID_ARGUMENT');
    expect(withLabel.message).toMatch(/Expected no options\.labelColumn \(loadInputs reads unlabelled rows; use loadExamples for labels\) but received the string "label"/);
  });
});

describe('inferTask', () => {
  const task = (...labels: unknown[]) => inferTask(labels.map((label) => ({ label })));

  it('follows the documented rule', () => {
    expect(task(['a'], [])).toBe('multi-label');
    expect(task('a', 'b', 'a')).toBe('binary');
    expect(task('a', 'b', 'c')).toBe('multi-class');
    expect(task(0.5, 1, 2)).toBe('regression');
    expect(task(0, 1, 1)).toBe('binary');
    expect(task(0, 1, 2)).toBe('multi-class');
    // 21 distinct integers are too many to be class ids.
    expect(task(...Array.from({ length: 21 }, (_, i) => i))).toBe('regression');
    expect(task(...Array.from({ length: 20 }, (_, i) => i))).toBe('multi-class');
  });

  it('needs examples', () => {
    expect(caught(() => inferTask([])).message).toBe('Expected a non-empty array of examples for examples but received an array of length 0');
  });
});

describe('labelSpace and encodeLabels', () => {
  const classes: Example[] = [
    { text: 'a', label: 'b' },
    { text: 'b', label: 'a' },
    { text: 'c', label: 'b' },
  ];

  it('class ids for binary and multi-class, in sorted label order', () => {
    const labels = labelSpace(classes, 'binary');
    expect(labels).toEqual(['a', 'b']);
    expect(encodeLabels(classes, labels, 'binary')).toEqual(Int32Array.from([1, 0, 1]));
  });

  it('sorts integer-like labels by value', () => {
    const ex = ['10', '2', '1'].map((label) => ({ text: 't', label }));
    expect(labelSpace(ex, 'multi-class')).toEqual(['1', '2', '10']);
  });

  it('multi-hot rows for multi-label', () => {
    const ex: Example[] = [
      { text: 'a', label: ['spam', 'abuse'] },
      { text: 'b', label: [] },
      { text: 'c', label: ['abuse'] },
    ];
    const labels = labelSpace(ex, 'multi-label');
    expect(labels).toEqual(['abuse', 'spam']);
    expect(encodeLabels(ex, labels, 'multi-label')).toEqual(Float32Array.from([1, 1, 0, 0, 1, 0]));
  });

  it('targets for regression', () => {
    const ex: Example[] = [
      { text: 'a', label: 0.5 },
      { text: 'b', label: -2 },
    ];
    expect(labelSpace(ex, 'regression')).toEqual(['LABEL_0']);
    expect(encodeLabels(ex, ['LABEL_0'], 'regression')).toEqual(Float32Array.from([0.5, -2]));
  });

  it('an unknown label names the example and lists the known labels', () => {
    const evalSet: Example[] = [...classes, { text: 'd', label: 'c' }];
    const e = caught(() => encodeLabels(evalSet, ['a', 'b'], 'multi-class'));
    expect(e.code).toBe('ERR_DATA');
    expect(e.message).toBe('examples[3] has the unknown label "c"; known labels: "a", "b"');
    const multi = caught(() => encodeLabels([{ text: 'a', label: ['x', 'zz'] }], ['x'], 'multi-label'));
    expect(multi.message).toBe('examples[0] has the unknown label "zz"; known labels: "x"');
  });

  it('labels of the wrong type for the task', () => {
    expect(caught(() => encodeLabels([{ text: 'a', label: NaN }], ['LABEL_0'], 'regression')).message)
      .toBe('examples[0]: Expected a finite number (regression target) for label but received number NaN');
    expect(caught(() => labelSpace([{ text: 'a', label: 'x' }], 'multi-label')).message)
      .toBe('examples[0]: Expected an array of strings (multi-label) for label but received the string "x"');
  });
});
