// What every JS object that owns a native model shares: the handle, ERR_DISPOSED
// after dispose(), and one queue its native calls run through in order.
import { DisposedError } from '../errors.js';
import { SerialQueue } from './serial-queue.js';

export abstract class NativeHolder<H extends { dispose(): void }> implements Disposable {
  // Protected (not #private) so tests can reach the handle for native-level checks.
  protected handle: H | undefined;
  readonly #queue = new SerialQueue();
  readonly #kind: string;

  protected constructor(handle: H, kind: string) {
    this.handle = handle;
    this.#kind = kind;
  }

  /** Frees native memory. Idempotent; any later call throws ERR_DISPOSED. */
  dispose(): void {
    this.handle?.dispose();
    this.handle = undefined;
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  /** The handle, or ERR_DISPOSED. */
  protected live(): H {
    if (!this.handle) throw new DisposedError(this.#kind);
    return this.handle;
  }

  /** Runs `work` after the calls queued before it (checked live when its turn comes). */
  protected enqueue<T>(work: (handle: H) => Promise<T>): Promise<T> {
    return this.#queue.run(() => work(this.live()));
  }
}
