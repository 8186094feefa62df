// HTTP with the hub: requests that follow redirects by hand, so the access token
// goes to the hub's own host only (never to a CDN it redirects to), and the
// hub's HTTP errors turned into HubErrors that say what to do.
import { AbortError, HubError } from '../errors.js';
import { isCommitHash } from './repo-id.js';
import type { HubSettings } from './settings.js';

const MAX_REDIRECTS = 10;
const USER_AGENT = 'lora-node';

export interface RequestContext {
  settings: HubSettings;
  signal?: AbortSignal | undefined;
}

/** Headers for `url`: Authorization only when it is on the hub's own origin. */
function headersFor(url: URL, ctx: RequestContext, extra: Record<string, string>): Record<string, string> {
  const headers: Record<string, string> = { 'user-agent': USER_AGENT, 'accept-encoding': 'identity', ...extra };
  if (ctx.settings.token && url.origin === ctx.settings.endpoint.origin) headers.authorization = `Bearer ${ctx.settings.token}`;
  return headers;
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortError('download was aborted');
}

/** One request, redirects not followed. Network failures become ERR_DOWNLOAD (AbortError when aborted). */
export async function send(
  method: 'HEAD' | 'GET',
  url: URL,
  ctx: RequestContext,
  extra: Record<string, string> = {},
  signal: AbortSignal | undefined = ctx.signal,
): Promise<Response> {
  throwIfAborted(ctx.signal);
  // A HEAD gets an answer in HF_HUB_ETAG_TIMEOUT seconds (10, as huggingface_hub) or fails.
  const timeout = method === 'HEAD' ? AbortSignal.timeout(secondsFromEnv('HF_HUB_ETAG_TIMEOUT', 10) * 1000) : undefined;
  const signals = [signal, timeout].filter((s): s is AbortSignal => s !== undefined);
  try {
    return await fetch(url, { method, redirect: 'manual', headers: headersFor(url, ctx, extra), signal: signals.length ? AbortSignal.any(signals) : null });
  } catch (error) {
    throwIfAborted(ctx.signal);
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const why = timeout?.aborted ? 'no answer within HF_HUB_ETAG_TIMEOUT' : (cause?.code ?? cause?.message ?? (error as Error).message);
    throw new HubError('ERR_DOWNLOAD', `could not reach ${url.origin} (${why}); set HF_HUB_OFFLINE=1 to use the cache only`, { cause: error });
  }
}

/** A positive number of seconds from the environment, else `fallback`. */
export function secondsFromEnv(name: string, fallback: number): number {
  const seconds = Number(process.env[name]);
  return Number.isFinite(seconds) && seconds > 0 ? seconds : fallback;
}

/** The target of a 3xx response, resolved against the request's URL. */
export function redirectTarget(response: Response, url: URL): URL | undefined {
  if (response.status < 300 || response.status > 399) return undefined;
  const location = response.headers.get('location');
  return location ? new URL(location, url) : undefined;
}

/** GET following redirects (the token is dropped on other hosts). */
export async function getFollowing(url: URL, ctx: RequestContext, extra: Record<string, string>, signal?: AbortSignal): Promise<Response> {
  let current = url;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const response = await send('GET', current, ctx, extra, signal);
    const target = redirectTarget(response, current);
    if (!target) return response;
    await response.body?.cancel();
    current = target;
  }
  throw new HubError('ERR_DOWNLOAD', `more than ${MAX_REDIRECTS} redirects from ${url.href}`);
}

/** HEAD following only same-origin redirects (a renamed repo); a redirect elsewhere (a CDN) is returned as is. */
export async function headSameOrigin(url: URL, ctx: RequestContext): Promise<{ response: Response; url: URL }> {
  let current = url;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const response = await send('HEAD', current, ctx);
    const target = redirectTarget(response, current);
    if (!target || target.origin !== current.origin) return { response, url: current };
    current = target;
  }
  throw new HubError('ERR_DOWNLOAD', `more than ${MAX_REDIRECTS} redirects from ${url.href}`);
}

/** 404 for a file of a repo that exists: the caller may skip optional files. */
export class MissingFileError extends HubError {
  constructor(
    message: string,
    /** The commit the hub resolved the revision to (X-Repo-Commit of the 404), when it said. */
    readonly commit: string | undefined,
  ) {
    super('ERR_NOT_FOUND', message);
  }
}

/** An HTTP error status of the hub as a HubError; `what` names the repo, revision and file. */
export function httpError(response: Response, what: { repoId: string; revision: string; file: string }, ctx: RequestContext): HubError {
  const status = response.status;
  const hubCode = response.headers.get('x-error-code');
  const hubMessage = response.headers.get('x-error-message');
  const detail = hubMessage ? ` (${hubMessage})` : '';
  const where = `${what.file} of ${what.repoId} at revision "${what.revision}"`;
  if (status === 401 || status === 403) {
    const token = ctx.settings.token
      ? 'the token in HF_TOKEN was refused: check that it has access to this repo'
      : 'set HF_TOKEN to an access token (https://huggingface.co/settings/tokens)';
    const gated = hubCode === 'GatedRepo' ? ' It is a gated repo: accept its conditions on the hub page first.' : '';
    return new HubError(
      'ERR_UNAUTHORIZED',
      `the hub answered ${status} for ${where}${detail}: the repo does not exist, or it is private or gated; ${token}.${gated}`,
    );
  }
  if (status === 404) {
    if (hubCode === 'RepoNotFound') return new HubError('ERR_NOT_FOUND', `the hub has no repo ${what.repoId}${detail}`);
    if (hubCode === 'RevisionNotFound')
      return new HubError('ERR_NOT_FOUND', `${what.repoId} has no revision "${what.revision}" (branch, tag or commit)${detail}`);
    const commit = response.headers.get('x-repo-commit');
    return new MissingFileError(`${what.repoId} has no file ${what.file} at revision "${what.revision}" (404)${detail}`, commit && isCommitHash(commit) ? commit : undefined);
  }
  return new HubError('ERR_DOWNLOAD', `the hub answered ${status} ${response.statusText} for ${where}${detail}`);
}
