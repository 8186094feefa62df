// Download progress on stderr, as progress.ts does for training: one cli-progress
// bar per file on a terminal, plain lines (about every 10%) otherwise, nothing with --json.
import cliProgress from 'cli-progress';

import type { DownloadProgress } from '../hub/download.js';
import { type ProgressMode, multiBar } from './progress.js';

export interface DownloadReporter {
  progress(p: DownloadProgress): void;
  /** Leaves the terminal clean. Idempotent. */
  stop(): void;
}

/** 1536 → "1.5 kB", 268_000_000 → "268.0 MB" (decimal units, as the hub shows sizes). */
export function formatBytes(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

export function createDownloadReporter(mode: ProgressMode): DownloadReporter {
  if (mode === 'json') return { progress() {}, stop() {} };
  return mode === 'bar' ? new BarDownloadReporter() : new LineDownloadReporter();
}

/** A line when a file reaches each further 10%, and one when it is done. */
class LineDownloadReporter implements DownloadReporter {
  private readonly nextPercent = new Map<string, number>();

  progress(p: DownloadProgress): void {
    const percent = p.total === 0 ? 100 : Math.floor((100 * p.loaded) / p.total);
    const next = this.nextPercent.get(p.file) ?? 10;
    if (percent < next) return;
    this.nextPercent.set(p.file, Math.floor(percent / 10) * 10 + 10);
    const done = p.loaded >= p.total;
    console.error(`download ${p.file}: ${formatBytes(p.loaded)} of ${formatBytes(p.total)} (${percent}%)${done ? ' done' : ''}`);
  }
  stop(): void {}
}

class BarDownloadReporter implements DownloadReporter {
  private readonly bars = multiBar('{file} {bar} {percentage}% | {loadedText} of {totalText}');
  private readonly perFile = new Map<string, cliProgress.SingleBar>();
  private stopped = false;

  progress(p: DownloadProgress): void {
    if (this.stopped) return;
    const payload = { file: p.file.padEnd(24), loadedText: formatBytes(p.loaded), totalText: formatBytes(p.total) };
    const bar = this.perFile.get(p.file);
    if (bar) bar.update(p.loaded, payload);
    else this.perFile.set(p.file, this.bars.create(p.total, p.loaded, payload));
  }
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.bars.stop();
  }
}
