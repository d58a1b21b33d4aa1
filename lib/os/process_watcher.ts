/**
 * Watches the death of processes that Deno did not spawn: attached processes, daemons
 * that double-forked, and orphans adopted by the HAM as a child subreaper.
 *
 * Each watched pid gets a pidfd, and one `poll()` waits on all of them
 * ({@linkcode PidfdPoller}). Without pidfds (old kernel, seccomp, no FFI permission) the
 * watcher falls back to comparing `/proc/PID/stat` start times on a timer
 * ({@linkcode ProcPoller}): see {@linkcode ProcessWatcher.mode}.
 *
 * @module
 */

import { HamError } from "../core/errors.ts";
import { collectExit, unknownStatus } from "./exit_status.ts";
import { type Libc, libc, libcAvailable, WAIT } from "./libc.ts";
import type { ExitStatus } from "../core/model.ts";
import { openPidfd, pidfdWorks, sendSignal } from "./pidfd.ts";
import { PidfdPoller } from "./pidfd_poller.ts";
import { processStat } from "./proc.ts";
import { ProcPoller } from "./proc_poller.ts";
import {
  checkAlive,
  checkPid,
  checkSignal,
  signalByKill,
  signalByPidfd,
} from "./process_signal.ts";

/** A watch on one process. */
export interface Watch {
  /** The watched pid. */
  readonly pid: number;
  /**
   * Settles once: with how the process ended when it dies (`{ code: null, signal: null }`
   * when that is unknown), or with `null` when the watch is cancelled or the watcher closed.
   */
  readonly exited: Promise<ExitStatus | null>;
  /** Stops watching; `exited` resolves with `null`. Does nothing once it has settled. */
  cancel(): void;
  /**
   * Has `fn` called with how the process ended, synchronously, as the watcher learns of it
   * (the poll's answer, a `SIGCHLD`): before `exited`'s reactions, and before anything
   * else queued in that turn (see README, "The event path"). Never called when the watch is
   * cancelled or the watcher closed. One callback per watch (a second replaces the first);
   * one given after the exit was delivered is called a microtask later.
   */
  onExit(fn: (status: ExitStatus) => void): void;
}

/** Options of {@linkcode ProcessWatcher.watch}. */
export interface WatchOptions {
  /**
   * Collect the exit status with `waitid()`, which reaps the process if it is our child
   * (an orphan adopted by the subreaper). Never set it for a process Deno spawned: Deno
   * reaps those itself. When watches of one pid disagree, it is not reaped.
   * @default {true}
   */
  reap?: boolean;
}

/** Options of the {@linkcode ProcessWatcher} constructor. */
export interface ProcessWatcherOptions {
  /** Use the `/proc` polling fallback even when pidfds work (for tests). @default {false} */
  forceProcPoll?: boolean;
  /** Period of the `/proc` polling fallback, in milliseconds. @default {50} */
  procPollIntervalMs?: number;
  /**
   * Told when watching falls back to `/proc` polling for want of descriptors (once per
   * episode), when pidfds open again, and when an `onExit` callback throws.
   * @default {silent}
   */
  log?: (level: "warn" | "info", message: string) => void;
}

interface Watcher {
  reap: boolean;
  resolve(status: ExitStatus | null): void;
  onExit: ((status: ExitStatus) => void) | null;
  /** How the process ended, once delivered (for an `onExit` given only after that). */
  ended: ExitStatus | null;
}

interface Entry {
  pid: number;
  /** The pidfd, or -1 in proc-poll mode. */
  fd: number;
  /** The verified start time of the watched process. */
  startTime: string;
  watchers: Set<Watcher>;
}

let subreaper = false;

/** Makes the HAM the reaper of its orphaned descendants. False when prctl is unavailable. */
export function setChildSubreaper(): boolean {
  subreaper ||= libcAvailable() && libc().prctl(WAIT.PR_SET_CHILD_SUBREAPER, 1) === 0;
  return subreaper;
}

/** True once {@linkcode setChildSubreaper} succeeded: orphans of descendants come here. */
export function isChildSubreaper(): boolean {
  return subreaper;
}

/**
 * Watches processes by pid (with a start time, so a reused pid is never mistaken for the
 * watched process), reports how they ended, and signals them without pid-reuse races.
 *
 * @example
 * ```ts
 * import { ProcessWatcher } from "./process_watcher.ts";
 * import { processStartTime } from "./proc.ts";
 *
 * await using watcher = new ProcessWatcher();
 * await using child = new Deno.Command("/bin/sleep", { args: ["10"] }).spawn();
 * // Deno reaps its own children: never let the watcher reap them.
 * const watch = watcher.watch(child.pid, processStartTime(child.pid), { reap: false });
 * watcher.signal(child.pid, 15);
 * console.log(await watch.exited); // { code: null, signal: null }: the status is Deno's
 * ```
 */
export class ProcessWatcher {
  /** `pidfd`: event-driven. `proc-poll`: the timer fallback, when pidfds are unavailable. */
  readonly mode: "pidfd" | "proc-poll";
  #lib: Libc | null;
  #entries = new Map<number, Entry>();
  /** Pidfds opened earlier (by a Guardian as it mirrored), by pid, for the first watch. */
  #adopted = new Map<number, { fd: number; startTime: string }>();
  #poller: PidfdPoller<Entry> | ProcPoller<Entry>;
  /** In pidfd mode, the `/proc` poller of processes watched while out of descriptors. */
  #fallback: ProcPoller<Entry> | null = null;
  #procPollMs: number;
  #closing: Promise<void> | null = null;
  #log: (level: "warn" | "info", message: string) => void;
  /** True from a pidfd refused for want of descriptors until one opens again. */
  #starved = false;

  /** Creates a watcher; it holds no resource until the first {@linkcode watch}. */
  constructor(options: ProcessWatcherOptions = {}) {
    const lib = libcAvailable() ? libc() : null;
    this.#lib = lib;
    this.#procPollMs = options.procPollIntervalMs ?? 50;
    this.#log = options.log ?? (() => {});
    if (!options.forceProcPoll && lib !== null && pidfdWorks(lib)) {
      this.mode = "pidfd";
      this.#poller = new PidfdPoller<Entry>(lib, (entry) => this.#exited(entry, true));
    } else {
      this.mode = "proc-poll";
      const intervalMs = options.procPollIntervalMs ?? 50;
      this.#poller = new ProcPoller<Entry>(intervalMs, (entry, zombie) => {
        this.#exited(entry, zombie);
      });
    }
  }

  /**
   * Watches the death of `pid`, which must be alive, not a zombie, and (when `startTime`
   * is given) have that start time.
   *
   * @throws {HamError} `ESRCH` when the process is gone or the pid was reused, `EINVAL`
   * for a bad pid, `ENOMEM` when out of file descriptors, `ECANCELED` once closed.
   */
  watch(pid: number, startTime: string | null, opts: WatchOptions = {}): Watch {
    if (this.#closing !== null) {
      throw new HamError("ECANCELED", `Cannot watch pid ${pid}: the watcher is closed`);
    }
    checkPid("watch", pid);
    let entry = this.#entries.get(pid);
    if (entry !== undefined) {
      const stat = processStat(pid);
      checkAlive("watch", pid, stat, startTime);
      // The watched process died and its pid was reused before the poller noticed.
      // (Its callbacks a microtask later: this is the middle of someone's watch() call.)
      if (stat.startTime !== entry.startTime) this.#finish(entry, unknownStatus(), false);
    }
    if (entry === undefined || !this.#entries.has(pid)) {
      entry = this.#open(pid, startTime);
      this.#entries.set(pid, entry);
    }
    const { promise, resolve } = Promise.withResolvers<ExitStatus | null>();
    const watcher: Watcher = { reap: opts.reap ?? true, resolve, onExit: null, ended: null };
    entry.watchers.add(watcher);
    const watched = entry;
    return {
      pid,
      exited: promise,
      cancel: () => this.#cancel(watched, watcher),
      onExit: (fn) => {
        // Given after the exit was delivered (its watcher awaited something first): a
        // microtask later, as the exit's promise would.
        const ended = watcher.ended;
        if (ended !== null) queueMicrotask(() => fn({ ...ended }));
        else watcher.onExit = fn;
      },
    };
  }

  /**
   * Takes a pidfd opened earlier on `pid`, whose process had `startTime` when it was opened
   * (a Guardian opens one for each monitored process as it mirrors the journal). The next
   * {@linkcode watch} of `pid` with that start time uses it without any system call: a
   * pidfd refers to its process for good, so a process that died since is reported at once
   * by the poll, never confused with a new process on the same pid. The watcher owns `fd`.
   */
  adopt(pid: number, fd: number, startTime: string): void {
    const old = this.#adopted.get(pid);
    if (old !== undefined) this.#lib?.close(old.fd);
    this.#adopted.set(pid, { fd, startTime });
  }

  /** Closes the adopted pidfds no watch has used. */
  dropAdopted(): void {
    for (const { fd } of this.#adopted.values()) this.#lib?.close(fd);
    this.#adopted.clear();
  }

  /** True while `pid` is watched (so a reaper must leave its status to this watcher). */
  isWatching(pid: number): boolean {
    return this.#entries.has(pid);
  }

  /**
   * Reports the watch of `pid` now if it is a child of this process that has ended and
   * that every watch of it wants reaped: collects its status through its pidfd (so never
   * another process's), without waiting for the poll to see the pidfd readable. A `SIGCHLD`
   * handler calls it (see `reaper.ts`): the signal wakes the main thread at once, where the
   * poll's answer comes from a thread of the pool. True when it was reported.
   */
  collect(pid: number): boolean {
    const entry = this.#entries.get(pid);
    if (entry === undefined || entry.fd < 0 || this.#lib === null) return false;
    if (![...entry.watchers].every((w) => w.reap)) return false;
    const status = collectExit(this.#lib, WAIT.P_PIDFD, entry.fd);
    if (status === null) return false; // Not ended, or not our child.
    this.#finish(entry, status);
    return true;
  }

  /**
   * Sends signal number `signal` (0 only checks) to `pid` through a pidfd: the watched one,
   * or a temporary one after checking `startTime` when it is given.
   *
   * @throws {HamError} `ESRCH` when the process is gone or the pid was reused, `EPERM`
   * when not permitted, `EINVAL` for a bad signal or pid.
   */
  signal(pid: number, signal: number, startTime: string | null = null): void {
    checkPid("signal", pid);
    checkSignal(pid, signal);
    if (this.mode === "proc-poll") return signalByKill(this.#lib, pid, signal, startTime);
    const entry = this.#entries.get(pid);
    if (entry !== undefined && (startTime === null || startTime === entry.startTime)) {
      if (entry.fd < 0) return signalByKill(this.#lib, pid, signal, entry.startTime);
      return sendSignal(this.#lib!, pid, entry.fd, signal);
    }
    signalByPidfd(this.#lib!, pid, signal, startTime);
  }

  /** Stops watching: pending watches resolve with `null`, every fd is closed. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  /** Same as {@linkcode close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #shutdown(): Promise<void> {
    for (const entry of this.#entries.values()) {
      for (const watcher of entry.watchers) watcher.resolve(null);
    }
    this.#entries.clear();
    this.dropAdopted();
    await this.#poller.close();
    await this.#fallback?.close();
  }

  /** Starts watching a live process with that start time (when given). */
  #open(pid: number, startTime: string | null): Entry {
    const adopted = this.#adopted.get(pid);
    if (adopted !== undefined && this.mode === "pidfd") {
      this.#adopted.delete(pid);
      if (startTime === null || startTime === adopted.startTime) {
        const { fd } = adopted;
        const entry = { pid, fd, startTime: adopted.startTime, watchers: new Set<Watcher>() };
        this.#poll(entry);
        return entry;
      }
      this.#lib!.close(adopted.fd);
    }
    // Open the pidfd first: the stat then describes the process the pidfd refers to.
    const fd = this.mode === "pidfd" ? this.#openPidfd(pid) : -1;
    let entry: Entry;
    try {
      const stat = processStat(pid);
      checkAlive("watch", pid, stat, startTime);
      entry = { pid, fd, startTime: stat.startTime, watchers: new Set<Watcher>() };
    } catch (err) {
      if (fd >= 0) this.#lib!.close(fd);
      throw err;
    }
    this.#poll(entry);
    return entry;
  }

  /**
   * Puts a verified entry in its poller. When the pidfd poller cannot take it for want of
   * a descriptor (its own eventfd, made at its first watch), the entry is watched by
   * polling `/proc` instead, by the start time it was verified to have: a live process is
   * never reported dead for want of a descriptor (a takeover out of descriptors would
   * otherwise take every process whose pidfd the Guardian handed over for dead).
   */
  #poll(entry: Entry): void {
    try {
      this.#pollerOf(entry).add(entry);
    } catch (err) {
      if (entry.fd >= 0) this.#lib!.close(entry.fd);
      if (entry.fd < 0 || (err as HamError).code !== "ENOMEM") throw err;
      entry.fd = -1;
      this.#procFallback().add(entry);
    }
  }

  /**
   * A pidfd for `pid`, or -1 when the process is out of descriptors: that process is then
   * watched by polling `/proc` (which reads with the reserve descriptor) instead of failing.
   */
  #openPidfd(pid: number): number {
    try {
      const fd = openPidfd(this.#lib!, "watch", pid);
      if (this.#starved) this.#log("info", "Watching processes through pidfds again");
      this.#starved = false;
      return fd;
    } catch (err) {
      if ((err as HamError).code !== "ENOMEM") throw err;
      if (!this.#starved) {
        this.#log(
          "warn",
          `Out of file descriptors: watching pid ${pid} (and any other until some are free) ` +
            `by polling /proc`,
        );
      }
      this.#starved = true;
      this.#procFallback();
      return -1;
    }
  }

  #procFallback(): ProcPoller<Entry> {
    this.#fallback ??= new ProcPoller<Entry>(this.#procPollMs, (entry, zombie) => {
      this.#exited(entry, zombie);
    });
    return this.#fallback;
  }

  /** The poller of an entry: the pidfd one, or the `/proc` one for an entry without a pidfd. */
  #pollerOf(entry: Entry): PidfdPoller<Entry> | ProcPoller<Entry> {
    return entry.fd < 0 && this.#fallback !== null ? this.#fallback : this.#poller;
  }

  /** Processes watched by polling `/proc` for want of descriptors (pidfd mode only). */
  get polledForWantOfDescriptors(): number {
    return [...this.#entries.values()].filter((e) => e.fd < 0 && this.mode === "pidfd").length;
  }

  #cancel(entry: Entry, watcher: Watcher): void {
    if (!entry.watchers.delete(watcher)) return;
    watcher.resolve(null);
    if (entry.watchers.size > 0 || this.#entries.get(entry.pid) !== entry) return;
    this.#entries.delete(entry.pid);
    this.#pollerOf(entry).delete(entry);
  }

  /**
   * The process of `entry` ended. Its status is collected by `waitid()` when it can be (a
   * pidfd, or a zombie with the same start time) and every watcher wants it reaped.
   */
  #exited(entry: Entry, collectable: boolean): void {
    if (this.#entries.get(entry.pid) !== entry) return;
    let status: ExitStatus | null = null;
    if (collectable && this.#lib !== null && [...entry.watchers].every((w) => w.reap)) {
      // Null (ECHILD) when the process is not our child: its status is unknown.
      status = entry.fd >= 0
        ? collectExit(this.#lib, WAIT.P_PIDFD, entry.fd)
        : collectExit(this.#lib, WAIT.P_PID, entry.pid);
    }
    this.#finish(entry, status ?? unknownStatus());
  }

  /**
   * Delivers an exit to every watcher of `entry` and forgets it: the `onExit` callbacks
   * first, synchronously when `sync` (the poll's answer, a `SIGCHLD`: a turn of the event
   * loop of its own), else a microtask later. A callback that throws harms no other.
   */
  #finish(entry: Entry, status: ExitStatus, sync = true): void {
    if (this.#entries.get(entry.pid) === entry) this.#entries.delete(entry.pid);
    this.#pollerOf(entry).delete(entry);
    // Taken first: a callback that cancels a watch of this entry finds it settled.
    const watchers = [...entry.watchers];
    entry.watchers.clear();
    for (const watcher of watchers) {
      watcher.ended = status;
      const fn = watcher.onExit;
      if (fn === null) continue;
      const call = () => {
        try {
          fn({ ...status });
        } catch (err) {
          this.#log("warn", `Handling the exit of pid ${entry.pid} failed: ${err}`);
        }
      };
      if (sync) call();
      else queueMicrotask(call);
    }
    for (const watcher of watchers) watcher.resolve({ ...status });
  }
}
