// The install script's decisions, as one pure function of what was found.
// scripts/install.mjs gathers the facts, runs the plan, and asks again after apt-get.
import { BUILD_PACKAGES, JSON_PACKAGES, TORCH_PACKAGES, whyNoApt } from './apt.mjs';
import { pickPrebuild, wantedName } from './prebuild.mjs';

const APT_TORCH = `sudo apt-get install -y ${TORCH_PACKAGES.join(' ')}`;
const APT_BUILD = `sudo apt-get install -y ${BUILD_PACKAGES.join(' ')}`;

function describeTorch(found) {
  return `libtorch ${found.version ?? '(unknown version)'} (${found.cuda ? 'CUDA' : 'CPU'}) from ${found.source}: ${found.cmakeDir}`;
}

/** The message when no libtorch is found: the exact apt-get command and the alternatives. */
export function notFound(reason, searched) {
  return [
    `lora-node: libtorch not found (${reason}). Install it with`,
    `  ${APT_TORCH}`,
    'or point lora-node at another libtorch, then run `npm rebuild lora-node`:',
    '  - LIBTORCH=/path/to/libtorch  an unpacked libtorch zip from https://pytorch.org/get-started/locally/ (LibTorch, cxx11 ABI)',
    '  - pip install torch           lora-node then uses its libtorch (torch.utils.cmake_prefix_path)',
    '  - Torch_DIR=<folder with TorchConfig.cmake> or CMAKE_PREFIX_PATH=<its prefix>',
    ...(searched ? ['Searched:', searched] : []),
  ].join('\n');
}

/**
 * What to do next. Facts:
 *   found      findLibtorch() result or null
 *   osRelease  text of /etc/os-release
 *   uid        process.getuid?.()
 *   env        environment (LORA_NODE_SKIP_BUILD, LORA_NODE_SKIP_SYSTEM_INSTALL)
 *   prebuilds  file names in prebuilds/<platform>-<arch>/
 *   rejected   { [file]: reason } prebuilds not to use (stale in a source checkout, or failed a test load)
 *   build      { fresh, reason } of build/Release/lora_node.node
 *   tools      { cxx, make, cmake, json } (default: all present)
 *   aptTried   packages apt-get already installed in this run (never asked for twice)
 *   searched   formatted describeSearch() lines, for the not-found message
 * Returns one of
 *   { action: 'skip' | 'prebuild' | 'compile' | 'apt' | 'fail', message, ... }
 * with file (prebuild), args (compile: cmake-js arguments) or packages (apt).
 */
export function planInstall({
  found,
  osRelease = '',
  uid,
  env = {},
  prebuilds = [],
  rejected = {},
  build = { fresh: false, reason: 'no build yet' },
  tools = { cxx: true, make: true, cmake: true, json: true },
  aptTried = [],
  searched,
  platform = process.platform,
  arch = process.arch,
}) {
  const noApt = whyNoApt({ osRelease, uid, env });
  /** apt-get may install these (none tried before) — else null. */
  const mayApt = (packages) => (noApt === null && packages.every((p) => !aptTried.includes(p)) ? packages : null);

  if (env.LORA_NODE_SKIP_BUILD === '1') {
    const torch = found ? `; ${describeTorch(found)}` : '; note: libtorch was not found';
    return { action: 'skip', message: `lora-node: LORA_NODE_SKIP_BUILD=1, not building the addon (build it with \`npm run build:native\`)${torch}` };
  }

  if (!found) {
    const packages = mayApt(TORCH_PACKAGES);
    if (packages)
      return {
        action: 'apt',
        packages,
        message: `lora-node: libtorch not found; installing ${packages.join(' ')} with apt-get (running as root on Debian/Ubuntu; LORA_NODE_SKIP_SYSTEM_INSTALL=1 turns this off)`,
      };
    const reason = aptTried.includes('libtorch-dev') ? 'not even after apt-get installed libtorch-dev' : `not installing it: ${noApt}`;
    return { action: 'fail', message: notFound(reason, searched) };
  }

  const file = pickPrebuild(prebuilds.filter((f) => !(f in rejected)), found);
  if (file)
    return { action: 'prebuild', file, message: `lora-node: using prebuild prebuilds/${platform}-${arch}/${file} for ${describeTorch(found)}; nothing to compile` };

  if (build.fresh) return { action: 'skip', message: `lora-node: ${build.reason}; not recompiling (${describeTorch(found)})` };

  const notUsed = Object.entries(rejected).map(([f, reason]) => `; ${f} is there but not used: ${reason}`).join('');
  const why = `no prebuild fits (wanted ${wantedName(found)} in prebuilds/${platform}-${arch}/${notUsed}) and ${build.reason}`;
  const missing = [!tools.cxx && 'a C++ compiler (c++/g++)', !tools.make && 'make (or ninja)', !tools.cmake && 'cmake'].filter(Boolean);
  if (missing.length) {
    const packages = mayApt(BUILD_PACKAGES);
    if (packages)
      return { action: 'apt', packages, message: `lora-node: compiling needs ${missing.join(', ')}; installing ${packages.join(' ')} with apt-get (running as root on Debian/Ubuntu)` };
    return {
      action: 'fail',
      message: `lora-node: cannot compile the addon: ${missing.join(', ')} not found. Install them with\n  ${APT_BUILD}\nthen run \`npm rebuild lora-node\` (${why}; not installing them myself: ${noApt ?? 'apt-get already ran'})`,
    };
  }
  const warnings = [];
  if (!tools.json) {
    const packages = mayApt(JSON_PACKAGES);
    if (packages)
      return { action: 'apt', packages, message: `lora-node: compiling needs nlohmann JSON headers; installing ${packages.join(' ')} with apt-get (running as root on Debian/Ubuntu)` };
    warnings.push(`lora-node: warning: nlohmann_json's CMake package was not found; if CMake cannot find it either, install it with \`sudo apt-get install -y ${JSON_PACKAGES.join(' ')}\``);
  }
  return {
    action: 'compile',
    args: ['compile', '--out', 'build', `--CDTorch_DIR=${found.cmakeDir}`],
    warnings,
    message: `lora-node: compiling the addon against ${describeTorch(found)}${found.cuda ? ' with the CUDA kernels' : ''}: ${why}`,
  };
}
