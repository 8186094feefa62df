import type { Env } from '../find-libtorch.mjs';

export function readOsRelease(file?: string): string;
export function onPath(name: string, env?: Env): boolean;
export function hasNlohmannJson(env?: Env): boolean;
export function detectTools(env?: Env): { cxx: boolean; make: boolean; cmake: boolean; json: boolean };
