/**
 * A mutex for the heartbeat examples' workers: async tasks stand in for the threads of
 * QNX's examples 5 and 6, and this lock for their `pthread_mutex_t`. It is deliberately
 * NOT fair, as a mutex without priority inheritance is not: `unlock()` wakes the first
 * waiter, but a task that calls `lock()` again before the waiter has run takes the lock
 * back (barging), so a greedy task can starve the others for ever.
 *
 * Not a worker itself: the workers import it.
 *
 * @module
 */

/** An unfair async mutex; `name` is for the workers' log lines. */
export class Mutex {
  /** The name of the lock, as the workers log it. */
  readonly name: string;
  #held = false;
  #waiters: Array<() => void> = [];

  /** Creates an unlocked mutex. */
  constructor(name: string) {
    this.name = name;
  }

  /** True while some task holds the lock. */
  get held(): boolean {
    return this.#held;
  }

  /** Takes the lock: at once when it is free, else when it is let go and still free. */
  async lock(): Promise<void> {
    while (this.#held) {
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
    this.#held = true;
  }

  /** Lets go of the lock and wakes the first waiter (which may find it taken again). */
  unlock(): void {
    this.#held = false;
    this.#waiters.shift()?.();
  }
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * The log of a worker: appends `<ms since epoch> <pid> <text>` lines to `file`, which the
 * example reads to put the worker's side on its timeline (a restarted worker's stdout is
 * the HAM's, so a file is the one place both runs can write to).
 */
export function workerLog(file: string): (text: string) => void {
  return (text) =>
    Deno.writeTextFileSync(file, `${Date.now()} ${Deno.pid} ${text}\n`, { append: true });
}
