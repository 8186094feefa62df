// What the machine has: OS, build tools, headers. Reads only; installs nothing.
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Text of /etc/os-release ('' when absent). */
export function readOsRelease(file = '/etc/os-release') {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** Whether an executable named `name` is on PATH. */
export function onPath(name, env = process.env) {
  return (env.PATH ?? '').split(delimiter).filter(Boolean).some((dir) => {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** Whether CMake can find nlohmann_json (its package config, as nlohmann-json3-dev installs it). */
export function hasNlohmannJson(env = process.env) {
  const prefixes = [...(env.CMAKE_PREFIX_PATH ?? '').split(delimiter).filter(Boolean), '/usr/local', '/usr'];
  const dirs = [env.nlohmann_json_DIR, ...prefixes.flatMap((p) => [
    join(p, 'share/cmake/nlohmann_json'),
    join(p, 'lib/cmake/nlohmann_json'),
    join(p, 'lib/x86_64-linux-gnu/cmake/nlohmann_json'),
    join(p, 'lib/aarch64-linux-gnu/cmake/nlohmann_json'),
  ])].filter(Boolean);
  return dirs.some((d) => existsSync(join(d, 'nlohmann_jsonConfig.cmake')));
}

/** The tools a from-source build needs: { cxx, make, cmake, json } booleans. */
export function detectTools(env = process.env) {
  return {
    cxx: Boolean(env.CXX) || onPath('c++', env) || onPath('g++', env) || onPath('clang++', env),
    make: onPath('make', env) || onPath('ninja', env),
    cmake: onPath('cmake', env),
    json: hasNlohmannJson(env),
  };
}
