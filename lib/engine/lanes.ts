/**
 * The three execution lanes of QNX §5.1: all NOWAIT conditions run FIFO on one lane, all
 * "other" conditions FIFO on another, and each INDEPENDENT condition concurrently on its
 * own. A slow (waitfor) list on the "other" lane therefore never delays NOWAIT lists. A
 * wait that is ham's own, not a waitfor (a restart's backoff), leaves the lane meanwhile.
 *
 * @module
 */

import type { Lane } from "../core/dispatch.ts";

/**
 * Lets the lane a task runs on go on without it: the tasks behind it start, but those of
 * the same key still wait for it. Idempotent.
 */
export type Release = () => void;

/** Runs tasks on the three kinds of lane. */
export class Lanes {
  #tails: Record<"nowait" | "other", Promise<void>> = {
    nowait: Promise.resolve(),
    other: Promise.resolve(),
  };
  /** Tasks scheduled on each FIFO lane and not finished (nor released). */
  #queued: Record<"nowait" | "other", number> = { nowait: 0, other: 0 };
  #pending = new Set<Promise<void>>();
  /** The last task of each key that left its lane before it finished: its end. */
  #released = new Map<string, Promise<void>>();

  /**
   * Schedules `task` on `lane`; resolves when the task has finished. A task that throws
   * does not stop its lane (the error is passed to `onError`). On a FIFO lane, a task may
   * leave it while it waits for something that is not the lane's to wait for (it calls
   * the {@linkcode Release} it is given): the tasks behind it go ahead, except those of
   * its `key` (its entity), which start once it has finished, off the lane too.
   */
  run(
    lane: Lane,
    task: (release: Release) => Promise<void>,
    onError: (err: unknown) => void,
    key?: string,
  ): Promise<void> {
    const guarded = async (release: Release) => {
      try {
        await task(release);
      } catch (err) {
        onError(err);
      }
    };
    let p: Promise<void>;
    if (lane === "independent") {
      p = guarded(() => {});
    } else {
      // An idle lane starts the task now, in this turn (the event path); a busy one after
      // the task before it. The tail is set first: a task scheduled while this one runs
      // its synchronous part waits for it.
      const before = this.#tails[lane];
      const busy = this.#queued[lane] > 0;
      const done = Promise.withResolvers<void>();
      const finished = Promise.withResolvers<void>();
      this.#tails[lane] = done.promise;
      this.#queued[lane]++;
      let held = true;
      const leave = () => {
        if (!held) return false;
        held = false;
        this.#queued[lane]--;
        done.resolve();
        return true;
      };
      const release = () => {
        if (leave() && key !== undefined) this.#released.set(key, finished.promise);
      };
      const start = (): Promise<void> => {
        // An earlier task of its key left the lane and runs on: this one waits for it,
        // off the lane as well.
        const earlier = key === undefined ? undefined : this.#released.get(key);
        if (earlier === undefined) return guarded(release);
        release();
        return earlier.then(() => guarded(release));
      };
      p = busy ? before.then(start) : start();
      p.then(() => {
        leave();
        finished.resolve();
        if (key !== undefined && this.#released.get(key) === finished.promise) {
          this.#released.delete(key);
        }
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
