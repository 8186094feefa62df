import type { FoundLibtorch } from '../find-libtorch.mjs';

export interface PrebuildInfo {
  /** libtorch major.minor, e.g. '2.3'. */
  torch: string;
  /** 'cpu' or 'cudaXY'. */
  variant: string;
  /** XY of cudaXY, null for cpu. */
  cuda: number | null;
}
export interface BuildState {
  fresh: boolean;
  reason: string;
}

export function parsePrebuildName(file: string): PrebuildInfo | null;
export function prebuildName(torchVersion: string, cudaVariant?: string): string;
export function pickPrebuild(files: string[], found: Pick<FoundLibtorch, 'version' | 'cuda'> | null): string | null;
export function listPrebuilds(root: string, platform?: string, arch?: string): string[];
export function buildState(root: string, found: Pick<FoundLibtorch, 'cmakeDir'> | null, out?: string): BuildState;
