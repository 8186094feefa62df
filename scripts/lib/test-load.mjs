// Loads an addon in a child process before anyone loads it for real. A binary built for
// another libtorch, C++ ABI or Node — or a corrupt or truncated one — then fails, or even
// crashes, in that child and never in the caller, which gets a one-line reason instead.
//
// A success is cached in os.tmpdir(), keyed by the binary (path, mtime, size), the Node
// version and the library search settings, so each new binary costs one child process.
// Failures are not cached: installing the missing libtorch must not need a cache purge.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, realpathSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const TIMEOUT_MS = 120_000;

/** What the child runs: require the addon, ask it what it was built with, print JSON. */
function childScript(path) {
  return [
    'let addon;',
    `try { addon = require(${JSON.stringify(path)}); }`,
    'catch (e) { process.stderr.write(String((e && e.message) || e)); process.exit(3); }',
    "if (typeof addon.runtimeInfo !== 'function') { process.stderr.write('it loads, but is not a lora-node addon (it has no runtimeInfo)'); process.exit(4); }",
    'const info = addon.runtimeInfo();',
    'process.stdout.write(JSON.stringify({ torchVersion: info.torchVersion, cudaKernels: info.builtWithCudaKernels }));',
  ].join('\n');
}

function firstLine(text, max = 400) {
  const line = text.split('\n').map((l) => l.trim()).find(Boolean) ?? '';
  return line.length > max ? `${line.slice(0, max)}…` : line;
}

function cacheFile(path, stat, env, extraKey) {
  const key = createHash('sha256')
    .update(
      [realpathSync(path), stat.mtimeMs, stat.size, process.version, process.arch, env.LD_LIBRARY_PATH ?? '', ...extraKey].join('\n'),
    )
    .digest('hex')
    .slice(0, 20);
  return join(tmpdir(), `lora-node-addon-check-${key}.json`);
}

/** Runs the child; { ok: true, torchVersion, cudaKernels } or { ok: false, reason }. */
function checkInChild(path, env) {
  const child = spawnSync(process.execPath, ['-e', childScript(path)], { env, encoding: 'utf8', timeout: TIMEOUT_MS });
  if (child.error?.code === 'ETIMEDOUT') return { ok: false, reason: `loading it did not finish within ${TIMEOUT_MS / 1000} s` };
  if (child.error) return { ok: false, reason: `could not start a test process: ${child.error.message}` };
  if (child.signal) return { ok: false, reason: `it crashed the test process (${child.signal}) while loading` };
  if (child.status !== 0) return { ok: false, reason: firstLine(child.stderr) || `the test process exited with ${child.status}` };
  try {
    const info = JSON.parse(child.stdout);
    return { ok: true, torchVersion: String(info.torchVersion), cudaKernels: Boolean(info.cudaKernels) };
  } catch {
    return { ok: false, reason: `the test process printed no report (${firstLine(child.stdout || child.stderr) || 'nothing'})` };
  }
}

/**
 * Whether the addon at `path` loads, found out in a child process.
 * @param {string} path
 * @param {{ env?: Record<string, string | undefined>, extraKey?: string[], cache?: boolean }} [options]
 *   extraKey: more facts the verdict depends on (e.g. the libtorch found); cache: false never reads or writes it.
 * @returns {{ ok: true, torchVersion: string, cudaKernels: boolean, cached: boolean } | { ok: false, reason: string }}
 */
export function testLoad(path, { env = process.env, extraKey = [], cache = true } = {}) {
  let stat;
  try {
    stat = statSync(path);
  } catch {
    return { ok: false, reason: 'not found' };
  }
  if (!stat.isFile()) return { ok: false, reason: 'not a file' };
  const file = cache ? cacheFile(path, stat, env, extraKey) : undefined;
  if (file) {
    try {
      const hit = JSON.parse(readFileSync(file, 'utf8'));
      if (hit.ok === true) return { ...hit, cached: true };
    } catch {
      // not checked yet (or an unreadable cache entry): check now
    }
  }
  const result = checkInChild(path, env);
  if (result.ok && file) {
    try {
      const temp = `${file}.${process.pid}.tmp`;
      writeFileSync(temp, JSON.stringify(result));
      renameSync(temp, file);
    } catch {
      // an unwritable tmpdir only costs a re-check next time
    }
  }
  return result.ok ? { ...result, cached: false } : result;
}
