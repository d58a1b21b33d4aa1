/**
 * A listening Unix socket whose accept loop is ours ({@linkcode UnixListener}): `socket`,
 * `bind`, `listen` and `accept4` through libc, and readiness from one `poll()` on Deno's
 * thread pool (woken by an eventfd to close). Why not `node:net`'s server: when `accept()`
 * fails for want of descriptors, Deno's stops accepting for good, without an error event,
 * even once descriptors are free (Deno 2.9); here that failure is an error the caller sees
 * (`EMFILE`), and the next `accept()` tries again.
 *
 * @module
 */

import { HamError } from "../core/errors.ts";
import { ERRNO, errno, type Libc } from "./libc.ts";

const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const EFD_FLAGS = SOCK_NONBLOCK | SOCK_CLOEXEC; // EFD_NONBLOCK | EFD_CLOEXEC: the same bits
const POLLIN = 1;
/** `sun_path` of `struct sockaddr_un`, with its terminating NUL. */
const SUN_PATH_BYTES = 108;
const WAKE = new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]);

/**
 * The error of a failed call. Out of descriptors it is `ENOMEM` saying "too many open
 * files" (what `outOfDescriptors()` of `fd_reserve.ts` recognizes).
 */
function socketError(action: string, path: string, err: number): HamError {
  const name = Object.entries(ERRNO).find(([, n]) => n === err)?.[0] ?? String(err);
  if (err === ERRNO.EMFILE || err === ERRNO.ENFILE) {
    return new HamError("ENOMEM", `Cannot ${action} "${path}": too many open files (${name})`);
  }
  return new HamError("EIO", `Cannot ${action} "${path}": errno ${name}`);
}

/** A listening Unix stream socket; {@linkcode accept} gives accepted descriptors. */
export class UnixListener {
  readonly path: string;
  #lib: Libc;
  #fd: number;
  #wake = -1;
  #closed = false;
  /** The poll call in flight (shared by concurrent accepts), if any. */
  #poll: Promise<number> | null = null;
  #pollfds = new Uint8Array(16);

  private constructor(lib: Libc, path: string, fd: number) {
    this.#lib = lib;
    this.path = path;
    this.#fd = fd;
  }

  /**
   * Listens on `path` (which must not exist); the socket is close-on-exec, so the processes
   * the HAM starts do not keep it.
   *
   * @throws {HamError} EINVAL for a path too long for a socket, EIO (or ENOMEM) otherwise.
   */
  static open(lib: Libc, path: string, backlog = 511): UnixListener {
    const bytes = new TextEncoder().encode(path);
    if (bytes.length >= SUN_PATH_BYTES) {
      throw new HamError(
        "EINVAL",
        `Cannot listen on "${path}": a socket path has at most ${SUN_PATH_BYTES - 1} bytes`,
      );
    }
    const fd = lib.socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) throw socketError("create a socket for", path, errno());
    const addr = new Uint8Array(2 + SUN_PATH_BYTES);
    new DataView(addr.buffer).setUint16(0, AF_UNIX, true);
    addr.set(bytes, 2);
    for (
      const [call, action] of [[() => lib.bind(fd, addr), "bind"], [
        () => lib.listen(fd, backlog),
        "listen on",
      ]] as const
    ) {
      if (call() === 0) continue;
      const err = errno();
      lib.close(fd);
      throw socketError(action, path, err);
    }
    return new UnixListener(lib, path, fd);
  }

  /**
   * The next connection's descriptor (non-blocking, close-on-exec), once one comes.
   *
   * @throws {HamError} ENOMEM ("too many open files") when out of descriptors: the
   * connection waits in the backlog, and the next call tries again; ECANCELED once closed.
   */
  async accept(): Promise<number> {
    for (;;) {
      if (this.#closed) throw new HamError("ECANCELED", `Listener on "${this.path}" closed`);
      const fd = this.#lib.accept4(this.#fd, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd >= 0) return fd;
      const err = errno();
      if (err === ERRNO.EINTR || err === ERRNO.ECONNABORTED) continue;
      if (err !== ERRNO.EAGAIN) throw socketError("accept a connection on", this.path, err);
      await this.#readable();
    }
  }

  /** Resolves when the socket may have a connection, or the listener is closing. */
  async #readable(): Promise<void> {
    if (this.#poll === null) {
      if (this.#wake < 0) {
        this.#wake = this.#lib.eventfd(0, EFD_FLAGS);
        if (this.#wake < 0) throw socketError("wait for connections on", this.path, errno());
      }
      const view = new DataView(this.#pollfds.buffer);
      view.setInt32(0, this.#fd, true);
      view.setInt32(4, POLLIN, true);
      view.setInt32(8, this.#wake, true);
      view.setInt32(12, POLLIN, true);
      this.#poll = this.#lib.poll(this.#pollfds, 2, -1).finally(() => {
        this.#poll = null;
        if (this.#closed) this.#release();
      });
    }
    const ready = await this.#poll;
    // The pool thread's errno is lost: a failed poll (EINTR) is retried, never in a spin.
    if (ready < 0) await new Promise((r) => setTimeout(r, 10));
  }

  /** Stops listening: a pending {@linkcode accept} rejects, and the socket is closed. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#poll !== null) this.#lib.write(this.#wake, WAKE); // Released once it returns.
    else this.#release();
  }

  #release(): void {
    if (this.#fd >= 0) this.#lib.close(this.#fd);
    if (this.#wake >= 0) this.#lib.close(this.#wake);
    this.#fd = this.#wake = -1;
  }
}
