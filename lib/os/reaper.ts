/**
 * Reaps the zombies nobody else will. As a child subreaper, the HAM adopts the orphans of
 * every descendant; those it does not watch would stay zombies forever once they die.
 * {@linkcode ZombieReaper} reaps them on `SIGCHLD`, one pid at a time, and leaves alone
 * the children Deno spawned (Deno collects their status itself: a reaped one makes
 * `ChildProcess.status` reject with ECHILD) and the watched ones (the watcher collects
 * theirs; while a watched zombie waits, the reaper sweeps again every 100 ms, for the
 * watches that do not reap). It never collects with `waitid(P_ALL)`: it only peeks with
 * it (`WNOWAIT`), to skip the scan of every process when no child has ended.
 *
 * @module
 */

import { collectExit, endedChild, hasEndedChild } from "./exit_status.ts";
import { libc, libcAvailable, WAIT } from "./libc.ts";
import type { ExitStatus } from "../core/model.ts";
import { childrenOf, processStat } from "./proc.ts";

/**
 * Delay of the extra sweep made while a watched zombie waits for its watcher: a watch that
 * does not reap (`reap: false`) leaves the zombie to this reaper, after its SIGCHLD.
 */
const RETRY_MS = 100;

/** Options of the {@linkcode ZombieReaper} constructor. */
export interface ZombieReaperOptions {
  /**
   * True for every process spawned by Deno (`Deno.Command`) whose status Deno has not
   * collected yet. It must know a child from the moment `spawn()` returns, in the same
   * synchronous run: a sweep runs later, but never in between.
   */
  isDenoChild(pid: number): boolean;
  /** True for a pid watched by a `ProcessWatcher` (`ProcessWatcher.isWatching`). */
  isWatched(pid: number): boolean;
  /** Called with each reaped pid and how it ended. @default {undefined} */
  onReaped?(pid: number, status: ExitStatus): void;
  /**
   * Asked, as soon as `SIGCHLD` arrives, to collect a watched child that ended
   * (`ProcessWatcher.collect`): true when it did. @default {undefined}
   */
  collectWatched?(pid: number): boolean;
}

/**
 * Reaps the zombie children of this process that are neither Deno's nor watched.
 *
 * @example
 * ```ts
 * import { ZombieReaper } from "./reaper.ts";
 *
 * // In the HAM, `isDenoChild` asks the set of children started through Deno (`denoChildren`
 * // in spawner.ts: Deno collects their status itself), and the reaper takes every other
 * // zombie child. Where other code spawns in the same process (a test run, this example),
 * // say narrowly what it may take: here only the pids in `ours`, so none.
 * const ours = new Set<number>();
 * using reaper = new ZombieReaper({
 *   isDenoChild: (pid) => !ours.has(pid),
 *   isWatched: () => false,
 *   onReaped: (pid, status) => console.log(`reaped ${pid}`, status),
 * });
 * reaper.start();
 * const child = new Deno.Command("/bin/true").spawn();
 * await child.status; // Deno's to collect: the reaper left it alone
 * console.log(reaper.sweep()); // []
 * ```
 */
export class ZombieReaper {
  #options: ZombieReaperOptions;
  #listening = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerDelay = 0;
  #onSignal = (): void => {
    this.#collectWatched();
    this.#schedule();
  };

  /** Creates a reaper; it does nothing until {@linkcode start} or {@linkcode sweep}. */
  constructor(options: ZombieReaperOptions) {
    this.#options = options;
  }

  /**
   * True while a `SIGCHLD` listener drives the sweeps. False before {@linkcode start},
   * after {@linkcode stop}, and when the listener cannot be installed: then only calls
   * of {@linkcode sweep} reap.
   */
  get listening(): boolean {
    return this.#listening;
  }

  /**
   * Sweeps on every `SIGCHLD` (a burst of them makes one sweep), and once now for the
   * zombies already there. Idempotent.
   */
  start(): void {
    if (this.#listening) return;
    try {
      Deno.addSignalListener("SIGCHLD", this.#onSignal);
      this.#listening = true;
    } catch {
      return; // No signal support: the owner calls sweep() itself.
    }
    this.#schedule();
  }

  /** Removes the `SIGCHLD` listener and cancels a pending sweep. Idempotent. */
  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (!this.#listening) return;
    Deno.removeSignalListener("SIGCHLD", this.#onSignal);
    this.#listening = false;
  }

  /** Same as {@linkcode stop}, for `using`. */
  [Symbol.dispose](): void {
    this.stop();
  }

  /**
   * Reaps, now, every zombie child of this process that is neither Deno's nor watched,
   * each with `waitid(P_PID, pid, WEXITED | WNOHANG)`. Returns the reaped pids, ascending;
   * none when libc is unavailable.
   */
  sweep(): number[] {
    return this.#sweep().reaped;
  }

  /**
   * Hands the watched children that ended to their watcher at once, while the one that
   * `waitid(P_ALL, WNOWAIT)` peeks at is one: the death of a monitored process reaches the
   * HAM on this signal's wake-up, before the poll of its pidfd returns.
   */
  #collectWatched(): void {
    const { collectWatched, isDenoChild, isWatched } = this.#options;
    if (!collectWatched || !libcAvailable()) return;
    const lib = libc();
    // Bounded: each round reaps one child.
    for (let round = 0; round < 64; round++) {
      const pid = endedChild(lib);
      if (pid === 0 || isDenoChild(pid) || !isWatched(pid) || !collectWatched(pid)) return;
    }
  }

  #sweep(): { reaped: number[]; watchedZombies: boolean } {
    if (!libcAvailable()) return { reaped: [], watchedZombies: false };
    const lib = libc();
    const { isDenoChild, isWatched, onReaped } = this.#options;
    const reaped: Array<[number, ExitStatus]> = [];
    let watchedZombies = false;
    // The scan reads every process's stat: most sweeps find no zombie child at all.
    if (!hasEndedChild(lib)) return { reaped: [], watchedZombies };
    for (const pid of childrenOf(Deno.pid)) {
      if (isDenoChild(pid)) continue;
      // A zombie keeps its pid until reaped: the waitid() below cannot reach another process.
      if (processStat(pid)?.state !== "Z") continue;
      if (isWatched(pid)) {
        if (!this.#options.collectWatched?.(pid)) watchedZombies = true;
        continue;
      }
      const status = collectExit(lib, WAIT.P_PID, pid);
      if (status !== null) reaped.push([pid, status]);
    }
    for (const [pid, status] of reaped) onReaped?.(pid, status);
    return { reaped: reaped.map(([pid]) => pid), watchedZombies };
  }

  /**
   * Sweeps in `delayMs`, or once the current burst of signals (and the code that ran it)
   * is over; an earlier pending sweep covers a later one.
   */
  #schedule(delayMs = 0): void {
    if (this.#timer !== undefined && this.#timerDelay <= delayMs) return;
    clearTimeout(this.#timer);
    this.#timerDelay = delayMs;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (!this.#listening) return;
      if (this.#sweep().watchedZombies) this.#schedule(RETRY_MS);
    }, delayMs);
  }
}
