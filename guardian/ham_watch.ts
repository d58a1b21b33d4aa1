/**
 * How the Guardian watches its HAM. The authority is the state directory's lock: the HAM
 * holds it for its whole life, the Guardian waits for it (a blocking `flock`), and the
 * kernel hands it over once the HAM's process is gone, however it ended. Two faster
 * signals are logged as they come: the end of the Guardian's connection to the HAM's
 * socket, and a pidfd on the HAM's pid. The connection also carries the HAM's notice that
 * it is stopping, after which getting the lock means "exit", not "take over".
 *
 * A Guardian takes over only from the HAM it guards. The lock file names the last HAM that
 * held the lock: when that is another HAM, this Guardian outlived its own (stopped, say,
 * while its HAM died and a new `ham` started on the directory) and must not take over —
 * not from a HAM with a Guardian of its own, nor after that HAM's stop, whose notice only
 * its connection would have carried.
 *
 * @module
 */

import { HamClient } from "../lib/client/client.ts";
import { HamError } from "../lib/core/errors.ts";
import type { Logger } from "../lib/os/logger.ts";
import { ProcessWatcher, type Watch } from "../lib/os/process_watcher.ts";
import { readLockHolder, type StateLock, waitForLock } from "../lib/store/state_lock.ts";

/** What {@linkcode HamWatch.gone} resolves with: the HAM is gone and its lock is ours. */
export interface HamGone {
  /** The state directory's lock, held: pass it to the HAM this process becomes. */
  lock: StateLock;
  /** The HAM said it was stopping: exit instead of taking over. */
  stopRequested: boolean;
  /**
   * The pid of another HAM that held the lock after the one this Guardian guards (the lock
   * file names it): this Guardian is stale and exits instead of taking over. Null when the
   * last holder is the guarded HAM, or either is not known.
   */
  replacedBy: number | null;
  /** `performance.now()` when the HAM was first seen gone. */
  noticedAt: number;
  /** Which signal came first: `lock`, `connection` or `pidfd`. */
  noticedBy: string;
  /** `performance.now()` when the lock was taken. */
  lockedAt: number;
}

/** Options of {@linkcode HamWatch.start}. */
export interface HamWatchOptions {
  stateDir: string;
  /** The HAM's pid, watched by pidfd; null to rely on the lock and the connection. */
  hamPid: number | null;
  log: Logger;
}

/** Watches one HAM until it is gone. */
export class HamWatch {
  /** Resolves once the HAM is gone and this process holds the state directory's lock. */
  readonly gone: Promise<HamGone>;
  #log: Logger;
  #client: HamClient | null = null;
  #watcher: ProcessWatcher | null = null;
  #watch: Watch | null = null;
  #stopRequested = false;
  #noticed: { at: number; by: string } | null = null;

  private constructor(opts: HamWatchOptions) {
    this.#log = opts.log;
    this.gone = waitForLock(opts.stateDir).then(async (lock) => {
      const lockedAt = performance.now();
      this.#notice("lock");
      let holder: number | null = null;
      try {
        holder = await readLockHolder(lock.file);
      } catch { /* Unreadable: the lock alone decides, as before it named anyone. */ }
      return {
        lock,
        lockedAt,
        stopRequested: this.#stopRequested,
        replacedBy: holder !== null && opts.hamPid !== null && holder !== opts.hamPid
          ? holder
          : null,
        noticedAt: this.#noticed!.at,
        noticedBy: this.#noticed!.by,
      };
    });
  }

  /**
   * Starts watching: waits for the lock at once, connects to the HAM's socket as client
   * `guardian` and opens a pidfd on `hamPid`. Neither of the last two is needed: when they
   * fail (the HAM is already gone) the lock still decides.
   */
  static async start(opts: HamWatchOptions): Promise<HamWatch> {
    const w = new HamWatch(opts);
    await w.#connect(opts.stateDir);
    if (opts.hamPid !== null) w.#watchPid(opts.hamPid);
    return w;
  }

  /** True once the HAM said it is stopping. */
  get stopRequested(): boolean {
    return this.#stopRequested;
  }

  /** Closes the connection and the pidfd (the lock, once held, is the caller's). */
  async close(): Promise<void> {
    this.#watch?.cancel();
    this.#client?.close();
    await this.#client?.closed;
    await this.#watcher?.close();
  }

  #notice(by: string): void {
    if (this.#noticed) return;
    this.#noticed = { at: performance.now(), by };
    if (by !== "lock") this.#log.log("info", `Guardian ${Deno.pid}: the HAM is gone (${by})`);
  }

  async #connect(stateDir: string): Promise<void> {
    let client: HamClient;
    try {
      client = await HamClient.connect({ stateDir, client: "guardian", timeoutMs: 5000 });
    } catch (err) {
      // Most likely the HAM died while this Guardian was starting: the lock will tell.
      this.#log.log("info", `Guardian ${Deno.pid} cannot reach the HAM: ${(err as Error).message}`);
      if (err instanceof HamError && err.code === "EBADF") this.#notice("connection");
      return;
    }
    this.#client = client;
    const pushes = client.pushes();
    (async () => {
      for await (const push of pushes) {
        if ((push as { type?: unknown })?.type === "stopping") this.#stopRequested = true;
      }
    })();
    client.closed.then(() => this.#notice("connection"));
  }

  #watchPid(pid: number): void {
    try {
      this.#watcher = new ProcessWatcher();
      this.#watch = this.#watcher.watch(pid, null, { reap: false });
      this.#watch.exited.then((st) => st && this.#notice("pidfd"));
    } catch (err) {
      if (err instanceof HamError && err.code === "ESRCH") return this.#notice("pidfd");
      this.#log.log("warn", `Guardian ${Deno.pid} cannot watch pid ${pid}: ${err}`);
    }
  }
}
