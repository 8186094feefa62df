import type { Env } from '../find-libtorch.mjs';

export const TORCH_PACKAGES: string[];
export const BUILD_PACKAGES: string[];
export const JSON_PACKAGES: string[];
export function isDebianLike(osRelease: string): boolean;
export function whyNoApt(facts: { osRelease: string; uid?: number; env: Env }): string | null;
export function aptInstall(packages: string[], log: (line: string) => void): number;
