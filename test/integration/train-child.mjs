// A training process for the kill-and-resume test: trains the tiny fixture
// with LoRA on the JSONL examples in DATA and writes the adapter to OUT. It prints "step N" per optimizer
// step; with PAUSE_AT=N it then blocks its JS thread so the parent can kill it.
import { Trainer, loadExamples } from '../../dist/index.js';

const { MODEL, DATA, OUT, CHECKPOINTS, RESUME, PAUSE_AT } = process.env;
const trainer = new Trainer({
  model: MODEL,
  epochs: 3,
  batchSize: 8,
  learningRate: 3e-3,
  precision: 'fp32',
  device: 'cpu',
  threads: 1,
  seed: 3,
  lora: { r: 4, alpha: 8, dropout: 0.1 },
  ...(CHECKPOINTS ? { checkpoints: { dir: CHECKPOINTS, every: 3, keep: 2 } } : {}),
});
trainer.on('progress', (p) => {
  console.log(`step ${p.step}`);
  if (PAUSE_AT && p.step === Number(PAUSE_AT)) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 30_000);
});
await trainer.train(await loadExamples(DATA), RESUME ? { resumeFrom: RESUME } : {});
await trainer.save(OUT);
console.log('done');
