/**
 * An HA connection to a server over a Unix socket or TCP (QNX `ha_ConnectAttach`,
 * `ha_ReConnectAttach`): a {@linkcode HaConn} wraps a `Deno.Conn` and stays the same
 * object for the caller while recovery replaces the connection under it.
 *
 * @module
 */

import { serverEof } from "./errors.ts";
import { Recoverable } from "./recoverable.ts";
import type { RecoveryCore, RecoveryFn } from "./recovery_core.ts";
import { connectTo, type ServerAddress } from "./server_address.ts";
import { recoveringReadable, recoveringWritable, writeAllWith } from "./streams.ts";

/**
 * Options of an HA connection.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { haConnect, reconnect } from "./ha_conn.ts";
 *
 * const dir = await Deno.makeTempDir();
 * const address = { transport: "unix", path: `${dir}/server.sock` } as const;
 * // The server is still starting: `waitMs` lets the connect wait for it.
 * const connecting = haConnect(address, (failed) => reconnect(failed), null, {
 *   waitMs: 5000,
 *   eofIsDeath: true, // a server that closes the connection has died: recover
 * });
 * using listener = Deno.listen(address);
 * using conn = await connecting;
 * (await listener.accept()).close(); // the server drops the connection
 * const answered = listener.accept().then(async (c) => {
 *   await c.write(new Uint8Array([42]));
 *   return c;
 * });
 * const buf = new Uint8Array(1);
 * assert.equal(await conn.read(buf), 1); // not null: recovered and read again
 * (await answered).close();
 * assert.equal(buf[0], 42);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export interface HaConnOptions {
  /**
   * Treat an end of input on `read` as the server's death: recover and re-issue the read
   * instead of answering null (when recovery is not possible, the read answers null).
   * A server that dies closes its sockets, so this is what a dead server usually looks like
   * to a reader. @default {false}
   */
  eofIsDeath?: boolean;
  /**
   * How long connecting may wait, in ms, for a server that does not listen yet (refused, or
   * no socket file), retrying with a growing delay; a TCP connect that gets no answer at
   * all (a host that is down) gives up with TimedOut when it is over. 0: one attempt, as
   * long as the kernel takes. @default {0}
   */
  waitMs?: number;
}

/**
 * Reads the reply of a request/response pair (see {@linkcode HaConn.sendReceive}) with
 * `read`, which reads from the connection and throws `UnexpectedEof` at the end of input
 * (the server died mid-pair). It must read exactly the reply: bytes it reads past it are
 * lost to the next call.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { ReplyReader } from "./ha_conn.ts";
 *
 * // A reply of a 4-byte big-endian length, then that many bytes.
 * const framed: ReplyReader<Uint8Array> = async (read) => {
 *   const fill = async (buf: Uint8Array) => {
 *     for (let done = 0; done < buf.length;) done += await read(buf.subarray(done));
 *     return buf;
 *   };
 *   const size = new DataView((await fill(new Uint8Array(4))).buffer).getUint32(0);
 *   return await fill(new Uint8Array(size));
 * };
 * // Try it on bytes arriving in pieces, as a socket delivers them.
 * const pieces = [[0, 0, 0], [3, 7], [8, 9]].map((p) => new Uint8Array(p));
 * const read = (p: Uint8Array) => {
 *   const piece = pieces.shift();
 *   if (!piece) throw new Deno.errors.UnexpectedEof("the server closed the connection");
 *   p.set(piece.subarray(0, p.length));
 *   if (piece.length > p.length) pieces.unshift(piece.subarray(p.length));
 *   return Promise.resolve(Math.min(piece.length, p.length));
 * };
 * assert.deepEqual(await framed(read), new Uint8Array([7, 8, 9]));
 * ```
 */
export type ReplyReader<R> = (read: (p: Uint8Array) => Promise<number>) => Promise<R>;

/**
 * A {@linkcode ReplyReader} for line protocols where one request gets one line back: reads
 * until a chunk ends with a newline and answers the text without it. A reply longer than
 * `maxBytes` is an error (`InvalidData`), not a recoverable failure.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { haConnect, lineReply, reconnect } from "./ha_conn.ts";
 *
 * const dir = await Deno.makeTempDir();
 * const address = { transport: "unix", path: `${dir}/server.sock` } as const;
 * using listener = Deno.listen(address);
 * using conn = await haConnect(address, (failed) => reconnect(failed), null);
 * using server = await listener.accept();
 * await server.write(new TextEncoder().encode("pong\n"));
 * const reply = await conn.sendReceive(new TextEncoder().encode("ping\n"), lineReply(1024));
 * assert.equal(reply, "pong");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function lineReply(maxBytes = 64 * 1024): ReplyReader<string> {
  return async (read) => {
    const decoder = new TextDecoder();
    const buf = new Uint8Array(Math.min(maxBytes, 64 * 1024));
    let text = "";
    let bytes = 0;
    for (;;) {
      const n = await read(buf);
      bytes += n;
      text += decoder.decode(buf.subarray(0, n), { stream: true });
      if (text.endsWith("\n")) return text.slice(0, -1);
      if (bytes >= maxBytes) {
        throw new Deno.errors.InvalidData(`Cannot read a reply: longer than ${maxBytes} bytes`);
      }
    }
  };
}

/**
 * Options of {@linkcode reconnect}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { haConnect, reconnect } from "./ha_conn.ts";
 *
 * // The server comes back on another socket; the recovery function moves there.
 * const dir = await Deno.makeTempDir();
 * const first = { transport: "unix", path: `${dir}/a.sock` } as const;
 * const second = { transport: "unix", path: `${dir}/b.sock` } as const;
 * let listener = Deno.listen(first);
 * using conn = await haConnect(first, async (failed) => {
 *   await reconnect(failed, { address: second, waitMs: 5000 }); // kept for later reconnects
 *   return true;
 * }, null);
 * (await listener.accept()).close();
 * listener.close(); // the server dies...
 * listener = Deno.listen(second); // ...and is restarted elsewhere
 * await conn.write(new Uint8Array([1])); // fails, recovers, is written again
 * using server = await listener.accept();
 * assert.equal(await server.read(new Uint8Array(1)), 1);
 * assert.deepEqual(conn.address, second);
 * listener.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export interface ReconnectOptions {
  /** Connect to this address from now on instead of the current one. @default {the current address} */
  address?: ServerAddress;
  /** As {@linkcode HaConnOptions.waitMs}. @default {0} */
  waitMs?: number;
}

/** What dups share besides the recovery core. */
interface Shared {
  address: ServerAddress;
  eofIsDeath: boolean;
  unref: boolean;
}

/**
 * An HA-aware connection, usable wherever a `Deno.Conn` is. Its operations recover when
 * they fail the way a dead server makes them fail; see `recovery_core.ts` for the loop.
 * Make one with {@linkcode haConnect}, or with `haAttach` on a connected `Deno.Conn`.
 *
 * Bytes in flight when the server died:
 * - A `write` (or `writeAll`, or a chunk on `writable`) that failed is re-issued after
 *   recovery, in full, on the new connection. A failed `write` call wrote nothing; a
 *   failed `writeAll` may have written a prefix before failing, and the whole buffer is
 *   written again on the new connection, never only its tail.
 * - Bytes that earlier writes handed to the kernel before the death may be lost: the
 *   kernel accepted them, but the server may have died before reading them, and nothing
 *   re-sends them. The caller's protocol must make requests idempotent, or its recovery
 *   function must replay what was not answered.
 * - Reads are never duplicated by the library: it keeps no copy of bytes read, and a
 *   read re-issued after recovery reads from the new connection. An answer the old server
 *   sent before dying is still read when the kernel had received it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { haConnect, reconnect } from "./ha_conn.ts";
 *
 * // An echo server that answers one read, then closes the connection.
 * async function echoOnce(listener: Deno.Listener) {
 *   using conn = await listener.accept();
 *   const buf = new Uint8Array(64);
 *   const n = await conn.read(buf);
 *   await conn.write(buf.subarray(0, n ?? 0));
 * }
 * const dir = await Deno.makeTempDir();
 * const address = { transport: "unix", path: `${dir}/echo.sock` } as const;
 * let listener = Deno.listen(address);
 * const h = { recoveries: 0 };
 * using conn = await haConnect(address, async (failed, h) => {
 *   h.recoveries++;
 *   await reconnect(failed, { waitMs: 5000 }); // wait for the restarted server
 *   return true; // the library re-issues the failed operation
 * }, h);
 * async function ask(text: string): Promise<string> {
 *   await conn.writeAll(new TextEncoder().encode(text));
 *   const buf = new Uint8Array(64);
 *   const n = await conn.read(buf);
 *   return new TextDecoder().decode(buf.subarray(0, n ?? 0));
 * }
 *
 * let served = echoOnce(listener);
 * assert.equal(await ask("one"), "one");
 * await served;
 * listener.close(); // the server dies, and is restarted on the same socket
 * listener = Deno.listen(address);
 * served = echoOnce(listener);
 * assert.equal(await ask("two"), "two"); // the write met the dead server: recovered
 * await served;
 * assert.equal(h.recoveries, 1);
 * listener.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class HaConn<H = unknown> extends Recoverable<Deno.Conn, HaConn<H>, H> {
  #shared: Shared;
  #readable: ReadableStream<Uint8Array<ArrayBuffer>> | null = null;
  #writable: WritableStream<Uint8Array> | null = null;

  private constructor(
    core: RecoveryCore<Deno.Conn, HaConn<H>, H>,
    shared: Shared,
    attached: boolean,
  ) {
    super(core, attached);
    this.#shared = shared;
  }

  /**
   * Wraps a connected `conn` to `address` (the address that {@linkcode reconnect} uses).
   * With a null `recover`, the object is not HA-aware until a recovery function is attached.
   */
  static wrap<H>(
    conn: Deno.Conn,
    address: ServerAddress,
    recover: RecoveryFn<HaConn<H>, H> | null,
    handle: H,
    opts: HaConnOptions = {},
  ): HaConn<H> {
    const core = HaConn.newCore<Deno.Conn, HaConn<H>, H>(conn, recover, handle);
    const shared = { address, eofIsDeath: opts.eofIsDeath ?? false, unref: false };
    return new HaConn(core, shared, recover !== null);
  }

  /** The address {@linkcode reconnect} connects to. */
  get address(): ServerAddress {
    return this.#shared.address;
  }

  /** The local address of the current connection. */
  get localAddr(): Deno.Addr {
    return this.raw.localAddr;
  }

  /** The remote address of the current connection. */
  get remoteAddr(): Deno.Addr {
    return this.raw.remoteAddr;
  }

  /** Reads into `p`; answers the byte count, or null at the end of input. Recovers. */
  read(p: Uint8Array): Promise<number | null> {
    const eof = this.#shared.eofIsDeath ? (n: number | null) => n === null : undefined;
    return this.run((c) => c.read(p), eof);
  }

  /** Writes from `p` with one write call; answers the byte count. Recovers and re-issues. */
  write(p: Uint8Array): Promise<number> {
    return this.run((c) => c.write(p));
  }

  /** Writes all of `p`. On failure, after recovery, all of `p` is written again. */
  writeAll(p: Uint8Array): Promise<void> {
    return this.run((c) => writeAllWith((b) => c.write(b), p));
  }

  /**
   * Sends `request` and reads its reply as one recoverable operation: the MsgSend analogue
   * (QNX §8.2). When the server dies at any point of the pair (the write fails, the read
   * fails, or the connection ends before the reply is whole), the recovery function runs
   * and the whole pair is re-issued on the new connection: the request is written again,
   * so a request the dead server had read but not answered is not lost. An end of input in
   * the middle of the pair is such a failure whatever `eofIsDeath` says. The request must be
   * safe to send twice (idempotent), as for any re-issued write.
   *
   * @example
   * ```ts
   * import { haConnect, lineReply, reconnect } from "./ha_conn.ts";
   *
   * export async function ask(path: string, question: string): Promise<string> {
   *   const conn = await haConnect(
   *     { transport: "unix", path },
   *     async (failed) => !!(await reconnect(failed, { waitMs: 5000 })),
   *     null,
   *   );
   *   try {
   *     return await conn.sendReceive(new TextEncoder().encode(question + "\n"), lineReply());
   *   } finally {
   *     conn.close();
   *   }
   * }
   * ```
   */
  sendReceive<R>(request: Uint8Array, receive: ReplyReader<R>): Promise<R> {
    return this.run(async (c) => {
      await writeAllWith((b) => c.write(b), request);
      return await receive(async (p) => {
        const n = await c.read(p);
        if (n === null) throw serverEof("the connection");
        return n;
      });
    });
  }

  /** Shuts down the writing side of the current connection, without recovery. */
  closeWrite(): Promise<void> {
    return this.raw.closeWrite();
  }

  /**
   * A stream of what this connection reads, with recovery (one stream per object, made on
   * first use). Each chunk is exactly one recovering `read`; cancelling the stream does
   * not close the connection.
   */
  get readable(): ReadableStream<Uint8Array<ArrayBuffer>> {
    return this.#readable ??= recoveringReadable((p) => this.read(p));
  }

  /**
   * A sink that writes each chunk with a recovering `writeAll` (re-issued in full after a
   * recovery). Closing it shuts down the writing side (`closeWrite`) so the readable keeps
   * flowing; aborting it closes the connection. One stream per object, made on first use.
   */
  get writable(): WritableStream<Uint8Array> {
    return this.#writable ??= recoveringWritable(
      (p) => this.writeAll(p),
      () => this.closeWrite(),
      () => this.close(),
    );
  }

  /**
   * A dup (`ha_dup`): another object on the same connection, sharing the recovery
   * function, handle, counters and limits. Closing one does not close the other; the
   * connection is closed with the last one. EBADF when this object is not HA-aware.
   */
  dup(): HaConn<H> {
    return new HaConn(this.shareCore(), this.#shared, true);
  }

  /**
   * Connects again to the server (`ha_ReConnectAttach`), for use inside a recovery
   * function: opens a new connection to {@linkcode HaConn.address} (or `opts.address`,
   * which is kept for later reconnects), puts it under this object and its dups, closes
   * the old one, and answers this same object. When connecting fails, the old connection
   * stays and the error is thrown. Socket options other than `unref` are not carried over.
   */
  async reconnect(opts: ReconnectOptions = {}): Promise<this> {
    const address = opts.address ?? this.#shared.address;
    const conn = await connectTo(address, opts.waitMs ?? 0);
    this.adopt(conn);
    this.#shared.address = address;
    return this;
  }

  /**
   * Lets the event loop finish while this connection is open, or not (`ref`). The setting
   * is carried over to the connections that recovery puts in place.
   */
  unref(): void {
    this.#shared.unref = true;
    this.raw.unref();
  }

  /** Makes the connection block the event loop from finishing again (the default). */
  ref(): void {
    this.#shared.unref = false;
    this.raw.ref();
  }

  /**
   * Puts `next` under this object and its dups (see `Recoverable.adopt`), with the
   * `unref` setting of this object. Other socket options (`setNoDelay`, `setKeepAlive`)
   * are not carried over: set them again in the recovery function.
   */
  override adopt(next: Deno.Conn): void {
    if (this.#shared.unref) next.unref();
    super.adopt(next);
  }

  /** Closes an underlying connection. */
  protected closeResource(conn: Deno.Conn): void {
    conn.close();
  }
}

/**
 * Connects to a server with a recovery function (`ha_ConnectAttach`): `recover(conn,
 * handle)` is called when an operation fails because the server died.
 *
 * @example
 * ```ts
 * import { haConnect, reconnect } from "./ha_conn.ts";
 *
 * export async function ask(path: string, question: string): Promise<string> {
 *   const state = { recoveries: 0 };
 *   const conn = await haConnect({ transport: "unix", path }, async (failed, h) => {
 *     await reconnect(failed, { waitMs: 5000 }); // the server is restarting
 *     h.recoveries++;
 *     return true;
 *   }, state, { eofIsDeath: true });
 *   try {
 *     await conn.writeAll(new TextEncoder().encode(question + "\n"));
 *     const buf = new Uint8Array(1024);
 *     const n = await conn.read(buf);
 *     return new TextDecoder().decode(buf.subarray(0, n ?? 0));
 *   } finally {
 *     conn.close();
 *   }
 * }
 * ```
 */
export async function haConnect<H>(
  address: ServerAddress,
  recover: RecoveryFn<HaConn<H>, H>,
  handle: H,
  opts: HaConnOptions = {},
): Promise<HaConn<H>> {
  const conn = await connectTo(address, opts.waitMs ?? 0);
  return HaConn.wrap(conn, address, recover, handle, opts);
}

/**
 * `failed.reconnect(opts)`: the `ha_ReConnectAttach` form, for recovery functions. It
 * answers the same object, which is a valid answer of a recovery function.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { haConnect, reconnect } from "./ha_conn.ts";
 *
 * const dir = await Deno.makeTempDir();
 * const address = { transport: "unix", path: `${dir}/server.sock` } as const;
 * let listener = Deno.listen(address);
 * using conn = await haConnect(address, (failed) => reconnect(failed, { waitMs: 5000 }), null);
 * (await listener.accept()).close();
 * listener.close(); // the server dies
 * const writing = conn.write(new Uint8Array([1])); // fails; recovery waits for the server
 * listener = Deno.listen(address); // restarted
 * using server = await listener.accept();
 * assert.equal(await writing, 1);
 * assert.equal(await server.read(new Uint8Array(1)), 1);
 * listener.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function reconnect<H>(failed: HaConn<H>, opts: ReconnectOptions = {}): Promise<HaConn<H>> {
  return failed.reconnect(opts);
}
