// Finds and loads the native addon: LORA_NODE_BINARY, else build/Release,
// else prebuilds/<platform>-<arch>/. One clear error when none loads.
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

import { AddonLoadError } from '../errors.js';
import { type BlasCoreDecision, configureBlasCore } from './blas-core.js';
import { packageRoot } from './package-root.js';
import type { NativeAddon } from './types.js';

export interface AddonStatus {
  path: string;
  blasCore: BlasCoreDecision;
  tried: string[];
}

let loaded: { addon: NativeAddon; status: AddonStatus } | undefined;

function candidates(): string[] {
  const override = process.env.LORA_NODE_BINARY;
  if (override) return [override];
  const root = packageRoot();
  const list = [join(root, 'build', 'Release', 'lora_node.node')];
  const prebuildDir = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
  if (existsSync(prebuildDir))
    for (const file of readdirSync(prebuildDir).sort()) if (file.endsWith('.node')) list.push(join(prebuildDir, file));
  return list;
}

function explain(failures: string[]): AddonLoadError {
  const missingTorch = failures.some((f) => /lib(torch|c10)[^ ]*\.so.*cannot open shared object/.test(f));
  const fix = missingTorch
    ? 'libtorch is not installed where the addon was built against it. Install it with ' +
      '`sudo apt-get install -y libtorch-dev libopenblas0-pthread` (Debian/Ubuntu), or set LIBTORCH to an unpacked ' +
      'libtorch and run `npx lora-node build`.'
    : 'Build the addon with `npm run build:native` (or `npx lora-node build`), or set LORA_NODE_BINARY to a lora_node.node.';
  return new AddonLoadError(
    missingTorch ? 'ERR_LIBTORCH_NOT_FOUND' : 'ERR_ADDON_LOAD',
    `lora-node could not load its native addon.\n${failures.map((f) => `  - ${f}`).join('\n')}\n${fix}`,
  );
}

/** Loads the addon once per process. Throws AddonLoadError with what was tried. */
export function loadAddon(): NativeAddon {
  if (loaded) return loaded.addon;
  const require = createRequire(import.meta.url);
  const failures: string[] = [];
  const tried: string[] = [];
  for (const path of candidates()) {
    tried.push(path);
    if (!existsSync(path)) {
      failures.push(`${path}: not found`);
      continue;
    }
    try {
      const blasCore = configureBlasCore(path);
      const addon = require(path) as NativeAddon;
      loaded = { addon, status: { path, blasCore, tried } };
      return addon;
    } catch (error) {
      failures.push(`${path}: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`);
    }
  }
  throw explain(failures);
}

/** Where the addon came from and what was decided on the way (for `doctor`). */
export function addonStatus(): AddonStatus {
  loadAddon();
  return loaded!.status;
}
