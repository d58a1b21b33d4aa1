/**
 * The three execution lanes of QNX §5.1: all NOWAIT conditions run FIFO on one lane, all
 * "other" conditions FIFO on another, and each INDEPENDENT condition concurrently on its
 * own. A slow (waitfor) list on the "other" lane therefore never delays NOWAIT lists.
 *
 * @module
 */

import type { Lane } from "../core/dispatch.ts";

/** Runs tasks on the three kinds of lane. */
export class Lanes {
  #tails: Record<"nowait" | "other", Promise<void>> = {
    nowait: Promise.resolve(),
    other: Promise.resolve(),
  };
  /** Tasks scheduled on each FIFO lane and not finished. */
  #queued: Record<"nowait" | "other", number> = { nowait: 0, other: 0 };
  #pending = new Set<Promise<void>>();

  /**
   * Schedules `task` on `lane`; resolves when the task has finished. A task that throws
   * does not stop its lane (the error is passed to `onError`).
   */
  run(lane: Lane, task: () => Promise<void>, onError: (err: unknown) => void): Promise<void> {
    const guarded = async () => {
      try {
        await task();
      } catch (err) {
        onError(err);
      }
    };
    let p: Promise<void>;
    if (lane === "independent") {
      p = guarded();
    } else {
      // An idle lane starts the task now, in this turn (the event path); a busy one after
      // the task before it. The tail is set first: a task scheduled while this one runs
      // its synchronous part waits for it.
      const before = this.#tails[lane];
      const busy = this.#queued[lane] > 0;
      const done = Promise.withResolvers<void>();
      this.#tails[lane] = done.promise;
      this.#queued[lane]++;
      p = busy ? before.then(guarded) : guarded();
      const counted = lane;
      p.then(() => {
        this.#queued[counted]--;
        done.resolve();
      });
    }
    this.#pending.add(p);
    p.finally(() => this.#pending.delete(p));
    return p;
  }

  /** Resolves when every task scheduled so far has finished. */
  async idle(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
  }

  /** How many tasks are scheduled or running. */
  get busy(): number {
    return this.#pending.size;
  }
}
