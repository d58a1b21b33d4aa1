/**
 * A Unix socket listener whose connections know who is on the other end: the kernel's
 * `SO_PEERCRED` (pid, uid, gid at connect time) and `SO_PEERGROUPS` (every group), read
 * through FFI on each accepted descriptor.
 *
 * Deno's own `Deno.listen` keeps descriptors out of reach, so connections are accepted by
 * {@linkcode UnixListener} (libc's `accept4`: a descriptor, and an accept loop that survives
 * running out of descriptors, which `node:net`'s server does not), and each descriptor is
 * read and written by libc calls ({@linkcode FdConn}, readiness from one `epoll`:
 * `fd_poller.ts`), presented with the `read`/`write`/`close` of a `Deno.Conn` so the
 * control server reads it the same way. No `node:` module is loaded for it (the
 * compatibility layer costs ~3.5 MiB of private memory). A connection whose credentials
 * cannot be read has `peer: null` (and is trusted with nothing).
 *
 * @module
 */

import type { Server, Socket } from "node:net";
import { DEFAULTS } from "../core/defaults.ts";
import { outOfDescriptors } from "./fd_reserve.ts";
import { FdPoller } from "./fd_poller.ts";
import { ERRNO, errno, type Libc, libc, libcAvailable, SOCKOPT } from "./libc.ts";
import { UnixListener } from "./unix_listener.ts";

/** Who is on the other end of a connection, as the kernel saw it at connect time. */
export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
  /** Every group of the peer (its supplementary groups and its gid). */
  groups: number[];
}

/** The credentials of the peer of Unix socket `fd`, or null when they cannot be read. */
export function peerCredentials(fd: number): PeerCredentials | null {
  if (fd < 0 || !libcAvailable()) return null;
  const lib = libc();
  const cred = new Uint8Array(12);
  const len = new Uint32Array([12]);
  if (lib.getsockopt(fd, SOCKOPT.SOL_SOCKET, SOCKOPT.SO_PEERCRED, cred, len) !== 0) return null;
  const v = new DataView(cred.buffer);
  const peer = { pid: v.getInt32(0, true), uid: v.getUint32(4, true), gid: v.getUint32(8, true) };
  const groups = new Set<number>([peer.gid]);
  let buf = new Uint8Array(4 * 64);
  for (let tries = 0; tries < 3; tries++) {
    const glen = new Uint32Array([buf.length]);
    if (lib.getsockopt(fd, SOCKOPT.SOL_SOCKET, SOCKOPT.SO_PEERGROUPS, buf, glen) === 0) {
      const g = new DataView(buf.buffer);
      for (let off = 0; off + 4 <= glen[0]; off += 4) groups.add(g.getUint32(off, true));
      break;
    }
    if (errno() !== 34 /* ERANGE: glen holds the size needed */) break;
    buf = new Uint8Array(glen[0]);
  }
  return { ...peer, groups: [...groups] };
}

/** A `Deno.Conn`-like byte stream (what the control server reads and writes) and its peer. */
export interface PeerConn {
  /** The peer's credentials, or null when they could not be read. */
  readonly credentials: PeerCredentials | null;
  /** Reads into `buf`; the number of bytes, or null at the end of the stream. */
  read(buf: Uint8Array): Promise<number | null>;
  /** Writes all of `bytes`; resolves once they are handed to the kernel. */
  write(bytes: Uint8Array): Promise<number>;
  /** Closes the connection at once. */
  close(): void;
}

const MSG_NOSIGNAL = 0x4000;

/** The process's one poller of connection descriptors, created on first use. */
let sharedPoller: FdPoller | null = null;

/**
 * An accepted connection read and written with libc calls on its non-blocking descriptor:
 * a read or a send is tried at once, and only when the kernel says "not now" (`EAGAIN`)
 * does it wait for readiness ({@linkcode FdPoller}). An answer costs one `send`.
 */
export class FdConn implements PeerConn {
  readonly credentials: PeerCredentials | null;
  #lib: Libc;
  #fd: number;
  #poller: FdPoller;
  #closed = false;
  /** Whether the send buffer was raised for a big answer (done once). */
  #raised = false;

  /** Takes over descriptor `fd` (non-blocking): it is closed by {@linkcode close}. */
  constructor(lib: Libc, fd: number, credentials: PeerCredentials | null, poller: FdPoller) {
    this.#lib = lib;
    this.#fd = fd;
    this.credentials = credentials;
    this.#poller = poller;
  }

  async read(buf: Uint8Array): Promise<number | null> {
    for (;;) {
      if (this.#closed) return null;
      const n = this.#lib.read(this.#fd, buf);
      if (n > 0) return n;
      if (n === 0) return null;
      const err = errno();
      if (err === ERRNO.EINTR) continue;
      if (err === ERRNO.ECONNRESET) return null;
      if (err !== ERRNO.EAGAIN) throw new Error(`Cannot read a connection: errno ${err}`);
      await this.#poller.wait(this.#fd, "read");
    }
  }

  async write(bytes: Uint8Array): Promise<number> {
    let off = 0;
    while (off < bytes.length) {
      if (this.#closed) throw new Error("Connection closed");
      const n = this.#lib.send(this.#fd, off === 0 ? bytes : bytes.subarray(off), MSG_NOSIGNAL);
      if (n >= 0) {
        off += n;
        continue;
      }
      const err = errno();
      if (err === ERRNO.EINTR) continue;
      if (err !== ERRNO.EAGAIN) throw new Error(`Cannot write a connection: errno ${err}`);
      if (!this.#raised) this.#raiseSendBuffer(bytes.length - off);
      await this.#poller.wait(this.#fd, "write");
    }
    return bytes.length;
  }

  /**
   * A big answer (a full status at 10,000 entities is ~4 MiB) filled the kernel's send
   * buffer: it is raised once, to what remains (at most `DEFAULTS.maxSendBufferBytes`; the
   * kernel caps it at `net.core.wmem_max`), so the rest goes in a few sends instead of one
   * readiness wait on the thread pool per ~200 KiB.
   */
  #raiseSendBuffer(remaining: number): void {
    this.#raised = true;
    const size = new Uint8Array(4);
    new DataView(size.buffer).setInt32(0, Math.min(remaining, DEFAULTS.maxSendBufferBytes), true);
    this.#lib.setsockopt(this.#fd, SOCKOPT.SOL_SOCKET, SOCKOPT.SO_SNDBUF, size);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#poller.forget(this.#fd);
    this.#lib.close(this.#fd);
  }
}

/** A connection of `node:net`'s server (the listener without FFI), as a {@linkcode PeerConn}. */
class NetConn implements PeerConn {
  readonly credentials: PeerCredentials | null;
  #socket: Socket;
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  #ended = false;
  #error: Error | null = null;
  #wake: (() => void) | null = null;

  /** Buffered input past which the socket stops reading until `read` takes some. */
  static readonly HIGH_WATER = 256 * 1024;

  constructor(socket: Socket, credentials: PeerCredentials | null) {
    this.#socket = socket;
    this.credentials = credentials;
    socket.on("data", (data: Uint8Array) => {
      this.#chunks.push(data);
      this.#buffered += data.length;
      if (this.#buffered > NetConn.HIGH_WATER) socket.pause();
      this.#signal();
    });
    socket.on("end", () => {
      this.#ended = true;
      this.#signal();
    });
    socket.on("error", (err: Error) => {
      this.#error = err;
      this.#signal();
    });
    socket.on("close", () => {
      this.#ended = true;
      this.#signal();
    });
  }

  #signal(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  async read(buf: Uint8Array): Promise<number | null> {
    while (this.#chunks.length === 0) {
      if (this.#error) throw this.#error;
      if (this.#ended) return null;
      await new Promise<void>((resolve) => this.#wake = resolve);
    }
    const first = this.#chunks[0];
    const n = Math.min(first.length, buf.length);
    buf.set(first.subarray(0, n));
    if (n === first.length) this.#chunks.shift();
    else this.#chunks[0] = first.subarray(n);
    this.#buffered -= n;
    if (this.#buffered <= NetConn.HIGH_WATER && this.#socket.isPaused()) this.#socket.resume();
    return n;
  }

  write(bytes: Uint8Array): Promise<number> {
    return new Promise((resolve, reject) => {
      if (this.#socket.destroyed) {
        reject(this.#error ?? new Error("Connection closed"));
        return;
      }
      this.#socket.write(bytes, (err) => err ? reject(err) : resolve(bytes.length));
    });
  }

  close(): void {
    this.#socket.destroy();
    this.#ended = true;
    this.#signal();
  }
}

/** A listening Unix socket whose accepted connections carry their peer's credentials. */
export class PeerListener {
  #source: { accept(): Promise<PeerConn>; close(): void };

  private constructor(source: { accept(): Promise<PeerConn>; close(): void }) {
    this.#source = source;
  }

  /**
   * Listens on `path`; resolves once the socket file exists. The accept loop is ours
   * ({@linkcode UnixListener}), each accepted descriptor read and written by libc calls
   * ({@linkcode FdConn}); without FFI, `node:net`'s own server accepts (loaded then only:
   * the `node:` compatibility layer costs ~3.5 MiB), and credentials are unknown.
   */
  static async listen(path: string): Promise<PeerListener> {
    if (!libcAvailable()) return new PeerListener(await NetSource.listen(path));
    const lib = libc();
    const listener = UnixListener.open(lib, path);
    return new PeerListener({
      accept: async () => {
        const fd = await listener.accept();
        try {
          sharedPoller ??= new FdPoller(lib);
        } catch (err) {
          lib.close(fd);
          throw err;
        }
        return new FdConn(lib, fd, peerCredentials(fd), sharedPoller);
      },
      close: () => listener.close(),
    });
  }

  /**
   * The next connection; rejects once closed, and (without taking it) when out of
   * descriptors: the connection waits, and the next call tries again.
   */
  accept(): Promise<PeerConn> {
    return this.#source.accept();
  }

  /** Stops listening; pending and later `accept` calls reject. */
  close(): void {
    this.#source.close();
  }
}

/**
 * `node:net`'s server: the listener without FFI (its listening descriptor is inherited by
 * the processes the HAM starts, and running out of descriptors stops it for good).
 */
class NetSource {
  #server: Server;
  #pending: PeerConn[] = [];
  #waiters: Array<{ resolve(c: PeerConn): void; reject(e: Error): void }> = [];
  #closed = false;
  #error: Error | null = null;

  private constructor(server: Server) {
    this.#server = server;
    server.on("connection", (socket: Socket) => {
      // deno-lint-ignore no-explicit-any
      const fd = (socket as any)._handle?.fd;
      const conn = new NetConn(socket, typeof fd === "number" ? peerCredentials(fd) : null);
      const waiter = this.#waiters.shift();
      if (waiter) waiter.resolve(conn);
      else this.#pending.push(conn);
    });
    server.on("error", (err: Error) => {
      // Out of descriptors is an episode, not the end: the server keeps listening (the
      // control server refuses connections until descriptors free).
      if (!outOfDescriptors(err)) this.#error = err;
      for (const w of this.#waiters.splice(0)) w.reject(err);
    });
  }

  /** Listens on `path`; resolves once the socket file exists. */
  static async listen(path: string): Promise<NetSource> {
    const net = await import("node:net");
    const server = net.createServer({ allowHalfOpen: true });
    // Serving from the start: a client may connect before the "listening" callback runs.
    const listener = new NetSource(server);
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(path, () => {
        server.off("error", reject);
        resolve(listener);
      });
    });
  }

  /** The next connection; rejects once closed. */
  accept(): Promise<PeerConn> {
    const next = this.#pending.shift();
    if (next) return Promise.resolve(next);
    if (this.#closed) return Promise.reject(new Error("Listener closed"));
    if (this.#error) return Promise.reject(this.#error);
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  /** Stops listening; pending and later `accept` calls reject. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#server.close();
    for (const c of this.#pending.splice(0)) c.close();
    for (const w of this.#waiters.splice(0)) w.reject(new Error("Listener closed"));
  }
}
