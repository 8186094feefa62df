import type { Env } from '../find-libtorch.mjs';

export type TestLoadResult =
  | { ok: true; torchVersion: string; cudaKernels: boolean; cached: boolean }
  | { ok: false; reason: string };

/** Whether the addon at `path` loads, found out in a child process (successes cached in os.tmpdir()). */
export function testLoad(path: string, options?: { env?: Env; extraKey?: string[]; cache?: boolean }): TestLoadResult;
