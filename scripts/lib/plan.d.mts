import type { Env, FoundLibtorch } from '../find-libtorch.mjs';
import type { BuildState } from './prebuild.mjs';

export interface InstallFacts {
  found: FoundLibtorch | null;
  osRelease?: string;
  uid?: number;
  env?: Env;
  prebuilds?: string[];
  /** Prebuilds not to use, with the reason (stale in a source checkout, or failed a test load). */
  rejected?: Record<string, string>;
  build?: BuildState;
  tools?: { cxx: boolean; make: boolean; cmake: boolean; json: boolean };
  aptTried?: string[];
  searched?: string;
  platform?: string;
  arch?: string;
}

export type InstallPlan =
  | { action: 'skip'; message: string }
  | { action: 'prebuild'; file: string; message: string }
  | { action: 'compile'; args: string[]; warnings: string[]; message: string }
  | { action: 'apt'; packages: string[]; message: string }
  | { action: 'fail'; message: string };

export function planInstall(facts: InstallFacts): InstallPlan;
export function notFound(reason: string, searched?: string): string;
