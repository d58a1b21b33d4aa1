/**
 * How many descriptors the Guardian's hot standby (its pidfds and held FIFOs) may hold:
 * a share of the descriptor limit, so that mirroring a very large state never takes the
 * descriptors the Guardian needs to follow the journal, nor those the HAM it becomes needs
 * to serve. What does not fit is opened at the takeover instead, as without a standby.
 *
 * @module
 */

/** A count of descriptors against a limit. */
export class FdBudget {
  readonly limit: number;
  #used = 0;

  /** A budget of `limit` descriptors (Infinity: no limit). */
  constructor(limit: number) {
    this.limit = limit;
  }

  /** Descriptors counted now. */
  get used(): number {
    return this.#used;
  }

  /** Counts `n` more descriptors if they fit; false (nothing counted) when they do not. */
  take(n: number): boolean {
    if (this.#used + n > this.limit) return false;
    this.#used += n;
    return true;
  }

  /** Gives back `n` descriptors. */
  give(n: number): void {
    this.#used = Math.max(0, this.#used - n);
  }
}
