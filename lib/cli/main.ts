#!/usr/bin/env node
// lora-node command line: train, eval, predict, demo, quantize, download, doctor, build.
import { parseArgs } from 'node:util';

import { LoraNodeError } from '../errors.js';
import { runBuild } from './build.js';
import { runDemo } from './demo.js';
import { runDoctor } from './doctor.js';
import { runDownload } from './download.js';
import { runEval } from './eval.js';
import { runPredict } from './predict.js';
import { runQuantize } from './quantize.js';
import { runTrain } from './train.js';

const USAGE = `Usage: lora-node <command> [options]

Commands:
  demo                 Fine-tune, evaluate and save an adapter on the bundled example data
      --model DIR        base checkpoint (default: the small pretrained DistilBERT bundled in models/)
      --fresh            start from a small DistilBERT with random weights instead (to compare)
      --out DIR          where to save the adapter              (default ./lora-node-demo-adapter)

  train                Fine-tune a checkpoint with LoRA (or fully) and save the adapter
      --model DIR        checkpoint folder (fine-tuned classifier, DistilBertForMaskedLM or DistilBertModel)
      --data FILE        training examples: .csv/.tsv (header row) or .jsonl
      --eval FILE        held-out examples, evaluated every epoch; the best weights are kept
      --out DIR          where to save the adapter (or checkpoint)
      --task T           binary | multi-class | multi-label | regression | ordinal (default: from the labels)
      --labels L         label names in id order, comma-separated (ordinal: in order, e.g. none,low,medium,high)
      --text-column C    column / field with the text           (default text)
      --label-column C   column / field with the label          (default label)
      --features F       feature columns beside the text, comma-separated (numeric unless --categorical)
      --categorical F    which of the feature columns hold categories
      --epochs N         (default 3)        --batch-size N (default 16)      --seed N (default 42)
      --learning-rate X  (default 2e-4 with LoRA, 5e-5 with --full)
      --lora-r N         (default 8)        --lora-alpha X (default 8)       --lora-dropout X (default 0)
      --target-modules M comma-separated names (default q_lin,v_lin) or all-linear
      --full             full fine-tuning instead of LoRA (saves a complete checkpoint)
      --merged           save a merged Hugging Face checkpoint instead of an adapter
      --threshold T      binary / multi-label: decision threshold(s) chosen on --eval: f1 | precision=P | recall=R
                         (saved with the adapter; predict and eval use it)
      --calibrate        binary, multi-class: fit a softmax temperature on --eval (calibrated probabilities)
      --metric M         metric that picks the best weights (f1_macro, average_precision, mse, ...; needs --eval)
      --patience N       stop after N evaluations without improvement (needs --eval)
      --quantize T       QLoRA: hold the base's block linears in 4 bits, nf4 | fp4
      --class-weights W  balanced, or one weight per label (1,3.5)
      --weight-decay X (default 0.01)  --warmup-ratio X (default 0.06)  --scheduler linear|cosine|constant
      --gradient-accumulation N  micro-batches per optimizer step (default 1)
      --checkpoints DIR  write resumable checkpoints there       --checkpoint-every N|epoch (default epoch)
      --resume DIR       continue from a checkpoint (or the latest one in a checkpoints folder)
      --task mlm         masked-language-model training on plain text (--data, --eval: paragraphs separated
                         by blank lines); --from-scratch (random weights for the folder's config.json),
                         --whole-word-masking, --mlm-probability X (default 0.15)
      Ctrl-C stops after the current step; the last complete checkpoint is kept.

  eval                 Print the metrics of a checkpoint (and adapter) on labelled examples
      --model DIR        checkpoint folder                       --adapter DIR  a PEFT LoRA adapter folder
      --data FILE        labelled examples (.csv/.tsv/.jsonl)    --text-column C, --label-column C as for train
                         (a model trained with features reads the same feature columns)
      --long-texts A     as for predict: texts longer than --max-length read in windows (mean | max)

  predict [texts...]   Classify texts
      --model DIR        checkpoint folder (config.json, model.safetensors, tokenizer.json or vocab.txt)
      --adapter DIR      a PEFT LoRA adapter folder to apply
      --adapter NAME=DIR repeatable: several adapters on one base, run together
      --file PATH        read texts from a file, one per line ("-" for stdin)
      --long-texts A     read texts longer than --max-length in overlapping windows, combined by
                         mean | max (max: the strongest window; default: a long text is cut)
      --threshold X      binary: P(second label) above which it is predicted; multi-label: per label
                         (default: what training chose, else 0.5 / the argmax)
      --data FILE        or the rows of a .csv/.tsv/.jsonl file: --text-column C (default text); a model
                         trained with features reads the same feature columns (--features, --categorical)

  Options of demo, train, eval and predict:
      --device D         auto | cpu | cuda | cuda:N           (default auto)
      --precision P      auto | fp32 | bf16 | fp16           (default auto)
      --threads N        libtorch intra-op threads            (default: all cores)
      --max-length N     tokens per text, specials included   (train default 128; else the tokenizer's)
      --batch-size N     texts per forward pass (eval, predict: default 32)
      --json             JSON lines: train prints progress, evaluate and result events;
                         eval one report; predict one prediction per text

  quantize             Write a 4-bit copy of a checkpoint (bitsandbytes format, loads in transformers)
      --model DIR        full-precision checkpoint              --out DIR  where to write the 4-bit one
      --type T           nf4 | fp4 (default nf4)                --block-size N (default 64)
      --no-double-quant  keep the block absmax in float32       --skip M   linears kept in full precision (comma-separated)
  download REPO_ID     Download a checkpoint from the Hugging Face hub into its cache; prints the folder
      --revision REV     branch, tag or commit                  (default main)
      --cache-dir DIR    (default HF_HUB_CACHE, HF_HOME/hub or ~/.cache/huggingface/hub)
      --adapter          a PEFT LoRA adapter repo (adapter_config.json, adapter_model.safetensors)
      --offline          use the cache only (also HF_HUB_OFFLINE=1)
      --refresh          ask the hub again even when the cache holds the revision
      HF_ENDPOINT sets the hub's address, HF_TOKEN the token for private or gated repos.
      Everywhere DIR is a checkpoint or adapter folder, a hub repo id works too.

  doctor [--json]      Show libtorch, CUDA, BLAS, threads, precision and addon path
  build [--cuda]       Rebuild the native addon from source

Progress goes to stderr: a bar on a terminal, a line about every 5% otherwise.
Exit status: 0 success, 1 runtime error, 2 usage error, 130 interrupted.`;

const COMMANDS: Record<string, (args: string[]) => Promise<number> | number> = {
  demo: runDemo,
  train: runTrain,
  eval: runEval,
  predict: runPredict,
  quantize: runQuantize,
  download: runDownload,
  doctor: (args) => runDoctor(parseArgs({ args, options: { json: { type: 'boolean' } } }).values.json ?? false),
  build: (args) => runBuild(parseArgs({ args, options: { cuda: { type: 'boolean' } } }).values.cuda ?? false),
};

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    console.log(USAGE);
    return command ? 0 : 2;
  }
  const run = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (!run) {
    console.error(`lora-node: unknown command "${command}"\n\n${USAGE}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(USAGE);
    return 0;
  }
  return run(rest);
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
