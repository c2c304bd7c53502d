/*
 * Bounded concurrency for the server: at most `limit` requests are worked on at once, at most
 * `queue` more wait for a slot, and the rest are refused at once (503) instead of piling up memory
 * and latency. Searches are synchronous and finish within their slot; the bound matters for the work
 * that awaits (a model's query encoding, reading a body).
 */
import { HttpError } from './http.js';

export class Limiter {
  #active = 0;
  readonly #waiting: Array<() => void> = [];

  constructor(readonly limit: number, readonly queue: number) {}

  /** Requests being worked on now. */
  get active(): number {
    return this.#active;
  }

  /** Requests waiting for a slot. */
  get waiting(): number {
    return this.#waiting.length;
  }

  async run<T>(fn: () => Promise<T> | T): Promise<T> {
    if (this.#active >= this.limit) {
      if (this.#waiting.length >= this.queue) {
        throw new HttpError(503, 'overloaded', `the server is busy (${this.#active} requests in progress, ${this.#waiting.length} waiting); retry later`);
      }
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    } else {
      this.#active++;
    }
    try {
      return await fn();
    } finally {
      // hand the slot straight to the next waiter (active stays the same), or free it
      const next = this.#waiting.shift();
      if (next) next();
      else this.#active--;
    }
  }
}
