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
import { connect, type Ham } from "../../mod.ts";

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

/** A heartbeating example worker, attached to its HAM. */
export interface Worker {
  ham: Ham;
  name: string;
  note: (text: string) => void;
  /** True the first time (the one-time fault has not happened yet: no mark file). */
  firstRun: boolean;
  /** Leaves the mark, so a restarted worker does not fault again. */
  mark(): void;
  /** When the fault is due (ms since the epoch). */
  faultAt: number;
}

/**
 * The common start of the heartbeat examples' workers: `ARGS = STATE_DIR [NAME] [AFTER_MS]`,
 * a log file, the one-time-fault mark `DIR/NAME.MARK`, and a self-attach with a heartbeat
 * of 100 ms (low 3, high 5). The process exits when its HAM connection ends.
 */
export async function startWorker(
  args: string[],
  defaults: { name: string; mark: string; usage: string },
  describe: (firstRun: boolean, afterMs: string) => string,
): Promise<Worker> {
  const [stateDir, name = defaults.name, afterText = "1000"] = args;
  if (stateDir === undefined) {
    console.error(`Usage: ${defaults.usage}`);
    Deno.exit(2);
  }
  const note = workerLog(`${stateDir}/${name}.log`);
  const markFile = `${stateDir}/${name}.${defaults.mark}`;
  let firstRun = true;
  try {
    Deno.statSync(markFile);
    firstRun = false;
  } catch { /* no mark: the fault is still to come */ }
  const faultAt = Date.now() + Number(afterText);
  const ham = await connect({ stateDir, client: name });
  ham.client.closed.then(() => Deno.exit(0));
  await ham.attachSelf(name, { heartbeat: { periodMs: 100, low: 3, high: 5 } });
  // The HAM starts the processes it restarts with HAM_ENTITY set.
  const restarted = Deno.env.get("HAM_ENTITY") === name;
  note(
    `attached itself as "${name}" (heartbeat 100 ms, low 3, high 5)` +
      (restarted ? ", started by the HAM" : "") + `; ${describe(firstRun, afterText)}`,
  );
  const mark = () => Deno.writeTextFileSync(markFile, `${Deno.pid}\n`);
  return { ham, name, note, firstRun, mark, faultAt };
}
