/**
 * Readiness of non-blocking descriptors through one `epoll` instance: {@linkcode FdPoller}
 * answers "this descriptor may be read (or written) now" for any number of descriptors
 * with a single `epoll_wait` on Deno's thread pool, in flight only while someone waits.
 * Together with synchronous `read`/`send` calls this is the control socket's I/O
 * (`peer_listener.ts`), without `node:net` and the `node:` compatibility layer it loads
 * (~3.5 MiB of private memory per process).
 *
 * Each wait arms its descriptor once (`EPOLLONESHOT`); the event's data is a token of that
 * registration, not the descriptor, so an event of a descriptor closed and reused meanwhile
 * wakes nobody by mistake. An eventfd wakes the `epoll_wait` when the last waiter leaves
 * (a close), so no call stays in flight and the process (or a test) can end.
 *
 * @module
 */

import { HamError } from "../core/errors.ts";
import { errno, type Libc } from "./libc.ts";

const EPOLLIN = 0x1;
const EPOLLOUT = 0x4;
const EPOLLERR = 0x8;
const EPOLLHUP = 0x10;
const EPOLLRDHUP = 0x2000;
const EPOLLONESHOT = 1 << 30;
const EPOLL_CTL_ADD = 1;
const EPOLL_CTL_DEL = 2;
const EPOLL_CTL_MOD = 3;
const EPOLL_CLOEXEC = 0o2000000;
const EFD_FLAGS = 0o4000 | 0o2000000; // EFD_NONBLOCK | EFD_CLOEXEC
/** `struct epoll_event` is packed on x86-64 (12 bytes), naturally aligned elsewhere (16). */
const EVENT_BYTES = Deno.build.arch === "x86_64" ? 12 : 16;
const DATA_AT = Deno.build.arch === "x86_64" ? 4 : 8;
const MAX_EVENTS = 256;
/** The token of the eventfd's registration. */
const WAKE_TOKEN = 0;

/** What a wait is for. */
export type Interest = "read" | "write";

interface Registration {
  fd: number;
  token: number;
  /** Whether the descriptor is in the epoll set (ADD done, not yet DEL). */
  added: boolean;
  waiters: Map<Interest, () => void>;
}

/** One epoll instance and the waits on it. */
export class FdPoller {
  #lib: Libc;
  #ep: number;
  #wake: number;
  #byFd = new Map<number, Registration>();
  #byToken = new Map<number, Registration>();
  #nextToken = WAKE_TOKEN + 1;
  #waiting = 0;
  #inFlight = false;
  #events = new Uint8Array(EVENT_BYTES * MAX_EVENTS);
  #event = new Uint8Array(EVENT_BYTES);
  #drain = new Uint8Array(8);

  /**
   * Creates the epoll instance and its wake-up eventfd.
   *
   * @throws {HamError} EIO when either cannot be created.
   */
  constructor(lib: Libc) {
    this.#lib = lib;
    this.#ep = lib.epoll_create1(EPOLL_CLOEXEC);
    if (this.#ep < 0) {
      throw new HamError("EIO", `Cannot create an epoll instance: errno ${errno()}`);
    }
    this.#wake = lib.eventfd(0, EFD_FLAGS);
    if (this.#wake < 0 || this.#ctl(EPOLL_CTL_ADD, this.#wake, EPOLLIN, WAKE_TOKEN) !== 0) {
      const err = errno();
      lib.close(this.#ep);
      throw new HamError("EIO", `Cannot create the poller's eventfd: errno ${err}`);
    }
  }

  #ctl(op: number, fd: number, events: number, token: number): number {
    const v = new DataView(this.#event.buffer);
    v.setUint32(0, events, true);
    v.setBigUint64(DATA_AT, BigInt(token), true);
    return this.#lib.epoll_ctl(this.#ep, op, fd, this.#event);
  }

  /**
   * Resolves when `fd` may be ready for `interest` (or has hung up or failed: the caller's
   * next call says which), or when {@linkcode forget} drops it. One wait per interest and
   * descriptor at a time.
   */
  wait(fd: number, interest: Interest): Promise<void> {
    let reg = this.#byFd.get(fd);
    if (!reg) {
      reg = { fd, token: this.#nextToken++, added: false, waiters: new Map() };
      this.#byFd.set(fd, reg);
      this.#byToken.set(reg.token, reg);
    }
    const r = reg;
    const promise = new Promise<void>((resolve) => {
      if (!r.waiters.has(interest)) this.#waiting++;
      r.waiters.set(interest, resolve);
    });
    let mask = EPOLLRDHUP | EPOLLONESHOT;
    if (r.waiters.has("read")) mask |= EPOLLIN;
    if (r.waiters.has("write")) mask |= EPOLLOUT;
    let rc = this.#ctl(r.added ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, mask, r.token);
    if (rc !== 0 && !r.added) rc = this.#ctl(EPOLL_CTL_MOD, fd, mask, r.token);
    if (rc !== 0) {
      // Not pollable (closed under us): wake at once, the caller's next call fails.
      this.#wakeAll(r);
    } else {
      r.added = true;
      this.#run();
    }
    return promise;
  }

  /** Drops `fd` (about to be closed): its waits resolve, and it leaves the epoll set. */
  forget(fd: number): void {
    const reg = this.#byFd.get(fd);
    if (!reg) return;
    this.#byFd.delete(fd);
    this.#byToken.delete(reg.token);
    if (reg.added) this.#ctl(EPOLL_CTL_DEL, fd, 0, reg.token);
    this.#wakeAll(reg);
    if (this.#waiting === 0 && this.#inFlight) this.#lib.write(this.#wake, ONE);
  }

  #wakeAll(reg: Registration): void {
    for (const resolve of reg.waiters.values()) {
      this.#waiting--;
      resolve();
    }
    reg.waiters.clear();
  }

  /** Keeps one `epoll_wait` in flight while anyone waits. */
  async #run(): Promise<void> {
    if (this.#inFlight) return;
    this.#inFlight = true;
    try {
      while (this.#waiting > 0) {
        const n = await this.#lib.epoll_wait(this.#ep, this.#events, MAX_EVENTS, -1);
        // The pool thread's errno is lost: a failed wait (EINTR) is retried, never in a spin.
        if (n < 0) await new Promise((r) => setTimeout(r, 10));
        const v = new DataView(this.#events.buffer);
        for (let i = 0; i < n; i++) {
          const events = v.getUint32(i * EVENT_BYTES, true);
          const token = Number(v.getBigUint64(i * EVENT_BYTES + DATA_AT, true));
          if (token === WAKE_TOKEN) {
            this.#lib.read(this.#wake, this.#drain);
            continue;
          }
          const reg = this.#byToken.get(token);
          if (!reg) continue;
          const hup = (events & (EPOLLERR | EPOLLHUP | EPOLLRDHUP)) !== 0;
          for (const [interest, resolve] of [...reg.waiters]) {
            if (
              hup || (interest === "read" && events & EPOLLIN) ||
              (interest === "write" && events & EPOLLOUT)
            ) {
              reg.waiters.delete(interest);
              this.#waiting--;
              resolve();
            }
          }
          // One-shot: a waiter left unserved (the other interest) re-arms the descriptor.
          if (reg.waiters.size > 0) {
            let mask = EPOLLRDHUP | EPOLLONESHOT;
            if (reg.waiters.has("read")) mask |= EPOLLIN;
            if (reg.waiters.has("write")) mask |= EPOLLOUT;
            if (this.#ctl(EPOLL_CTL_MOD, reg.fd, mask, reg.token) !== 0) this.#wakeAll(reg);
          }
        }
      }
    } finally {
      this.#inFlight = false;
    }
  }
}

const ONE = new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]);
