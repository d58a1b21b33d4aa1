/**
 * The fallback of the pidfd poller, for kernels (or seccomp filters, or permissions)
 * without pidfds: a timer compares the `/proc/PID/stat` of every watched process with the
 * start time it had, so a reused pid is never taken for the process that had it before.
 *
 * @module
 */

import { processStat } from "./proc.ts";

/** What {@linkcode ProcPoller} watches: a pid and the start time of its process. */
export interface ProcItem {
  readonly pid: number;
  /** Field 22 of `/proc/PID/stat`. */
  readonly startTime: string;
}

/**
 * Checks its items every `intervalMs` and reports each item whose process ended, once;
 * the item is then removed. The timer runs only while there are items.
 */
export class ProcPoller<T extends ProcItem> {
  #items = new Set<T>();
  #intervalMs: number;
  #onExit: (item: T, zombie: boolean) => void;
  #timer: ReturnType<typeof setInterval> | undefined;

  /**
   * `onExit(item, zombie)` is called, synchronously and once, with each item whose process
   * ended: `zombie` is true when it is still there as a zombie (so its status can still be
   * collected: a zombie cannot have been reaped and its pid reused), false when it is gone.
   */
  constructor(intervalMs: number, onExit: (item: T, zombie: boolean) => void) {
    this.#intervalMs = intervalMs;
    this.#onExit = onExit;
  }

  /** Starts checking `item`. */
  add(item: T): void {
    this.#items.add(item);
    this.#timer ??= setInterval(() => this.#scan(), this.#intervalMs);
  }

  /** Stops checking `item`. Does nothing for an item it does not hold. */
  delete(item: T): void {
    this.#items.delete(item);
    if (this.#items.size === 0) this.#stopTimer();
  }

  /** Stops checking every item. Idempotent. */
  close(): Promise<void> {
    this.#items.clear();
    this.#stopTimer();
    return Promise.resolve();
  }

  #stopTimer(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** One pass over every item. */
  #scan(): void {
    for (const item of this.#items) {
      const stat = processStat(item.pid);
      const same = stat !== null && stat.startTime === item.startTime;
      if (same && stat.state !== "Z" && stat.state !== "X") continue;
      this.#onExit(item, same);
      this.delete(item);
    }
  }
}
