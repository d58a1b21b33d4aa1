/**
 * Watches the death of processes that Deno did not spawn: attached processes, daemons
 * that double-forked, and orphans adopted by the HAM as a child subreaper.
 *
 * Each watched pid gets a pidfd; all pidfds, plus one eventfd that wakes the call when
 * the set changes, sit in ONE `poll()` that runs on Deno's thread pool. So there is at
 * most one pending FFI call whatever the number of pids, and no CPU is used while idle.
 * Without pidfds (old kernel, seccomp, no FFI permission) the watcher falls back to
 * comparing `/proc/PID/stat` start times on a timer: see {@linkcode ProcessWatcher.mode}.
 *
 * @module
 */

import { HamError } from "./errors.ts";
import { signalName } from "./flags.ts";
import { ERRNO, errno, type Libc, libc, libcAvailable, SYS } from "./libc.ts";
import type { ExitStatus } from "./model.ts";
import { processStat, type ProcessStat } from "./proc.ts";

const PR_SET_CHILD_SUBREAPER = 36;
const P_PID = 1;
const P_PIDFD = 3;
const WNOHANG = 1;
const WEXITED = 4;
const CLD_EXITED = 1;
const CLD_KILLED = 2;
const CLD_DUMPED = 3;
const POLLIN = 1;
const EFD_FLAGS = 0x800 | 0x80000; // EFD_NONBLOCK | EFD_CLOEXEC
const POLL_FAST_RETRIES = 16;
const POLL_RETRY_MS = 50;

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
}

/** Options of {@linkcode ProcessWatcher.watch}. */
export interface WatchOptions {
  /**
   * Collect the exit status with `waitid()`, which reaps the process if it is our child
   * (an orphan adopted by the subreaper). Never set it for a process Deno spawned: Deno
   * reaps those itself.
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
}

interface Watcher {
  reap: boolean;
  resolve(status: ExitStatus | null): void;
}

interface Entry {
  pid: number;
  /** The pidfd, or -1 in proc-poll mode. */
  fd: number;
  /** The verified start time of the process the pidfd refers to. */
  startTime: string;
  watchers: Set<Watcher>;
}

function unknown(): ExitStatus {
  return { code: null, signal: null };
}

/** Makes the HAM the reaper of its orphaned descendants. False when prctl is unavailable. */
export function setChildSubreaper(): boolean {
  return libcAvailable() && libc().prctl(PR_SET_CHILD_SUBREAPER, 1) === 0;
}

function osError(action: string, pid: number, err: number): HamError {
  const what = `Cannot ${action} pid ${pid}`;
  switch (err) {
    case ERRNO.ESRCH:
      return new HamError("ESRCH", `${what}: no such process`);
    case ERRNO.EPERM:
    case ERRNO.EACCES:
      return new HamError("EPERM", `${what}: operation not permitted`);
    case ERRNO.EINVAL:
      return new HamError("EINVAL", `${what}: invalid argument`);
    case ERRNO.EMFILE:
    case ERRNO.ENFILE:
      return new HamError("ENOMEM", `${what}: too many open files`);
    default:
      return new HamError("EIO", `${what}: errno ${err}`);
  }
}

/** Throws ESRCH unless `stat` is a live process with the expected start time. */
function checkAlive(
  action: string,
  pid: number,
  stat: ProcessStat | null,
  startTime: string | null,
): asserts stat is ProcessStat {
  if (stat === null || stat.state === "Z" || stat.state === "X") {
    throw new HamError("ESRCH", `Cannot ${action} pid ${pid}: no such process`);
  }
  if (startTime !== null && stat.startTime !== startTime) {
    throw new HamError(
      "ESRCH",
      `Cannot ${action} pid ${pid}: start time is "${stat.startTime}", not "${startTime}" (pid reused)`,
    );
  }
}

function checkPid(action: string, pid: number): void {
  if (!Number.isSafeInteger(pid) || pid <= 0) {
    throw new HamError("EINVAL", `Cannot ${action} pid ${pid}: not a valid pid`);
  }
}

/** Decodes the x86-64 `siginfo_t` filled by `waitid()`. */
function decodeSiginfo(info: Uint8Array): ExitStatus {
  const view = new DataView(info.buffer, info.byteOffset, info.byteLength);
  if (view.getInt32(16, true) === 0) return unknown(); // si_pid 0: nothing to collect
  const code = view.getInt32(8, true);
  const status = view.getInt32(24, true);
  if (code === CLD_EXITED) return { code: status, signal: null };
  if (code === CLD_KILLED || code === CLD_DUMPED) return { code: null, signal: signalName(status) };
  return unknown();
}

/**
 * Watches processes by pid (with a start time, so a reused pid is never mistaken for the
 * watched process), reports how they ended, and signals them without pid-reuse races.
 *
 * @example
 * ```ts ignore
 * import { ProcessWatcher } from "./process_watcher.ts";
 * await using watcher = new ProcessWatcher();
 * const watch = watcher.watch(4242, "123456");
 * console.log(await watch.exited); // { code: 0, signal: null }
 * ```
 */
export class ProcessWatcher {
  /** `pidfd`: event-driven. `proc-poll`: the timer fallback, when pidfds are unavailable. */
  readonly mode: "pidfd" | "proc-poll";
  #lib: Libc | null;
  #entries = new Map<number, Entry>();
  #closed = false;
  #closing: Promise<void> | null = null;
  #siginfo = new Uint8Array(128);
  // pidfd mode: the poll loop.
  #eventfd = -1;
  #loop: Promise<void> | null = null;
  #inFlight = false;
  #woken = false;
  #dirty = true;
  #pollfds = new Uint8Array(0);
  #pollView = new DataView(this.#pollfds.buffer);
  #polled: Entry[] = [];
  #deferred: number[] = [];
  // proc-poll mode: the timer.
  #timer: ReturnType<typeof setInterval> | undefined;
  #intervalMs: number;

  /** Creates a watcher; it holds no resource until the first {@linkcode watch}. */
  constructor(options: ProcessWatcherOptions = {}) {
    this.#lib = libcAvailable() ? libc() : null;
    this.#intervalMs = options.procPollIntervalMs ?? 50;
    this.mode = !options.forceProcPoll && this.#lib !== null && pidfdWorks(this.#lib)
      ? "pidfd"
      : "proc-poll";
  }

  /**
   * Watches the death of `pid`, which must be alive, not a zombie, and (when `startTime`
   * is given) have that start time.
   *
   * @throws {HamError} `ESRCH` when the process is gone or the pid was reused, `EINVAL`
   * for a bad pid, `ENOMEM` when out of file descriptors, `ECANCELED` once closed.
   */
  watch(pid: number, startTime: string | null, opts: WatchOptions = {}): Watch {
    if (this.#closed) {
      throw new HamError("ECANCELED", `Cannot watch pid ${pid}: the watcher is closed`);
    }
    checkPid("watch", pid);
    let entry = this.#entries.get(pid);
    if (entry !== undefined) {
      const stat = processStat(pid);
      checkAlive("watch", pid, stat, startTime);
      // The watched process died and its pid was reused before the loop noticed.
      if (stat.startTime !== entry.startTime) this.#finish(entry, unknown());
    }
    if (entry === undefined || !this.#entries.has(pid)) {
      entry = this.mode === "pidfd" ? this.#open(pid, startTime) : this.#stat(pid, startTime);
      this.#entries.set(pid, entry);
      this.#dirty = true;
    }
    const { promise, resolve } = Promise.withResolvers<ExitStatus | null>();
    const watcher: Watcher = { reap: opts.reap ?? true, resolve };
    entry.watchers.add(watcher);
    const watched = entry;
    if (this.mode === "pidfd") this.#startLoop();
    else this.#timer ??= setInterval(() => this.#scan(), this.#intervalMs);
    return { pid, exited: promise, cancel: () => this.#cancel(watched, watcher) };
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
    if (!Number.isInteger(signal) || signal < 0 || signal > 64) {
      throw new HamError("EINVAL", `Cannot signal pid ${pid}: invalid signal ${signal}`);
    }
    if (this.mode === "proc-poll") return this.#kill(pid, signal, startTime);
    const lib = this.#lib!;
    const entry = this.#entries.get(pid);
    if (entry !== undefined && (startTime === null || startTime === entry.startTime)) {
      return sendSignal(lib, pid, entry.fd, signal);
    }
    const fd = lib.syscall(SYS.pidfd_open, pid, 0);
    if (fd < 0) {
      const err = errno();
      throw osError("signal", pid, err === ERRNO.EINVAL ? ERRNO.ESRCH : err);
    }
    try {
      if (startTime !== null) checkAlive("signal", pid, processStat(pid), startTime);
      sendSignal(lib, pid, fd, signal);
    } finally {
      lib.close(fd);
    }
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
    this.#closed = true;
    this.#stopTimer();
    for (const entry of this.#entries.values()) {
      this.#release(entry.fd);
      for (const watcher of entry.watchers) watcher.resolve(null);
    }
    this.#entries.clear();
    this.#wake();
    await this.#loop;
    this.#closeDeferred();
    if (this.#eventfd >= 0) this.#lib!.close(this.#eventfd);
    this.#eventfd = -1;
  }

  #open(pid: number, startTime: string | null): Entry {
    const lib = this.#lib!;
    if (this.#eventfd < 0) {
      this.#eventfd = lib.eventfd(0, EFD_FLAGS);
      if (this.#eventfd < 0) throw osError("watch", pid, errno());
    }
    const fd = lib.syscall(SYS.pidfd_open, pid, 0);
    if (fd < 0) {
      const err = errno();
      throw osError("watch", pid, err === ERRNO.EINVAL ? ERRNO.ESRCH : err);
    }
    // Read after pidfd_open: the stat now describes the process the pidfd refers to.
    const stat = processStat(pid);
    try {
      checkAlive("watch", pid, stat, startTime);
    } catch (err) {
      lib.close(fd);
      throw err;
    }
    return { pid, fd, startTime: stat.startTime, watchers: new Set() };
  }

  #stat(pid: number, startTime: string | null): Entry {
    const stat = processStat(pid);
    checkAlive("watch", pid, stat, startTime);
    return { pid, fd: -1, startTime: stat.startTime, watchers: new Set() };
  }

  #cancel(entry: Entry, watcher: Watcher): void {
    if (!entry.watchers.delete(watcher)) return;
    watcher.resolve(null);
    if (entry.watchers.size > 0 || this.#entries.get(entry.pid) !== entry) return;
    this.#entries.delete(entry.pid);
    this.#release(entry.fd);
    this.#dirty = true;
    this.#wake();
    if (this.#entries.size === 0) this.#stopTimer();
  }

  #stopTimer(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Delivers an exit to every watcher of `entry` and forgets it. */
  #finish(entry: Entry, status: ExitStatus): void {
    if (this.#entries.get(entry.pid) === entry) this.#entries.delete(entry.pid);
    this.#release(entry.fd);
    this.#dirty = true;
    this.#wake();
    for (const watcher of entry.watchers) watcher.resolve({ ...status });
    entry.watchers.clear();
  }

  /** Closes a pidfd, or defers it while the poll call may still be reading it. */
  #release(fd: number): void {
    if (fd < 0) return;
    if (this.#inFlight) this.#deferred.push(fd);
    else this.#lib!.close(fd);
  }

  #closeDeferred(): void {
    for (const fd of this.#deferred) this.#lib!.close(fd);
    this.#deferred = [];
  }

  #wake(): void {
    if (!this.#inFlight || this.#woken) return;
    this.#woken = true;
    this.#lib!.write(this.#eventfd, new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]));
  }

  #startLoop(): void {
    if (this.#loop !== null || this.#closed) return;
    this.#loop = this.#run().finally(() => {
      this.#loop = null;
      if (this.#entries.size > 0) this.#startLoop();
    });
  }

  async #run(): Promise<void> {
    await Promise.resolve(); // A burst of watch() calls lands in one rebuild.
    const lib = this.#lib!;
    let failures = 0;
    while (!this.#closed && this.#entries.size > 0) {
      if (this.#dirty) this.#rebuild();
      this.#inFlight = true;
      const ready = await lib.poll(this.#pollfds, this.#polled.length + 1, -1);
      this.#inFlight = false;
      if (this.#woken) lib.read(this.#eventfd, new Uint8Array(8));
      this.#woken = false;
      this.#closeDeferred();
      if (ready < 0) {
        // Most likely EINTR (the pool thread's errno is lost): retry, but never spin.
        if (++failures > POLL_FAST_RETRIES) await new Promise((r) => setTimeout(r, POLL_RETRY_MS));
        continue;
      }
      failures = 0;
      if (ready > 0) this.#collect(ready - (this.#pollView.getInt16(6, true) !== 0 ? 1 : 0));
    }
  }

  /** Lays out the pollfd array: the eventfd, then one pidfd per watched pid. */
  #rebuild(): void {
    this.#polled = [...this.#entries.values()];
    const bytes = (this.#polled.length + 1) * 8;
    if (this.#pollfds.length < bytes || this.#pollfds.length > bytes * 4) {
      this.#pollfds = new Uint8Array(Math.max(64, bytes * 2));
      this.#pollView = new DataView(this.#pollfds.buffer);
    }
    const view = this.#pollView;
    view.setInt32(0, this.#eventfd, true);
    view.setInt32(4, POLLIN, true); // events = POLLIN, revents = 0
    for (let i = 0; i < this.#polled.length; i++) {
      view.setInt32(8 * (i + 1), this.#polled[i].fd, true);
      view.setInt32(8 * (i + 1) + 4, POLLIN, true);
    }
    this.#dirty = false;
  }

  /** Finishes the entries whose pidfd is readable (`count` of them). */
  #collect(count: number): void {
    const lib = this.#lib!;
    for (let i = 0; i < this.#polled.length && count > 0; i++) {
      if (this.#pollView.getInt16(8 * (i + 1) + 6, true) === 0) continue;
      count--;
      const entry = this.#polled[i];
      if (this.#entries.get(entry.pid) !== entry) continue;
      let status = unknown();
      if ([...entry.watchers].every((w) => w.reap)) {
        this.#siginfo.fill(0);
        const ok = lib.waitid(P_PIDFD, entry.fd, this.#siginfo, WEXITED | WNOHANG) === 0;
        if (ok) status = decodeSiginfo(this.#siginfo); // else ECHILD: not our child
      }
      this.#finish(entry, status);
    }
  }

  /** The proc-poll fallback: one pass over every watched pid. */
  #scan(): void {
    for (const entry of this.#entries.values()) {
      const stat = processStat(entry.pid);
      const same = stat !== null && stat.startTime === entry.startTime;
      if (same && stat.state !== "Z" && stat.state !== "X") continue;
      let status = unknown();
      // A zombie with the same start time cannot have been reaped and reused: safe to wait.
      if (same && this.#lib !== null && [...entry.watchers].every((w) => w.reap)) {
        this.#siginfo.fill(0);
        const ok = this.#lib.waitid(P_PID, entry.pid, this.#siginfo, WEXITED | WNOHANG) === 0;
        if (ok) status = decodeSiginfo(this.#siginfo);
      }
      this.#finish(entry, status);
    }
    if (this.#entries.size === 0) this.#stopTimer();
  }

  /** Signals without a pidfd: check the start time, then kill(). */
  #kill(pid: number, signal: number, startTime: string | null): void {
    const stat = processStat(pid);
    if (stat === null) throw osError("signal", pid, ERRNO.ESRCH);
    if (startTime !== null) checkAlive("signal", pid, stat, startTime);
    if (this.#lib !== null) {
      if (this.#lib.kill(pid, signal) < 0) throw osError("signal", pid, errno());
      return;
    }
    if (signal === 0) return;
    try {
      Deno.kill(pid, signalName(signal) as Deno.Signal);
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) throw osError("signal", pid, ERRNO.ESRCH);
      const code = err instanceof TypeError ? "EINVAL" : "EPERM";
      throw new HamError(code, `Cannot signal pid ${pid}: ${(err as Error).message}`, {
        cause: err,
      });
    }
  }
}

function pidfdWorks(lib: Libc): boolean {
  const fd = lib.syscall(SYS.pidfd_open, Deno.pid, 0);
  if (fd >= 0) {
    lib.close(fd);
    return true;
  }
  const err = errno();
  return err !== ERRNO.ENOSYS && err !== ERRNO.EPERM;
}

function sendSignal(lib: Libc, pid: number, fd: number, signal: number): void {
  if (lib.syscall(SYS.pidfd_send_signal, fd, signal, 0, 0) < 0) {
    throw osError("signal", pid, errno());
  }
}
