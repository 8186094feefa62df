// Where the hub is and how to talk to it: options first, then the environment
// variables huggingface_hub reads (HF_ENDPOINT, HF_TOKEN, HF_HUB_CACHE, HF_HOME,
// HF_HUB_OFFLINE), then huggingface_hub's defaults, so both share one cache.
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

import { ArgumentError, expected } from '../errors.js';
import { isPlainObject } from '../validate.js';

/** How to reach the hub and where its cache lives; every field falls back to the environment. */
export interface HubOptions {
  /** Branch, tag or 40-hex commit. Default 'main'. */
  revision?: string;
  /** The cache folder (huggingface_hub's layout). Default: HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub. */
  cacheDir?: string;
  /** The hub's address. Default: HF_ENDPOINT, else https://huggingface.co. */
  endpoint?: string;
  /** Access token for private or gated repos. Default: HF_TOKEN. */
  token?: string;
  /** Use the cache only, never the network. Default: HF_HUB_OFFLINE. */
  offline?: boolean;
  /** Ask the hub again even when the cache already holds the revision. Default false. */
  refresh?: boolean;
  /** Revision of an adapter given as a repo id (options.adapter); `revision` is the model's. Default 'main'. */
  adapterRevision?: string;
}

export interface HubSettings {
  revision: string;
  cacheDir: string;
  endpoint: URL;
  token: string | undefined;
  offline: boolean;
  refresh: boolean;
}

export const DEFAULT_ENDPOINT = 'https://huggingface.co';

/** huggingface_hub's truthy spellings of an environment flag. */
export function envFlag(value: string | undefined): boolean {
  return value !== undefined && ['1', 'ON', 'YES', 'TRUE'].includes(value.trim().toUpperCase());
}

export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.HF_HUB_CACHE) return resolve(env.HF_HUB_CACHE);
  if (env.HUGGINGFACE_HUB_CACHE) return resolve(env.HUGGINGFACE_HUB_CACHE);
  const home = env.HF_HOME ?? join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'huggingface');
  return resolve(home, 'hub');
}

function optionalString(value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') throw expected('a non-empty string', name, value);
  return value;
}

function optionalBoolean(value: unknown, name: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') throw expected('a boolean', name, value);
  return value;
}

/** Validates `options` (named `name` in messages) and fills the gaps from the environment. */
export function hubSettings(options: unknown, name = 'options', env: NodeJS.ProcessEnv = process.env): HubSettings {
  if (options !== undefined && !isPlainObject(options)) throw expected('an options object', name, options);
  const o = (options ?? {}) as Record<string, unknown>;
  const revision = optionalString(o.revision, `${name}.revision`) ?? 'main';
  const endpointText = optionalString(o.endpoint, `${name}.endpoint`) ?? (env.HF_ENDPOINT || DEFAULT_ENDPOINT);
  let endpoint: URL;
  try {
    endpoint = new URL(endpointText.replace(/\/+$/, ''));
  } catch {
    throw new ArgumentError(`Expected an http(s) URL for the hub endpoint (${name}.endpoint or HF_ENDPOINT) but received "${endpointText}"`);
  }
  if (endpoint.protocol !== 'http:' && endpoint.protocol !== 'https:')
    throw new ArgumentError(`Expected an http(s) URL for the hub endpoint (${name}.endpoint or HF_ENDPOINT) but received "${endpointText}"`);
  const cacheDir = optionalString(o.cacheDir, `${name}.cacheDir`);
  return {
    revision,
    cacheDir: cacheDir === undefined ? defaultCacheDir(env) : resolve(cacheDir),
    endpoint,
    token: optionalString(o.token, `${name}.token`) ?? (env.HF_TOKEN || undefined),
    offline: optionalBoolean(o.offline, `${name}.offline`) ?? envFlag(env.HF_HUB_OFFLINE),
    refresh: optionalBoolean(o.refresh, `${name}.refresh`) ?? false,
  };
}
