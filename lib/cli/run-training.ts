// One training run as the CLI drives it: progress to a reporter, and Ctrl-C
// (SIGINT) or SIGTERM turned into the trainer's AbortSignal. A second Ctrl-C
// quits at once; checkpoints are written atomically, so that is safe too.
import type { Example } from '../data/examples.js';
import type { TextExample } from '../mlm/packing.js';
import { AbortError } from '../errors.js';
import type { EvaluationEvent, TrainProgress, TrainResult, Trainer } from '../trainer/trainer.js';
import type { Reporter } from './progress.js';

/** Exit status after an interrupt, as shells report a SIGINT death (128 + 2). */
export const INTERRUPTED_EXIT = 130;

export async function trainWithProgress(
  trainer: Trainer,
  examples: Example[] | TextExample[],
  options: { evalExamples?: Example[] | TextExample[] | undefined; resumeFrom?: string | undefined },
  reporter: Reporter,
): Promise<TrainResult> {
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    if (controller.signal.aborted) {
      reporter.stop();
      process.exit(INTERRUPTED_EXIT);
    }
    controller.abort();
    reporter.notice(`${signal}: stopping after the current step (press Ctrl-C again to quit now)`);
  };
  const onProgress = (p: TrainProgress): void => reporter.progress(p);
  const onEvaluate = (e: EvaluationEvent): void => reporter.evaluate(e);
  const onCheckpoint = (e: { step: number; dir: string }): void => reporter.checkpoint(e);
  const onNotice = (message: string): void => reporter.notice(message);
  trainer.on('progress', onProgress).on('evaluate', onEvaluate).on('checkpoint', onCheckpoint).on('notice', onNotice);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await trainer.train(examples, {
      signal: controller.signal,
      ...(options.evalExamples ? { evalExamples: options.evalExamples } : {}),
      ...(options.resumeFrom ? { resumeFrom: options.resumeFrom } : {}),
    });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    trainer.off('progress', onProgress).off('evaluate', onEvaluate).off('checkpoint', onCheckpoint).off('notice', onNotice);
    reporter.stop();
  }
}

/** What to tell the user after an interrupt: where training stopped and what was kept. */
export function interruptedMessage(error: AbortError, checkpointsDir: string | undefined): string {
  const kept = checkpointsDir
    ? `the last complete checkpoint in ${checkpointsDir} is kept; continue with --resume ${checkpointsDir}`
    : 'nothing was saved (pass --checkpoints DIR to keep progress across interrupts)';
  return `lora-node: interrupted: ${error.message}; ${kept} [${error.code}]`;
}
