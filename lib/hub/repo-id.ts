// Hub repo ids ("name" or "namespace/name"), checked with huggingface_hub's
// validate_repo_id rules, and telling an id from a local path.
import { expected } from '../errors.js';

// Word characters, '-' and '.', at most 96 in the name, starting and ending on a
// word character; '--' and '..' are forbidden and '.git' may not end it.
const REPO_ID = /^(\b[\w.-]+\b\/)?\b[\w.-]{1,96}\b$/;

export function isRepoId(value: string): boolean {
  return REPO_ID.test(value) && !value.includes('--') && !value.includes('..') && !value.endsWith('.git');
}

export function validateRepoId(value: unknown, name = 'repoId'): string {
  if (typeof value !== 'string' || !isRepoId(value))
    throw expected(
      'a hub repo id ("name" or "namespace/name": letters, digits, "-", "_", "."; no "--" or ".."; at most 96 characters in the name)',
      name,
      value,
    );
  return value;
}

/** A full commit hash: such a revision needs no ref and never moves. */
export function isCommitHash(revision: string): boolean {
  return /^[0-9a-f]{40}$/.test(revision);
}
