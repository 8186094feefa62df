// Training checkpoints: checkpoint-<step>/ folders written complete or not at
// all (written under a temporary name, then renamed), the latest found again
// by resumeFrom, and only the newest `keep` kept.
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { FormatError } from '../errors.js';

export const STATE_JSON = 'trainer_state.json';
export const STATE_TENSORS = 'trainer_state.safetensors';
export const WEIGHTS = 'adapter_model.safetensors';
const NAME = /^checkpoint-(\d+)$/;

/** What JavaScript tracks across a run (the native state is in STATE_TENSORS). */
export interface JsTrainerState {
  format: 1;
  step: number;
  bestValue: number | null;
  bestStep: number | null;
  badEvaluations: number;
  history: unknown[];
  /** A fingerprint of the data and settings: resuming with others is an error. */
  fingerprint: string;
}

/** Writes files into checkpoint-<step> atomically; `fill` writes into the temporary folder. */
export async function writeCheckpoint(dir: string, step: number, fill: (tmp: string) => Promise<void>): Promise<string> {
  await mkdir(dir, { recursive: true });
  const final = join(dir, `checkpoint-${step}`);
  const tmp = join(dir, `.checkpoint-${step}.tmp-${process.pid}`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp);
  await fill(tmp);
  await rm(final, { recursive: true, force: true });
  await rename(tmp, final);
  return final;
}

export async function listCheckpoints(dir: string): Promise<{ step: number; path: string }[]> {
  if (!existsSync(dir)) return [];
  const found: { step: number; path: string }[] = [];
  for (const name of await readdir(dir)) {
    const m = NAME.exec(name);
    if (m && existsSync(join(dir, name, STATE_JSON))) found.push({ step: Number(m[1]), path: join(dir, name) });
  }
  return found.sort((a, b) => a.step - b.step);
}

export async function pruneCheckpoints(dir: string, keep: number): Promise<void> {
  const all = await listCheckpoints(dir);
  for (const c of all.slice(0, Math.max(0, all.length - keep))) await rm(c.path, { recursive: true, force: true });
}

/** A checkpoint folder, or a checkpoints dir meaning its latest complete checkpoint. */
export async function resolveResume(path: string): Promise<string> {
  if (existsSync(join(path, STATE_JSON))) return path;
  const all = await listCheckpoints(path);
  const latest = all[all.length - 1];
  if (!latest) throw new FormatError('ERR_IO', `resumeFrom: ${path} is neither a checkpoint nor a folder of complete checkpoints`);
  return latest.path;
}

export async function readJsState(checkpoint: string): Promise<JsTrainerState> {
  const state = JSON.parse(await readFile(join(checkpoint, STATE_JSON), 'utf8')) as JsTrainerState;
  if (state.format !== 1) throw new FormatError('ERR_CONFIG', `${join(checkpoint, STATE_JSON)}: unknown format ${String(state.format)}`);
  return state;
}

export async function writeJsState(folder: string, state: JsTrainerState): Promise<void> {
  await writeFile(join(folder, STATE_JSON), JSON.stringify(state, null, 2) + '\n');
}
