import type { Env } from '../find-libtorch.mjs';

export function cmakeJsBin(root: string): string;
export function cmakeJsEnv(env?: Env, execPath?: string): Env;
export function runCmakeJs(root: string, args: string[]): number;
