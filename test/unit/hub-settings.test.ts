// Hub settings from options and environment (huggingface_hub's variables and
// defaults), repo id rules, resolve URLs and etags. No server, no addon.
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

import { isCommitHash, isRepoId } from '../../lib/hub/repo-id.js';
import { normalizeEtag, resolveUrl } from '../../lib/hub/metadata.js';
import { defaultCacheDir, envFlag, hubSettings } from '../../lib/hub/settings.js';
import { caught } from '../helpers/errors.js';

describe('hub settings', () => {
  it('the cache folder: HF_HUB_CACHE, then HUGGINGFACE_HUB_CACHE, then HF_HOME/hub, then XDG_CACHE_HOME, then ~/.cache', () => {
    expect(defaultCacheDir({ HF_HUB_CACHE: '/a', HUGGINGFACE_HUB_CACHE: '/b', HF_HOME: '/c' })).toBe('/a');
    expect(defaultCacheDir({ HUGGINGFACE_HUB_CACHE: '/b', HF_HOME: '/c' })).toBe('/b');
    expect(defaultCacheDir({ HF_HOME: '/c', XDG_CACHE_HOME: '/x' })).toBe('/c/hub');
    expect(defaultCacheDir({ XDG_CACHE_HOME: '/x' })).toBe('/x/huggingface/hub');
    expect(defaultCacheDir({})).toBe(join(homedir(), '.cache', 'huggingface', 'hub'));
  });

  it('HF_HUB_OFFLINE takes huggingface_hub\'s spellings of true', () => {
    for (const on of ['1', 'true', 'TRUE', 'yes', 'on']) expect(envFlag(on)).toBe(true);
    for (const off of [undefined, '', '0', 'false', 'no']) expect(envFlag(off)).toBe(false);
  });

  it('options win over the environment, which wins over the defaults', () => {
    const env = { HF_ENDPOINT: 'http://mirror.local:8080/', HF_TOKEN: 'hf_env', HF_HUB_OFFLINE: '1', HF_HUB_CACHE: '/env-cache' };
    const fromEnv = hubSettings(undefined, 'options', env);
    expect(fromEnv).toMatchObject({ revision: 'main', cacheDir: '/env-cache', token: 'hf_env', offline: true, refresh: false });
    expect(fromEnv.endpoint.href).toBe('http://mirror.local:8080/');
    const fromOptions = hubSettings({ revision: 'v2', cacheDir: 'rel', endpoint: 'https://x.test', token: 'hf_opt', offline: false }, 'options', env);
    expect(fromOptions).toMatchObject({ revision: 'v2', cacheDir: resolve('rel'), token: 'hf_opt', offline: false });
    expect(fromOptions.endpoint.origin).toBe('https://x.test');
    const defaults = hubSettings({}, 'options', {});
    expect(defaults.endpoint.href).toBe('https://huggingface.co/');
    expect(defaults.token).toBeUndefined();
  });

  it('bad options get the usual wording, with the name given', () => {
    expect(caught(() => hubSettings({ offline: 'yes' }, 'options.hub', {})).message).toBe('Expected a boolean for options.hub.offline but received the string "yes"');
    expect(caught(() => hubSettings({ cacheDir: '' }, 'options.hub', {})).message).toMatch(/Expected a non-empty string for options\.hub\.cacheDir/);
    expect(caught(() => hubSettings([], 'options.hub', {})).message).toMatch(/Expected an options object for options\.hub/);
    expect(caught(() => hubSettings({}, 'options', { HF_ENDPOINT: 'not a url' })).code).toBe('ERR_INVALID_ARGUMENT');
  });
});

describe('repo ids, URLs and etags', () => {
  it('accepts ids as huggingface_hub\'s validate_repo_id does', () => {
    for (const id of ['gpt2', 'distilbert-base-uncased', 'distilbert/distilbert-base-uncased', 'org_1/name.v2', 'a'.repeat(96)]) expect(isRepoId(id), id).toBe(true);
    for (const id of ['', 'a/b/c', '/abs', './rel', '../up', '~/home', 'x--y', 'x..y', 'x.git', '-x', 'x-', 'a b', 'a'.repeat(97)])
      expect(isRepoId(id), id).toBe(false);
  });

  it('a commit is 40 lowercase hex digits', () => {
    expect(isCommitHash('0123456789abcdef0123456789abcdef01234567')).toBe(true);
    expect(isCommitHash('main')).toBe(false);
    expect(isCommitHash('0123456789ABCDEF0123456789ABCDEF01234567')).toBe(false);
  });

  it('resolve URLs quote the revision entirely and the file per path segment, as hf_hub_url', () => {
    const endpoint = new URL('https://huggingface.co/');
    expect(resolveUrl(endpoint, { repoId: 'org/name', revision: 'main', file: 'config.json' }).href).toBe(
      'https://huggingface.co/org/name/resolve/main/config.json',
    );
    expect(resolveUrl(new URL('http://mirror/hf'), { repoId: 'm', revision: 'refs/pr/1', file: 'sub dir/a b.json' }).href).toBe(
      'http://mirror/hf/m/resolve/refs%2Fpr%2F1/sub%20dir/a%20b.json',
    );
  });

  it('etags lose their quotes and weak marker', () => {
    expect(normalizeEtag('"abc"')).toBe('abc');
    expect(normalizeEtag('W/"abc"')).toBe('abc');
    expect(normalizeEtag('abc')).toBe('abc');
    expect(normalizeEtag(null)).toBeUndefined();
    expect(normalizeEtag('""')).toBeUndefined();
  });
});
