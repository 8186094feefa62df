import type { FoundLibtorch } from '../find-libtorch.mjs';

export interface PrebuildInfo {
  /** libtorch major.minor, e.g. '2.3'. */
  torch: string;
  /** 'cpu' or 'cudaXY'. */
  variant: string;
  /** XY of cudaXY, null for cpu. */
  cuda: number | null;
  /** 'pre-cxx11' for a `.precxx11` name; absent means the cxx11 ABI. */
  abi?: 'pre-cxx11';
}
type Found = Pick<FoundLibtorch, 'version' | 'cuda'> & Partial<Pick<FoundLibtorch, 'abi' | 'cudaVersion'>>;
export interface BuildState {
  fresh: boolean;
  reason: string;
}

export const PREBUILD_PATTERN: string;
export function parsePrebuildName(file: string): PrebuildInfo | null;
export function prebuildName(torchVersion: string, cudaVariant?: string, abi?: 'cxx11' | 'pre-cxx11'): string;
export function wantedVariant(found: Found): string;
export function wantedName(found: Found | null): string;
export function prebuildMismatch(info: PrebuildInfo, found: Found | null): string | null;
export function rankPrebuilds(files: string[], found: Found | null): string[];
export function pickPrebuild(files: string[], found: Found | null): string | null;
export function prebuildStale(root: string, file: string, platform?: string, arch?: string): string | null;
export function listPrebuilds(root: string, platform?: string, arch?: string): string[];
export function buildState(root: string, found: Pick<FoundLibtorch, 'cmakeDir'> | null, out?: string): BuildState;
