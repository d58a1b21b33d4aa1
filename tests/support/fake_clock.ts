/**
 * A fake {@linkcode Clock} for unit tests: time moves only when the test calls
 * {@linkcode FakeClock.advance}, and sleepers wake in due order, each given the chance to
 * run to its next sleep before the next one wakes. {@linkcode FakeClock.jump} steps the
 * wall clock alone, as setting the system time does: sleeps count in monotonic time.
 *
 * @module
 */

import type { Clock } from "../../lib/os/clock.ts";

interface Sleeper {
  due: number;
  order: number;
  resolve: (woke: boolean) => void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

/** Lets every queued microtask (and every microtask those queue) run. */
export async function flush(): Promise<void> {
  // A zero-delay macrotask turn runs only once the microtask queue is empty: it waits for
  // quiescence, not for time. Twice, in case a finally/then chain re-queues at the end.
  for (let i = 0; i < 2; i++) await new Promise<void>((resolve) => setTimeout(resolve, 0));
}

/** A clock whose time moves only when told to. */
export class FakeClock implements Clock {
  /** Monotonic time; the wall clock reads it plus `#step`. */
  #now: number;
  #step = 0;
  #order = 0;
  #sleepers: Sleeper[] = [];

  /** Creates a clock reading `start` ms. @default 0 */
  constructor(start = 0) {
    this.#now = start;
  }

  /** The current fake wall-clock time. */
  now(): number {
    return this.#now + this.#step;
  }

  /** The current fake monotonic time (equal to {@linkcode now} until a {@linkcode jump}). */
  monotonic(): number {
    return this.#now;
  }

  /** Steps the wall clock by `ms` (back when negative) without moving monotonic time. */
  jump(ms: number): void {
    this.#step += ms;
  }

  /** Registers a sleeper that {@linkcode FakeClock.advance} wakes; a sleep of ≤ 0 ms resolves at once. */
  sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
    if (signal?.aborted) return Promise.resolve(false);
    if (!(ms > 0)) return Promise.resolve(true);
    return new Promise<boolean>((resolve) => {
      const s: Sleeper = { due: this.#now + ms, order: this.#order++, resolve, signal };
      if (signal) {
        s.onAbort = () => {
          this.#sleepers = this.#sleepers.filter((x) => x !== s);
          resolve(false);
        };
        signal.addEventListener("abort", s.onAbort, { once: true });
      }
      this.#sleepers.push(s);
    });
  }

  /** How many sleepers are waiting. */
  get pending(): number {
    return this.#sleepers.length;
  }

  /** The due times of the waiting sleepers (monotonic), soonest first. */
  get dueTimes(): number[] {
    return this.#sleepers.map((s) => s.due).sort((a, b) => a - b);
  }

  /**
   * Moves time forward by `ms`, waking every sleeper that falls due on the way, in due
   * order (ties in registration order), with the time set to each one's due time and the
   * microtasks it starts run to quiescence before the next one wakes.
   */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    await flush();
    for (;;) {
      const next = this.#nextDue(target);
      if (!next) break;
      this.#sleepers = this.#sleepers.filter((x) => x !== next);
      if (next.signal && next.onAbort) next.signal.removeEventListener("abort", next.onAbort);
      this.#now = next.due;
      next.resolve(true);
      await flush();
    }
    this.#now = target;
    await flush();
  }

  /** Advances to the absolute fake wall-clock time `t` (no-op when already past it). */
  async advanceTo(t: number): Promise<void> {
    await this.advance(Math.max(0, t - this.now()));
  }

  #nextDue(target: number): Sleeper | undefined {
    let best: Sleeper | undefined;
    for (const s of this.#sleepers) {
      if (s.due > target) continue;
      if (!best || s.due < best.due || (s.due === best.due && s.order < best.order)) best = s;
    }
    return best;
  }
}
