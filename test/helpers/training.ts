// The training settings the integration tests share: the tiny golden model, fp32 on
// the CPU, LoRA on every linear, a fixed seed.
import type { TrainerOptions } from '../../lib/index.js';
import { golden } from './golden.js';

export const TINY_MODEL = golden('tiny').checkpoint;

export function tinyTraining(epochs: number): TrainerOptions {
  return {
    model: TINY_MODEL,
    epochs,
    batchSize: 16,
    learningRate: 3e-3,
    precision: 'fp32',
    device: 'cpu',
    threads: 2,
    seed: 1,
    lora: { r: 8, alpha: 16, targetModules: 'all-linear' },
  };
}
