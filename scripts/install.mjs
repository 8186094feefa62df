#!/usr/bin/env node
// lora-node's install script (package.json "install"):
//   1. find libtorch (scripts/find-libtorch.mjs); on Debian/Ubuntu as root, apt-get it when missing
//   2. use a prebuild from prebuilds/<platform>-<arch>/ that fits that libtorch and loads in a
//      child process (scripts/lib/test-load.mjs), or
//   3. keep an up-to-date build/Release/lora_node.node, or
//   4. compile with cmake-js (installing build tools with apt-get under the same rules).
// Every decision is made by planInstall (scripts/lib/plan.mjs); this file only gathers
// facts and carries out the plan. Every exit prints one line saying what happened.
//
// Environment: LIBTORCH / LORA_NODE_LIBTORCH, Torch_DIR, CMAKE_PREFIX_PATH (where libtorch is),
// LORA_NODE_SKIP_SYSTEM_INSTALL=1 (never run apt-get), LORA_NODE_SKIP_BUILD=1 (never compile).
import { existsSync, utimesSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { describeSearch, findLibtorch, formatSearch } from './find-libtorch.mjs';
import { aptInstall } from './lib/apt.mjs';
import { runCmakeJs } from './lib/cmake-js.mjs';
import { planInstall } from './lib/plan.mjs';
import { buildState, listPrebuilds, prebuildStale } from './lib/prebuild.mjs';
import { detectTools, readOsRelease } from './lib/system.mjs';
import { testLoad } from './lib/test-load.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const log = (line) => console.log(`lora-node: ${line}`);

function gatherFacts(env, aptTried, failedPrebuilds) {
  const found = findLibtorch({ env });
  const prebuilds = listPrebuilds(root);
  const rejected = { ...failedPrebuilds };
  for (const file of prebuilds) {
    const stale = prebuildStale(root, file);
    if (stale) rejected[file] = stale;
  }
  return {
    found,
    osRelease: readOsRelease(),
    uid: process.getuid?.(),
    env,
    prebuilds,
    rejected,
    build: found ? buildState(root, found) : undefined,
    tools: detectTools(env),
    aptTried,
    searched: found ? undefined : formatSearch(describeSearch(env)),
  };
}

/** A LIBTORCH or Torch_DIR that was set but not used is worth a line. */
function warnIgnoredSettings(env, found) {
  const used = found?.source;
  const ignored = [
    ...['LIBTORCH', 'LORA_NODE_LIBTORCH'].filter((name) => env[name] && used !== 'LIBTORCH'),
    ...(env.Torch_DIR && used !== 'LIBTORCH' && used !== 'Torch_DIR' ? ['Torch_DIR'] : []),
  ];
  for (const name of ignored)
    console.warn(`lora-node: warning: ${name}=${env[name]} holds no TorchConfig.cmake (see \`npx lora-node doctor\`); ignoring it`);
}

function main() {
  const env = process.env;
  warnIgnoredSettings(env, findLibtorch({ env }));
  let aptTried = [];
  const failedPrebuilds = {};
  for (;;) {
    const facts = gatherFacts(env, aptTried, failedPrebuilds);
    const plan = planInstall(facts);
    switch (plan.action) {
      case 'apt': {
        console.log(plan.message);
        const status = aptInstall(plan.packages, log);
        if (status !== 0) {
          console.error(`lora-node: apt-get install ${plan.packages.join(' ')} failed (exit ${status}); see its output above, install them yourself, then run \`npm rebuild lora-node\``);
          return 1;
        }
        aptTried = [...aptTried, ...plan.packages];
        continue; // look again with the new packages in place
      }
      case 'fail':
        console.error(plan.message);
        return 1;
      case 'skip':
        console.log(plan.message);
        return 0;
      case 'prebuild': {
        // Fits by its name; make sure it loads here before saying so (a child process: a
        // binary that does not fit cannot take this process down).
        const file = join(root, 'prebuilds', `${process.platform}-${process.arch}`, plan.file);
        const check = testLoad(file, { env, extraKey: [facts.found?.cmakeDir ?? ''] });
        if (!check.ok) {
          log(`prebuild ${plan.file} fits libtorch ${facts.found?.version} by its name but does not load: ${check.reason}`);
          failedPrebuilds[plan.file] = `it does not load (${check.reason})`;
          continue; // plan again without it
        }
        console.log(`${plan.message} (test-loaded in a child process: libtorch ${check.torchVersion})`);
        return 0;
      }
      case 'compile': {
        for (const warning of plan.warnings) console.warn(warning);
        console.log(plan.message);
        const status = runCmakeJs(root, plan.args);
        if (status !== 0) {
          console.error(`lora-node: compiling the addon failed (cmake-js exit ${status}); see the output above. \`npx lora-node doctor\` shows what was found.`);
          return status;
        }
        // cmake-js relinks only what changed; mark the addon as checked against today's sources.
        const addon = join(root, 'build', 'Release', 'lora_node.node');
        if (existsSync(addon)) utimesSync(addon, new Date(), new Date());
        const check = testLoad(addon, { env, extraKey: [facts.found?.cmakeDir ?? ''] });
        if (!check.ok) {
          console.error(`lora-node: built build/Release/lora_node.node, but it does not load: ${check.reason}. \`npx lora-node doctor\` shows what was found.`);
          return 1;
        }
        log(`built build/Release/lora_node.node (up to date with native/ and CMakeLists.txt; test-loaded: libtorch ${check.torchVersion})`);
        return 0;
      }
      default:
        throw new Error(`unknown plan ${JSON.stringify(plan)}`);
    }
  }
}

try {
  process.exitCode = main();
} catch (error) {
  console.error(`lora-node: the install script failed: ${error instanceof Error ? error.stack : String(error)}`);
  process.exitCode = 1;
}
