// `lora-node build [--cuda]`: recompile the addon from source into build/ with cmake-js
// (through scripts/lib/cmake-js.mjs: Node's headers from the running Node, so it works
// offline; libtorch as scripts/find-libtorch.mjs finds it). The build is incremental;
// --cuda reconfigures with the CUDA kernels on. The result is test-loaded in a child
// process, and the loader prefers it over older prebuilds from then on.
import { existsSync, utimesSync } from 'node:fs';
import { join } from 'node:path';

import { describeSearch, findLibtorch, formatSearch } from '../../scripts/find-libtorch.mjs';
import { runCmakeJs } from '../../scripts/lib/cmake-js.mjs';
import { notFound } from '../../scripts/lib/plan.mjs';
import { detectTools } from '../../scripts/lib/system.mjs';
import { testLoad } from '../../scripts/lib/test-load.mjs';
import { packageRoot } from '../native/package-root.js';

const APT_BUILD = 'sudo apt-get install -y build-essential cmake nlohmann-json3-dev';

export function runBuild(cuda: boolean): number {
  const root = packageRoot();
  const found = findLibtorch();
  if (!found) {
    console.error(notFound('`lora-node build` installs nothing', formatSearch(describeSearch())));
    return 1;
  }
  if (cuda && !found.cuda)
    console.warn(
      `lora-node: warning: --cuda compiles the CUDA kernels, but the libtorch found is CPU-only (${found.cmakeDir}), ` +
        'so nothing can run them. For CUDA, point LIBTORCH at a CUDA libtorch zip or install a CUDA PyTorch with pip.',
    );
  const tools = detectTools();
  const missing = [!tools.cxx && 'a C++ compiler (c++/g++)', !tools.make && 'make (or ninja)', !tools.cmake && 'cmake'].filter(Boolean);
  if (missing.length) {
    console.error(`lora-node: cannot compile the addon: ${missing.join(', ')} not found. Install them with\n  ${APT_BUILD}`);
    return 1;
  }
  if (!tools.json) console.warn(`lora-node: warning: nlohmann_json's CMake package was not found; if CMake cannot find it either: ${APT_BUILD}`);

  const torch = `libtorch ${found.version ?? '(unknown version)'} (${found.cuda ? 'CUDA' : 'CPU'}) from ${found.source}: ${found.cmakeDir}`;
  const kernels = cuda ? 'with the CUDA kernels' : found.cuda ? 'CUDA kernels as configured (on by default for a CUDA libtorch)' : 'CPU only';
  console.log(`lora-node: building the addon in ${join(root, 'build')} against ${torch}, ${kernels}`);
  const options = ['--out', 'build', `--CDTorch_DIR=${found.cmakeDir}`, ...(cuda ? ['--CDLORA_NODE_CUDA=ON'] : [])];
  let status: number;
  if (existsSync(join(root, 'build', 'CMakeCache.txt'))) {
    // `compile` would keep the old configuration; configure applies the options, then build.
    status = runCmakeJs(root, ['configure', ...options]);
    if (status === 0) status = runCmakeJs(root, ['build', '--out', 'build']);
  } else {
    status = runCmakeJs(root, ['compile', ...options]);
  }
  if (status !== 0) {
    console.error(`lora-node: compiling the addon failed (cmake-js exit ${status}); see the output above. \`npx lora-node doctor\` shows what was found.`);
    return status;
  }
  const addon = join(root, 'build', 'Release', 'lora_node.node');
  // cmake-js relinks only what changed: mark the binary as built now, so it ranks as the newest.
  if (existsSync(addon)) utimesSync(addon, new Date(), new Date());
  const check = testLoad(addon, { extraKey: [found.cmakeDir] });
  if (!check.ok) {
    console.error(`lora-node: built ${addon}, but it does not load: ${check.reason}`);
    return 1;
  }
  console.log(`lora-node: built ${addon} (loads libtorch ${check.torchVersion}); lora-node uses it from now on (the newest binary that fits wins)`);
  return 0;
}
