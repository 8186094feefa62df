// Catching errors in tests so their code and message can be checked.
import { expect } from 'vitest';

export interface CaughtError {
  code?: string;
  message: string;
}

/** The error a synchronous call throws; fails the test when it does not throw. */
export function caught(fn: () => unknown): CaughtError {
  try {
    fn();
  } catch (error) {
    return error as CaughtError;
  }
  throw new Error('expected a throw');
}

/** Awaits a promise that must reject with `code` and a message matching `message`. */
export async function rejectsWith(promise: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e as CaughtError,
  );
  expect(error, 'expected a rejection').toBeDefined();
  expect(error!.code).toBe(code);
  expect(error!.message).toMatch(message);
}
