// Fuzzes what the addon reads from disk: mutants (bytes flipped in the header and in the
// data, the header length changed, the file cut short or grown) of three real files — a
// checkpoint's model.safetensors, the same checkpoint in bitsandbytes 4-bit form (packed
// weights, absmax, quant_state JSON) and a PEFT adapter — read with readSafetensors and
// loaded as a checkpoint or adapter. Each mutant is written to the log before it is read,
// so after a crash the log's last line names it.
//   node test/fuzz/safetensors-files.mjs [LOG_FILE] [COUNT]   (after npm run build:ts)
// Exit 0 and "DONE <n> mutants" on stdout: no file crashed the process.
import { cpSync, mkdtempSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const ROOT = join(import.meta.dirname, '..', '..');
const { loadAddon } = await import(pathToFileURL(join(ROOT, 'dist', 'native', 'loader.js')).href);
const { readSafetensors, writeSafetensors } = await import(pathToFileURL(join(ROOT, 'dist', 'index.js')).href);
const addon = loadAddon();
const tmp = mkdtempSync(join(tmpdir(), 'lora-node-fuzz-files-'));
const LOG = openSync(process.argv[2] ?? join(tmp, 'mutants.log'), 'w');
const COUNT = Number(process.argv[3] ?? 400);
const FIXTURE = join(ROOT, 'test', 'fixtures', 'tiny');
const checkpoint = join(tmp, 'checkpoint');
cpSync(join(FIXTURE, 'checkpoint'), checkpoint, { recursive: true });
// The 4-bit form: the block linears replaced by bitsandbytes' entries (as test/golden/qlora.test.ts builds it).
const fourBit = join(tmp, 'checkpoint-nf4');
cpSync(join(FIXTURE, 'checkpoint'), fourBit, { recursive: true });
const full = (await readSafetensors(join(fourBit, 'model.safetensors'))).tensors;
const nf4 = (await readSafetensors(join(FIXTURE, 'model_nf4.safetensors'))).tensors;
for (const name of Object.keys(nf4)) if (name.endsWith('.weight')) delete full[name];
await writeSafetensors(join(fourBit, 'model.safetensors'), { ...full, ...nf4 }, { format: 'pt' });
const adapterFile = join(FIXTURE, 'lora_adapter', 'adapter_model.safetensors');
const TARGETS = [
  { name: 'checkpoint', file: join(checkpoint, 'model.safetensors'), original: readFileSync(join(checkpoint, 'model.safetensors')) },
  { name: '4-bit checkpoint', file: join(fourBit, 'model.safetensors'), original: readFileSync(join(fourBit, 'model.safetensors')) },
  { name: 'adapter', file: join(tmp, 'adapter_model.safetensors'), original: readFileSync(adapterFile) },
];
const LORA = {
  modules: [0, 1].flatMap((l) => ['q_lin', 'v_lin'].map((m) => ({ module: `distilbert.transformer.layer.${l}.attention.${m}`, r: 4, alpha: 8 }))),
  dropout: 0, useRslora: false, init: 'kaiming', bias: 'none', modulesToSave: ['pre_classifier', 'classifier'],
};

// A deterministic generator, so a failing mutant can be made again from its number.
let seed = 12345;
const next = (n) => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) >>> 8) % n;

function mutant(i, original) {
  const headerEnd = 8 + Number(original.readBigUInt64LE(0));
  const b = Buffer.from(original);
  switch (i % 6) {
    case 0: // bytes of the JSON header
      for (let k = 0; k <= next(4); k++) b[8 + next(headerEnd - 8)] = next(256);
      return { what: 'header bytes', bytes: b };
    case 1: // header JSON characters swapped for digits, quotes, brackets
      for (let k = 0; k <= next(3); k++) b[8 + next(headerEnd - 8)] = '0123456789"[]{}:,-e'.charCodeAt(next(19));
      return { what: 'header characters', bytes: b };
    case 2: // the header length
      b.writeBigUInt64LE(BigInt(next(2) ? next(headerEnd * 2) : 2 ** 40 + next(1000)), 0);
      return { what: 'header length', bytes: b };
    case 3: // cut short
      return { what: 'truncated', bytes: b.subarray(0, next(b.length)) };
    case 4: // data bytes (NaN and Inf patterns among them)
      for (let k = 0; k < 16; k++) b[headerEnd + next(b.length - headerEnd)] = next(2) ? 0xff : next(256);
      return { what: 'data bytes', bytes: b };
    default: // grown with junk
      return { what: 'grown', bytes: Buffer.concat([b, Buffer.alloc(1 + next(64), 0x41)]) };
  }
}

const loaded = Object.fromEntries(TARGETS.map((t) => [t.name, 0]));
for (let i = 0; i < COUNT; i++) {
  const target = TARGETS[Math.floor(i / 6) % TARGETS.length];
  const { what, bytes } = mutant(i, target.original);
  writeSync(LOG, `mutant ${i} (${target.name}: ${what}, ${bytes.length} bytes)\n`);
  writeFileSync(target.file, bytes);
  await addon.readSafetensors(target.file).catch(() => {});
  const dir = target.name === '4-bit checkpoint' ? fourBit : checkpoint;
  const model = await addon.NativeModel.load(dir, { device: 'cpu', precision: 'fp32', threads: 1 }).catch(() => undefined);
  if (model) {
    let ok = true;
    if (target.name === 'adapter') {
      model.attachLora(LORA, 1);
      ok = await model.loadAdapter(target.file).then(() => true, () => false);
    }
    if (ok) loaded[target.name]++;
    await model.forward(new Int32Array([2, 13, 3]), new Int32Array([1, 1, 1]), 1, 3, {}).catch(() => {});
    model.dispose();
  }
  writeFileSync(target.file, target.original); // the next mutant of another target starts from clean files
}
// How many mutants still loaded (data flips mostly do): the fuzz reaches past the header checks.
console.log(`loaded: ${Object.entries(loaded).map(([k, v]) => `${k} ${v}`).join(', ')}`);
console.log(`DONE ${COUNT} mutants`);
