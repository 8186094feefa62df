// Runs the one real build: cmake-js on CMakeLists.txt (wherever npm put cmake-js).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Path of cmake-js's bin script, resolved the way Node resolves the dependency. */
export function cmakeJsBin(root) {
  const require = createRequire(join(root, 'package.json'));
  return join(dirname(require.resolve('cmake-js/package.json')), 'bin', 'cmake-js');
}

/**
 * The environment for cmake-js. cmake-js downloads Node's headers from nodejs.org
 * unless npm's `nodedir` is set; where the running Node ships its headers
 * (<prefix>/include/node/node.h, as Debian and NodeSource packages do) point it there,
 * so the build works offline.
 */
export function cmakeJsEnv(env = process.env, execPath = process.execPath) {
  if (env.npm_config_nodedir) return env;
  const prefix = dirname(dirname(execPath));
  return existsSync(join(prefix, 'include/node/node.h')) ? { ...env, npm_config_nodedir: prefix } : env;
}

/** `node <cmake-js> <args>` in the package root, output streamed; returns the exit status. */
export function runCmakeJs(root, args) {
  const run = spawnSync(process.execPath, [cmakeJsBin(root), ...args], { cwd: root, stdio: 'inherit', env: cmakeJsEnv() });
  if (run.error) throw run.error;
  return run.status ?? 1;
}

// As a command: `node scripts/lib/cmake-js.mjs compile --out build` is `cmake-js compile --out build`
// with the offline Node headers above and Torch_DIR from findLibtorch (unless given).
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
  const args = process.argv.slice(2);
  const { findLibtorch } = await import('../find-libtorch.mjs');
  const found = args.some((a) => a.startsWith('--CDTorch_DIR=')) ? null : findLibtorch();
  if (found) args.push(`--CDTorch_DIR=${found.cmakeDir}`);
  process.exitCode = runCmakeJs(root, args);
}
