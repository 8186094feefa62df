// Debian/Ubuntu system packages: when we may install them, and installing them.
import { spawnSync } from 'node:child_process';

export const TORCH_PACKAGES = ['libtorch-dev', 'libopenblas0-pthread', 'nlohmann-json3-dev'];
export const BUILD_PACKAGES = ['build-essential', 'cmake'];
export const JSON_PACKAGES = ['nlohmann-json3-dev'];

/** ID and ID_LIKE of an os-release text say Debian or Ubuntu (or a derivative). */
export function isDebianLike(osRelease) {
  const field = (name) => new RegExp(`^${name}="?([^"\\n]*)"?$`, 'm').exec(osRelease ?? '')?.[1] ?? '';
  const ids = `${field('ID')} ${field('ID_LIKE')}`.toLowerCase().split(/\s+/);
  return ids.includes('debian') || ids.includes('ubuntu');
}

/** Why the installer may not run apt-get itself, or null when it may. */
export function whyNoApt({ osRelease, uid, env }) {
  if (env.LORA_NODE_SKIP_SYSTEM_INSTALL === '1') return 'LORA_NODE_SKIP_SYSTEM_INSTALL=1';
  if (!isDebianLike(osRelease)) return 'not Debian/Ubuntu';
  if (uid !== 0) return 'not running as root';
  return null;
}

function aptGet(args, log) {
  log(`running: apt-get ${args.join(' ')}`);
  const run = spawnSync('apt-get', args, {
    stdio: 'inherit',
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  return run.error ? 127 : (run.status ?? 1);
}

/**
 * apt-get install -y --no-install-recommends <packages>, streaming its output;
 * runs apt-get update and retries only when the first try fails. Returns the exit status.
 */
export function aptInstall(packages, log) {
  const install = ['install', '-y', '--no-install-recommends', ...packages];
  if (aptGet(install, log) === 0) return 0;
  log('apt-get install failed; updating the package lists and trying again');
  const update = aptGet(['update'], log);
  if (update !== 0) return update;
  return aptGet(install, log);
}
