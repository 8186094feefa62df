// One model's native calls run one after another: concurrent callers wait here
// instead of oversubscribing the cores (results are the same either way).
import { fromNativeError } from '../errors.js';

export class SerialQueue {
  #tail: Promise<unknown> = Promise.resolve();

  /** Runs `work` after everything queued before it; a native error comes out as a LoraNodeError. */
  run<T>(work: () => Promise<T>): Promise<T> {
    const next = this.#tail.then(work);
    this.#tail = next.catch(() => undefined);
    return next.catch((error: unknown) => {
      throw fromNativeError(error);
    });
  }
}
