// Deterministic disposal for an object whose calls run asynchronously on native handles (SpladeModel,
// CrossEncoder): dispose() refuses new calls at once and releases the native memory as soon as the
// calls in flight have ended (at once when there are none), so a dispose() in the middle of an encode
// lets that encode finish, as InvertedIndex.dispose() lets a searchBatch finish.
import { ErrorCode, SpladeError } from './errors.js';

export class InFlight {
  #running = 0;
  #disposed = false;

  /** what: the object's name in the error ("SpladeModel"); release: frees its native handles, once. */
  constructor(private readonly what: string, private readonly release: () => void) {}

  get disposed(): boolean {
    return this.#disposed;
  }

  /** Throws ERR_SPLADE_INVALID_ARGUMENT once disposed. */
  check(): void {
    if (this.#disposed) throw new SpladeError(`This ${this.what} was disposed`, ErrorCode.invalidArgument);
  }

  /** Runs an asynchronous call, counted as in flight until it settles. */
  async run<T>(call: () => Promise<T>): Promise<T> {
    this.check();
    this.#running++;
    try {
      return await call();
    } finally {
      if (--this.#running === 0 && this.#disposed) this.release();
    }
  }

  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    if (this.#running === 0) this.release();
  }
}
