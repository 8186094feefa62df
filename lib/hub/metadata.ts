// What the hub says about a file before we download it, from a HEAD request on
// its resolve URL (as huggingface_hub's get_hf_file_metadata): the commit the
// revision points to (X-Repo-Commit), the etag that names the blob
// (X-Linked-Etag for LFS files, on the redirect to the CDN; else ETag), the size
// (X-Linked-Size, else Content-Length) and where to GET it.
import { HubError } from '../errors.js';
import { type RequestContext, headSameOrigin, httpError, redirectTarget } from './http.js';
import { isCommitHash } from './repo-id.js';

export interface FileMetadata {
  commit: string;
  /** sha256 (64 hex) for LFS files, git blob sha1 for the others. */
  etag: string;
  size: number;
  /** The URL to GET: the resolve URL, or the CDN it redirects to. */
  location: URL;
}

export interface FileRef {
  repoId: string;
  revision: string;
  file: string;
}

/** `<endpoint>/<repo>/resolve/<revision>/<file>`, quoted as huggingface_hub's hf_hub_url does. */
export function resolveUrl(endpoint: URL, ref: FileRef): URL {
  const file = ref.file.split('/').map(encodeURIComponent).join('/');
  const base = endpoint.href.replace(/\/+$/, '');
  return new URL(`${base}/${ref.repoId}/resolve/${encodeURIComponent(ref.revision)}/${file}`);
}

/** W/"abc" and "abc" both name the blob abc. */
export function normalizeEtag(etag: string | null): string | undefined {
  if (etag === null) return undefined;
  const stripped = etag.trim().replace(/^W\//, '').replace(/^"|"$/g, '');
  return stripped === '' ? undefined : stripped;
}

export async function fileMetadata(ref: FileRef, ctx: RequestContext): Promise<FileMetadata> {
  const { response, url } = await headSameOrigin(resolveUrl(ctx.settings.endpoint, ref), ctx);
  if (response.status >= 400) throw httpError(response, ref, ctx);
  const h = response.headers;
  const commit = h.get('x-repo-commit');
  const etag = normalizeEtag(h.get('x-linked-etag') ?? h.get('etag'));
  const sizeText = h.get('x-linked-size') ?? h.get('content-length');
  const size = sizeText === null ? NaN : Number(sizeText);
  const source = `${ctx.settings.endpoint.origin} (HF_ENDPOINT)`;
  if (!commit || !isCommitHash(commit))
    throw new HubError('ERR_DOWNLOAD', `${source} sent no X-Repo-Commit header for ${ref.file} of ${ref.repoId}: it does not look like a Hugging Face hub`);
  if (!etag) throw new HubError('ERR_DOWNLOAD', `${source} sent no ETag for ${ref.file} of ${ref.repoId}, so it cannot be cached`);
  if (etag.includes('/') || etag.startsWith('.'))
    throw new HubError('ERR_DOWNLOAD', `${source} sent an ETag that cannot name a cache file for ${ref.file} of ${ref.repoId}: "${etag}"`);
  if (!Number.isSafeInteger(size) || size < 0)
    throw new HubError('ERR_DOWNLOAD', `${source} sent no valid size (X-Linked-Size or Content-Length) for ${ref.file} of ${ref.repoId}`);
  return { commit, etag, size, location: redirectTarget(response, url) ?? url };
}
