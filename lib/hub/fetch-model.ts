// fetchModel: a checkpoint (or PEFT adapter) from the Hugging Face hub into the
// shared cache, returning its snapshot folder; resolveModelSource: the same for
// any "checkpoint folder" argument, where a local folder wins over a repo id.
import { existsSync } from 'node:fs';
import { isAbsolute } from 'node:path';

import { AbortError, HubError, expected } from '../errors.js';
import { nonEmptyString, optionsObject } from '../validate.js';
import { RepoCache } from './cache-layout.js';
import { type DownloadProgress, downloadBlob } from './download.js';
import { MissingFileError, type RequestContext, throwIfAborted } from './http.js';
import { fileMetadata } from './metadata.js';
import { isCommitHash, isRepoId, validateRepoId } from './repo-id.js';
import { type HubOptions, type HubSettings, hubSettings } from './settings.js';

export type { DownloadProgress } from './download.js';
export type { HubOptions } from './settings.js';

export interface FetchModelOptions extends HubOptions {
  /** 'model' (config.json, model.safetensors, tokenizer) or 'adapter' (a PEFT LoRA adapter). Default 'model'. */
  kind?: 'model' | 'adapter';
  /** Cancels the download; a partial file is kept and resumed next time. */
  signal?: AbortSignal;
  /** Called as bytes arrive. */
  onProgress?: (progress: DownloadProgress) => void;
}

interface FileSet {
  required: readonly string[];
  /** A 404 is fine; the cache counts as complete once each is present or known absent (.no_exist). */
  optional: readonly string[];
  /** At least one of these must exist (tokenizers). */
  oneOf?: readonly string[];
  /** Fetched when present, but not needed for a complete cache: Python never asks for them, so a cache it filled has no word on them. */
  extra: readonly string[];
}

const FILES: Record<'model' | 'adapter', FileSet> = {
  model: {
    required: ['config.json', 'model.safetensors'],
    optional: ['tokenizer.json', 'tokenizer_config.json', 'vocab.txt', 'special_tokens_map.json'],
    oneOf: ['tokenizer.json', 'vocab.txt'],
    extra: ['lora-node.json'],
  },
  adapter: { required: ['adapter_config.json', 'adapter_model.safetensors'], optional: [], extra: ['lora-node.json'] },
};

function missingRequiredMessage(repoId: string, revision: string, file: string): string {
  const base = `${repoId} has no ${file} at revision "${revision}"`;
  if (file === 'model.safetensors')
    return `${base}: lora-node reads only single-file safetensors weights (pytorch_model.bin and sharded model-0000x-of-0000y.safetensors are not supported); convert the checkpoint with transformers' save_pretrained(..., safe_serialization=True)`;
  if (file === 'config.json') return `${base}: it is not a model checkpoint (a PEFT adapter repo goes in options.adapter)`;
  if (file === 'adapter_config.json') return `${base}: it is not a PEFT adapter`;
  return base;
}

class ModelFetch {
  private readonly cache: RepoCache;
  private readonly ctx: RequestContext;

  constructor(
    private readonly repoId: string,
    private readonly settings: HubSettings,
    private readonly files: FileSet,
    private readonly signal: AbortSignal | undefined,
    private readonly onProgress: ((p: DownloadProgress) => void) | undefined,
  ) {
    this.cache = new RepoCache(settings.cacheDir, repoId);
    this.ctx = { settings, signal };
  }

  async run(): Promise<string> {
    const { revision } = this.settings;
    const cached = isCommitHash(revision) ? revision : await this.cache.readRef(revision);
    if (this.settings.offline) return this.fromCacheOnly(cached);
    // A revision already resolved whose every file is known (present, or a remembered 404) needs no request.
    if (cached && !this.settings.refresh && this.complete(cached)) return this.checked(cached);
    return this.download();
  }

  private complete(commit: string): boolean {
    return [...this.files.required, ...this.files.optional].every((file) => this.cache.known(commit, file) !== 'unknown');
  }

  private fromCacheOnly(commit: string | undefined): string {
    const { revision } = this.settings;
    const hint = `run \`npx lora-node download ${this.repoId}${revision === 'main' ? '' : ` --revision ${revision}`}\` while online, or unset HF_HUB_OFFLINE`;
    if (!commit)
      throw new HubError('ERR_OFFLINE', `offline mode: the cache ${this.settings.cacheDir} has no revision "${revision}" of ${this.repoId} (no ${this.cache.root}/refs/${revision}); ${hint}`);
    const missing = this.files.required.filter((file) => this.cache.known(commit, file) !== 'present');
    if (missing.length > 0)
      throw new HubError('ERR_OFFLINE', `offline mode: the cached snapshot ${this.cache.snapshotDir(commit)} of ${this.repoId} lacks ${missing.join(', ')}; ${hint}`);
    return this.checked(commit);
  }

  /** The snapshot folder, once the tokenizer requirement is met. */
  private checked(commit: string): string {
    const oneOf = this.files.oneOf;
    if (oneOf && !oneOf.some((file) => this.cache.known(commit, file) === 'present')) {
      const [code, how] = this.settings.offline ? (['ERR_OFFLINE', ' in the cache (offline mode)'] as const) : (['ERR_NOT_FOUND', ''] as const);
      throw new HubError(code, `${this.repoId} at revision "${this.settings.revision}" has no tokenizer${how}: expected one of ${oneOf.join(', ')}`);
    }
    return this.cache.snapshotDir(commit);
  }

  private async download(): Promise<string> {
    const { revision } = this.settings;
    // The first file fixes the commit; the others are asked for at that commit, so all come from one.
    let commit = isCommitHash(revision) ? revision : undefined;
    for (const file of [...this.files.required, ...this.files.optional, ...this.files.extra]) {
      throwIfAborted(this.signal);
      const required = this.files.required.includes(file);
      try {
        commit = await this.fetchFile(file, commit);
      } catch (error) {
        if (!(error instanceof MissingFileError)) throw error;
        if (required) throw new HubError('ERR_NOT_FOUND', missingRequiredMessage(this.repoId, revision, file), { cause: error });
        commit ??= error.commit;
        if (commit) await this.cache.markAbsent(commit, file);
      }
    }
    if (commit === undefined) throw new HubError('ERR_DOWNLOAD', `no commit was resolved for ${this.repoId}`);
    if (!isCommitHash(revision)) await this.cache.writeRef(revision, commit);
    return this.checked(commit);
  }

  /** One file into blobs/ and snapshots/; returns the commit it belongs to. */
  private async fetchFile(file: string, commit: string | undefined): Promise<string> {
    if (commit && this.cache.known(commit, file) === 'present') return commit;
    if (commit && this.cache.known(commit, file) === 'absent' && !this.files.required.includes(file)) return commit;
    const meta = await fileMetadata({ repoId: this.repoId, revision: commit ?? this.settings.revision, file }, this.ctx);
    if (commit && meta.commit !== commit)
      throw new HubError('ERR_DOWNLOAD', `${file} of ${this.repoId}: asked for commit ${commit} but the hub answered for ${meta.commit}`);
    if (!existsSync(this.cache.blob(meta.etag))) {
      const target = { file, incomplete: this.cache.incomplete(meta.etag), blob: this.cache.blob(meta.etag), lock: this.cache.lock(meta.etag) };
      await downloadBlob(meta, target, this.ctx, this.onProgress);
    }
    await this.cache.link(meta.commit, file, meta.etag);
    return meta.commit;
  }
}

/**
 * Downloads a checkpoint from the hub (config.json, model.safetensors and the tokenizer
 * files; or adapter_config.json and adapter_model.safetensors) into the cache, and
 * returns the snapshot folder: `<cache>/models--org--name/snapshots/<commit>`.
 */
export async function fetchModel(repoId: string, options?: FetchModelOptions): Promise<string> {
  return fetchNamed(repoId, options, 'options');
}

async function fetchNamed(repoId: string, options: FetchModelOptions | undefined, optionsName: string): Promise<string> {
  const id = validateRepoId(repoId, 'repoId');
  const settings = hubSettings(options, optionsName);
  const o = (options ?? {}) as FetchModelOptions;
  const kind = o.kind ?? 'model';
  if (kind !== 'model' && kind !== 'adapter') throw expected('"model" or "adapter"', `${optionsName}.kind`, kind);
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) throw expected('an AbortSignal', `${optionsName}.signal`, o.signal);
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') throw expected('a function', `${optionsName}.onProgress`, o.onProgress);
  if (o.signal?.aborted) throw new AbortError('download was aborted');
  return new ModelFetch(id, settings, FILES[kind], o.signal, o.onProgress).run();
}

/** An adapter argument as a local folder: as resolveModelSource, at hub.adapterRevision (default 'main'). */
export async function resolveAdapterSource(pathOrId: string, hub: unknown): Promise<string> {
  // hub.revision is the model's; the adapter repo has its own history.
  const { adapterRevision, ...rest } = optionsObject(hub, 'options.hub') as HubOptions;
  return resolveModelSource(pathOrId, { ...rest, revision: adapterRevision, kind: 'adapter' }, 'options.hub');
}

/**
 * A checkpoint (or adapter) argument as a local folder: an existing path is used as it
 * is; a hub repo id that is not a local path is fetched (see fetchModel). `optionsName`
 * names the options in error messages (e.g. 'options.hub').
 */
export async function resolveModelSource(pathOrId: string, options?: FetchModelOptions, optionsName = 'options'): Promise<string> {
  nonEmptyString(pathOrId, 'pathOrId');
  if (existsSync(pathOrId) || isAbsolute(pathOrId) || !isRepoId(pathOrId)) return pathOrId;
  try {
    return await fetchNamed(pathOrId, options, optionsName);
  } catch (error) {
    // A mistyped local folder lands here too: say both things that were tried.
    if (!(error instanceof HubError)) throw error;
    throw new HubError(error.code, `"${pathOrId}" is not a local folder, so it was taken as a hub repo id: ${error.message}`, { cause: error });
  }
}
