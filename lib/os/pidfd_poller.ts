/**
 * One `poll()` over many pidfds. Every pidfd, plus one eventfd that wakes the call when
 * the set changes, sits in ONE `poll()` that runs on Deno's thread pool: so there is at
 * most one pending FFI call whatever the number of processes, and no CPU is used while
 * idle. A pidfd becomes readable when its process ends.
 *
 * @module
 */

import { HamError } from "../core/errors.ts";
import { errno, type Libc } from "./libc.ts";
import { osError } from "./pidfd.ts";

const POLLIN = 1;
const EFD_FLAGS = 0x800 | 0x80000; // EFD_NONBLOCK | EFD_CLOEXEC
const POLL_FAST_RETRIES = 16;
const POLL_RETRY_MS = 50;
const WAKE = new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]);

/** What {@linkcode PidfdPoller} polls: an open pidfd and the pid it refers to. */
export interface PidfdItem {
  readonly pid: number;
  readonly fd: number;
}

/**
 * Polls the pidfds of its items and reports each item whose process ended, once; the item
 * is then removed. The poller owns the pidfds it is given and closes them. It holds no
 * resource until the first {@linkcode add}.
 */
export class PidfdPoller<T extends PidfdItem> {
  #lib: Libc;
  #onExit: (item: T) => void;
  #items = new Set<T>();
  #closed = false;
  #eventfd = -1;
  #loop: Promise<void> | null = null;
  #inFlight = false;
  /** True while `#collect` reports exits (see `#release`). */
  #collecting = false;
  #woken = false;
  #dirty = true;
  #pollfds = new Uint8Array(0);
  #pollView = new DataView(this.#pollfds.buffer);
  #polled: T[] = [];
  /** The pidfds removed while a poll call may still be reading them. */
  #deferred: number[] = [];

  #persistent: boolean;

  /**
   * `onExit` is called, synchronously and once, with each item whose process ended. With
   * `persistent`, the poller watches any readable fds (FIFOs opened non-blocking): an item
   * stays polled, and `onExit` is called each time its fd is readable (it must read the fd
   * until it would block).
   */
  constructor(lib: Libc, onExit: (item: T) => void, opts: { persistent?: boolean } = {}) {
    this.#lib = lib;
    this.#onExit = onExit;
    this.#persistent = opts.persistent ?? false;
  }

  /**
   * Polls `item.fd`, which the poller then owns. When this throws, the caller still owns it.
   *
   * @throws {HamError} `ENOMEM` when the eventfd cannot be created (out of descriptors),
   * `ECANCELED` once closed.
   */
  add(item: T): void {
    if (this.#closed) {
      throw new HamError("ECANCELED", `Cannot watch pid ${item.pid}: the poller is closed`);
    }
    if (this.#eventfd < 0) {
      this.#eventfd = this.#lib.eventfd(0, EFD_FLAGS);
      if (this.#eventfd < 0) throw osError("watch", item.pid, errno());
    }
    this.#items.add(item);
    this.#changed();
    this.#startLoop();
  }

  /** Stops polling `item` and closes its pidfd. Does nothing for an item it does not hold. */
  delete(item: T): void {
    if (!this.#items.delete(item)) return;
    this.#release(item.fd);
    this.#changed();
  }

  /** Stops the poll loop and closes every pidfd and the eventfd. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const item of this.#items) this.#release(item.fd);
    this.#items.clear();
    this.#changed();
    await this.#loop;
    this.#closeDeferred();
    if (this.#eventfd >= 0) this.#lib.close(this.#eventfd);
    this.#eventfd = -1;
  }

  /** Marks the pollfd array stale and wakes a pending poll call, so it is rebuilt. */
  #changed(): void {
    this.#dirty = true;
    if (!this.#inFlight || this.#woken) return;
    this.#woken = true;
    this.#lib.write(this.#eventfd, WAKE);
  }

  /**
   * Closes a pidfd, or defers it while the poll call may still be reading it, or while
   * exits are being reported: a death's handling runs inside `#collect`, and the `close()`
   * is not on its path (closed before the poll is armed again).
   */
  #release(fd: number): void {
    if (this.#inFlight || this.#collecting) this.#deferred.push(fd);
    else this.#lib.close(fd);
  }

  #closeDeferred(): void {
    for (const fd of this.#deferred) this.#lib.close(fd);
    this.#deferred = [];
  }

  #startLoop(): void {
    if (this.#loop !== null || this.#closed) return;
    this.#loop = this.#run().finally(() => {
      this.#loop = null;
      if (this.#items.size > 0) this.#startLoop();
    });
  }

  async #run(): Promise<void> {
    await Promise.resolve(); // A burst of add() calls lands in one rebuild.
    const lib = this.#lib;
    let failures = 0;
    while (!this.#closed && this.#items.size > 0) {
      // What was released while the last poll call ran, or while its exits were reported.
      this.#closeDeferred();
      if (this.#dirty) this.#rebuild();
      this.#inFlight = true;
      const ready = await lib.poll(this.#pollfds, this.#polled.length + 1, -1);
      this.#inFlight = false;
      if (this.#woken) lib.read(this.#eventfd, new Uint8Array(8));
      this.#woken = false;
      if (ready < 0) {
        // Most likely EINTR (the pool thread's errno is lost): retry, but never spin.
        if (++failures > POLL_FAST_RETRIES) await new Promise((r) => setTimeout(r, POLL_RETRY_MS));
        continue;
      }
      failures = 0;
      const exits = ready > 0
        ? this.#collect(ready - (this.#pollView.getInt16(6, true) !== 0 ? 1 : 0))
        : 0;
      // A death's handling ran in #collect, up to its condition (and its restart's spawn);
      // what it queued after (the event log's write, the `SIGCHLD` listener) runs before the
      // poll is armed again: arming (the pollfd array laid out anew, O(items), and a call
      // handed to the thread pool) is not on a restart's path. Exits meanwhile wait in
      // their pidfds.
      // (Output FIFOs, `persistent`, are polled again at once: reading them is the work.)
      if (exits > 0 && !this.#persistent) await new Promise((r) => setTimeout(r, 0));
    }
    this.#closeDeferred(); // The last items' pidfds, released as they were reported.
  }

  /** Lays out the pollfd array: the eventfd, then one pidfd per item. */
  #rebuild(): void {
    this.#polled = [...this.#items];
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

  /**
   * Reports the items whose pidfd is readable (`count` of them) and still held; answers
   * how many it reported.
   */
  #collect(count: number): number {
    this.#collecting = true;
    try {
      return this.#report(count);
    } finally {
      this.#collecting = false;
    }
  }

  #report(count: number): number {
    let reported = 0;
    for (let i = 0; i < this.#polled.length && count > 0; i++) {
      if (this.#pollView.getInt16(8 * (i + 1) + 6, true) === 0) continue;
      count--;
      const item = this.#polled[i];
      if (!this.#items.has(item)) continue;
      reported++;
      this.#onExit(item);
      if (!this.#persistent) this.delete(item);
    }
    return reported;
  }
}
