#!/usr/bin/env node
// lora-node command line: predict, doctor, build.
import { parseArgs } from 'node:util';

import { LoraNodeError } from '../errors.js';
import { runBuild } from './build.js';
import { runDoctor } from './doctor.js';
import { runPredict } from './predict.js';

const USAGE = `Usage: lora-node <command> [options]

Commands:
  predict [texts...]   Classify texts with a Hugging Face DistilBERT checkpoint
      --model DIR        checkpoint folder (config.json, model.safetensors, tokenizer.json)
      --file PATH        read texts from a file, one per line ("-" for stdin)
      --device D         auto | cpu | cuda | cuda:N           (default auto)
      --precision P      auto | fp32 | bf16 | fp16           (default auto)
      --threads N        libtorch intra-op threads            (default: all cores)
      --batch-size N     texts per forward pass               (default 32)
      --max-length N     tokens per text, specials included   (default: the tokenizer's)
      --json             print JSON lines instead of a table
  doctor [--json]      Show libtorch, CUDA, BLAS, threads, precision and addon path
  build [--cuda]       Rebuild the native addon from source

Exit status: 0 success, 1 runtime error, 2 usage error.`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    console.log(USAGE);
    return command ? 0 : 2;
  }
  if (command === 'predict') {
    const { values, positionals } = parseArgs({
      args: rest,
      allowPositionals: true,
      options: {
        model: { type: 'string' },
        file: { type: 'string' },
        device: { type: 'string' },
        precision: { type: 'string' },
        threads: { type: 'string' },
        'batch-size': { type: 'string' },
        'max-length': { type: 'string' },
        json: { type: 'boolean' },
      },
    });
    return runPredict(values, positionals);
  }
  if (command === 'doctor') {
    const { values } = parseArgs({ args: rest, options: { json: { type: 'boolean' } } });
    return runDoctor(values.json ?? false);
  }
  if (command === 'build') {
    const { values } = parseArgs({ args: rest, options: { cuda: { type: 'boolean' } } });
    return runBuild(values.cuda ?? false);
  }
  console.error(`lora-node: unknown command "${command}"\n\n${USAGE}`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof LoraNodeError) {
      console.error(`lora-node: ${error.message} [${error.code}]`);
      process.exitCode = 1;
    } else if ((error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`lora-node: ${(error as Error).message}\n\n${USAGE}`);
      process.exitCode = 2;
    } else {
      console.error(error);
      process.exitCode = 1;
    }
  },
);
