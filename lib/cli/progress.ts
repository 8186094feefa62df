// Training progress for people and for programs: a progress bar on a terminal,
// plain lines (about every 5%) when stderr is not one, JSON lines with --json.
// Bars and lines go to stderr, so stdout keeps only results; JSON goes to stdout.
import cliProgress from 'cli-progress';

import type { EvaluationEvent, TrainProgress } from '../trainer/trainer.js';
import { headline } from './report.js';

export interface Reporter {
  progress(p: TrainProgress): void;
  evaluate(e: EvaluationEvent): void;
  checkpoint(e: { step: number; dir: string }): void;
  /** Something the user should read (a fresh head, a stop request). */
  notice(message: string): void;
  /** Leaves the terminal clean (the bar finished, the cursor back). Idempotent. */
  stop(): void;
}

export type ProgressMode = 'json' | 'bar' | 'lines';

/** --json → 'json'; a terminal on stderr → 'bar'; otherwise 'lines'. */
export function progressMode(json: boolean | undefined, stream: NodeJS.WriteStream = process.stderr): ProgressMode {
  return json ? 'json' : stream.isTTY ? 'bar' : 'lines';
}

export function createReporter(mode: ProgressMode): Reporter {
  if (mode === 'json') return new JsonReporter();
  return mode === 'bar' ? new BarReporter() : new LineReporter();
}

/** Seconds as 0:42, 12:05 or 1:02:03; "--" before the first estimate. */
/** The look every lora-node progress bar shares; `format` names the fields. */
export function multiBar(format: string): cliProgress.MultiBar {
  return new cliProgress.MultiBar(
    { format, barsize: 24, hideCursor: true, clearOnComplete: false, stopOnComplete: false, fps: 10 },
    cliProgress.Presets.shades_classic,
  );
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--';
  const s = Math.round(seconds);
  const [h, m, sec] = [Math.floor(s / 3600), Math.floor((s % 3600) / 60), s % 60];
  const two = (n: number) => String(n).padStart(2, '0');
  return h > 0 ? `${h}:${two(m)}:${two(sec)}` : `${m}:${two(sec)}`;
}

function evaluationLine(e: EvaluationEvent): string {
  return `eval  step ${e.step}  epoch ${e.epoch.toFixed(2)}  ${headline(e.report)}${e.improved ? '  (best so far)' : ''}`;
}

// ('remaining', not 'eta': cli-progress fills {eta} itself.)
function fields(p: TrainProgress): { epoch: string; loss: string; lr: string; rate: string; remaining: string } {
  return {
    epoch: p.epoch.toFixed(2),
    loss: p.loss.toFixed(4),
    lr: p.learningRate.toExponential(2),
    rate: p.samplesPerSecond.toFixed(1),
    remaining: formatDuration(p.eta),
  };
}

class JsonReporter implements Reporter {
  progress(p: TrainProgress): void {
    console.log(JSON.stringify({ type: 'progress', ...p }));
  }
  evaluate(e: EvaluationEvent): void {
    console.log(JSON.stringify({ type: 'evaluate', ...e }));
  }
  checkpoint(e: { step: number; dir: string }): void {
    console.log(JSON.stringify({ type: 'checkpoint', step: e.step, dir: e.dir }));
  }
  notice(message: string): void {
    console.log(JSON.stringify({ type: 'notice', message }));
  }
  stop(): void {}
}

/** One line about every 5% of the steps (and at least every 30 s), plus the first and last step. */
class LineReporter implements Reporter {
  private nextStep = 0;
  private lastTime = 0;
  private static readonly MAX_QUIET_MS = 30_000;

  progress(p: TrainProgress): void {
    const now = Date.now();
    const due = p.step >= this.nextStep || p.step === p.totalSteps || now - this.lastTime >= LineReporter.MAX_QUIET_MS;
    if (!due) return;
    const every = Math.max(1, Math.ceil(p.totalSteps / 20));
    this.nextStep = (Math.floor(p.step / every) + 1) * every;
    this.lastTime = now;
    const f = fields(p);
    const percent = Math.floor((100 * p.step) / p.totalSteps);
    console.error(`step ${p.step}/${p.totalSteps} (${percent}%)  epoch ${f.epoch}  loss ${f.loss}  lr ${f.lr}  ${f.rate} samples/s  ETA ${f.remaining}`);
  }
  evaluate(e: EvaluationEvent): void {
    console.error(evaluationLine(e));
  }
  checkpoint(e: { step: number; dir: string }): void {
    console.error(`checkpoint  step ${e.step} saved in ${e.dir}`);
  }
  notice(message: string): void {
    console.error(`note: ${message}`);
  }
  stop(): void {}
}

/** cli-progress's bar; evaluation and notices are printed above it. */
class BarReporter implements Reporter {
  private readonly bars = multiBar('train {bar} {value}/{total} | epoch {epoch} | loss {loss} | lr {lr} | {rate} samples/s | ETA {remaining}');
  private bar: cliProgress.SingleBar | undefined;
  private stopped = false;

  progress(p: TrainProgress): void {
    if (this.stopped) return;
    const payload = fields(p);
    if (!this.bar) this.bar = this.bars.create(p.totalSteps, p.step, payload);
    else this.bar.update(p.step, payload);
  }
  evaluate(e: EvaluationEvent): void {
    this.log(evaluationLine(e));
  }
  checkpoint(e: { step: number; dir: string }): void {
    this.log(`checkpoint  step ${e.step} saved in ${e.dir}`);
  }
  notice(message: string): void {
    this.log(`note: ${message}`);
  }
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.bars.stop();
  }
  private log(line: string): void {
    if (this.stopped || !this.bar) console.error(line);
    else this.bars.log(line + '\n');
  }
}
