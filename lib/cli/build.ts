// `lora-node build`: recompile the addon from source with cmake-js.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

import { packageRoot } from '../native/package-root.js';

export function runBuild(cuda: boolean): number {
  const root = packageRoot();
  const cmakeJs = join(dirname(createRequire(import.meta.url).resolve('cmake-js/package.json')), 'bin', 'cmake-js');
  const args = [cmakeJs, 'rebuild', '--out', 'build'];
  if (cuda) args.push('--CDLORA_NODE_CUDA=ON');
  console.log(`lora-node: building the addon in ${root}/build (${cuda ? 'with' : 'CUDA as libtorch allows,'} CUDA kernels)`);
  const result = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
  return result.status ?? 1;
}
