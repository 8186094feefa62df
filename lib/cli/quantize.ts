// `lora-node quantize`: write a 4-bit (bitsandbytes-format) copy of a checkpoint.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';

import { ArgumentError } from '../errors.js';
import { BLOCK_SIZES, type QuantType, Quantizer } from '../quantizer.js';
import { choiceFlag, integerFlag, requireFlag } from './args.js';

const OPTIONS = {
  model: { type: 'string' },
  out: { type: 'string' },
  type: { type: 'string' },
  'block-size': { type: 'string' },
  'no-double-quant': { type: 'boolean' },
  skip: { type: 'string' },
  json: { type: 'boolean' },
} as const;

const TYPES: readonly QuantType[] = ['nf4', 'fp4'];

export async function runQuantize(args: string[]): Promise<number> {
  const { values: flags } = parseArgs({ args, options: OPTIONS });
  const model = requireFlag(flags.model, 'model', 'DIR (a full-precision Hugging Face checkpoint folder)');
  const out = requireFlag(flags.out, 'out', 'DIR (where to write the 4-bit checkpoint)');
  const options = {
    type: choiceFlag(flags.type, 'type', TYPES) ?? 'nf4',
    blockSize: integerFlag(flags['block-size'], 'block-size') ?? 64,
    doubleQuant: !flags['no-double-quant'],
    skip: flags.skip === undefined ? [] : flags.skip.split(',').map((s) => s.trim()).filter((s) => s !== ''),
  };
  // The Quantizer names the option in its message; the flag name is what the user typed.
  if (!(BLOCK_SIZES as readonly number[]).includes(options.blockSize))
    throw new ArgumentError(`Expected one of ${BLOCK_SIZES.join(', ')} for --block-size but received "${flags['block-size']}"`);

  const started = performance.now();
  await Quantizer.quantizeModel(model, out, options);
  const seconds = (performance.now() - started) / 1000;
  const bytes = (dir: string) => statSync(join(dir, 'model.safetensors')).size;
  const summary = { type: 'quantized', model, out, quantization: options, bytesBefore: bytes(model), bytesAfter: bytes(out), seconds };
  if (flags.json) {
    console.log(JSON.stringify(summary));
    return 0;
  }
  const mib = (n: number) => (n / 2 ** 20).toFixed(1);
  const skipped = options.skip.length ? `, kept in full precision: ${options.skip.join(', ')}` : '';
  console.log(`${out}: ${options.type}, blocks of ${options.blockSize}, double quant ${options.doubleQuant ? 'on' : 'off'}${skipped}`);
  console.log(`model.safetensors ${mib(summary.bytesBefore)} MiB -> ${mib(summary.bytesAfter)} MiB in ${seconds.toFixed(1)} s`);
  return 0;
}
