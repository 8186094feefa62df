// `lora-node download <repo-id>`: a checkpoint (or adapter) from the hub into the
// shared cache, with a progress bar; prints the snapshot folder on stdout.
// prefetchModel does the same for the --model / --adapter of the other commands.
import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { AbortError, ArgumentError } from '../errors.js';
import { type FetchModelOptions, fetchModel } from '../hub/fetch-model.js';
import { isRepoId } from '../hub/repo-id.js';
import { createDownloadReporter } from './download-progress.js';
import { progressMode } from './progress.js';
import { INTERRUPTED_EXIT } from './run-training.js';

const OPTIONS = {
  revision: { type: 'string' },
  'cache-dir': { type: 'string' },
  adapter: { type: 'boolean' },
  offline: { type: 'boolean' },
  refresh: { type: 'boolean' },
  json: { type: 'boolean' },
} as const;

async function fetchReporting(repoId: string, options: FetchModelOptions, json: boolean | undefined): Promise<string> {
  const reporter = createDownloadReporter(progressMode(json));
  const controller = new AbortController();
  const interrupt = () => controller.abort();
  process.once('SIGINT', interrupt);
  try {
    return await fetchModel(repoId, { ...options, signal: controller.signal, onProgress: (p) => reporter.progress(p) });
  } finally {
    process.off('SIGINT', interrupt);
    reporter.stop();
  }
}

export async function runDownload(args: string[]): Promise<number> {
  const { values: flags, positionals } = parseArgs({ args, options: OPTIONS, allowPositionals: true });
  if (positionals.length !== 1)
    throw new ArgumentError(`Expected one repo id (e.g. distilbert-base-uncased) but received ${positionals.length === 0 ? 'none' : positionals.join(' ')}`);
  const repoId = positionals[0]!;
  const options: FetchModelOptions = { kind: flags.adapter ? 'adapter' : 'model' };
  if (flags.revision !== undefined) options.revision = flags.revision;
  if (flags['cache-dir'] !== undefined) options.cacheDir = flags['cache-dir'];
  if (flags.offline) options.offline = true;
  if (flags.refresh) options.refresh = true;
  let dir: string;
  try {
    dir = await fetchReporting(repoId, options, flags.json);
  } catch (error) {
    if (!(error instanceof AbortError)) throw error;
    console.error('lora-node: download interrupted; run the same command again to resume');
    return INTERRUPTED_EXIT;
  }
  console.log(flags.json ? JSON.stringify({ type: 'download', repoId, revision: flags.revision ?? 'main', path: dir }) : dir);
  return 0;
}

/**
 * --model / --adapter given as hub repo ids: download them first with a progress bar, so
 * the library's own lookup (Classifier.load, Trainer) then finds them in the cache.
 */
export async function prefetchSources(flags: { model?: string | undefined; adapter?: string | readonly string[] | undefined; json?: boolean | undefined }): Promise<void> {
  // Several adapters come as NAME=DIR (predict); the part after "=" is the folder or repo id.
  const adapters = (typeof flags.adapter === 'string' ? [flags.adapter] : (flags.adapter ?? [])).map((a) => a.replace(/^[^=/\\]+=/, ''));
  const sources = [...(flags.model === undefined ? [] : [{ pathOrId: flags.model, kind: 'model' as const }]), ...adapters.map((pathOrId) => ({ pathOrId, kind: 'adapter' as const }))];
  for (const { pathOrId, kind } of sources)
    if (!existsSync(pathOrId) && isRepoId(pathOrId)) await fetchReporting(pathOrId, { kind }, flags.json);
}
