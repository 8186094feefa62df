// The action behind binding.gyp: node-gyp based tools get the same cmake-js build.
//   node scripts/lib/gyp-build.mjs <dest .node>
// Compiles in build/cmake-js (node-gyp owns build/Makefile; a CMake "Unix Makefiles"
// build in build/ would overwrite it) and copies lora_node.node to <dest>.
// Installs nothing: without libtorch it prints what to do, as the install script does.
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { describeSearch, findLibtorch, formatSearch } from '../find-libtorch.mjs';
import { runCmakeJs } from './cmake-js.mjs';
import { notFound } from './plan.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const dest = resolve(root, process.argv[2] ?? 'build/Release/lora_node.node'); // relative to the package root
const found = findLibtorch();
if (!found) {
  console.error(notFound('the node-gyp build installs nothing', formatSearch(describeSearch())));
  process.exit(1);
}
const status = runCmakeJs(root, ['compile', '--out', 'build/cmake-js', `--CDTorch_DIR=${found.cmakeDir}`]);
if (status !== 0) {
  console.error(`lora-node: compiling the addon failed (cmake-js exit ${status}); see the output above`);
  process.exit(status);
}
mkdirSync(dirname(dest), { recursive: true });
copyFileSync(join(root, 'build/cmake-js/Release/lora_node.node'), dest);
console.log(`lora-node: built ${dest} with cmake-js against libtorch ${found.version ?? ''} (${found.cmakeDir})`);
