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
      p = this.#tails[lane].then(guarded);
      this.#tails[lane] = p;
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
