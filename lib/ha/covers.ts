/**
 * The QNX-shaped entry points of the client recovery library that work on any HA object:
 * `ha_attach` (which also makes a plain `Deno.Conn` or `Deno.FsFile` HA-aware),
 * `ha_detach`, `ha_connection_ctrl`, `ha_dup`, `ha_close` and `ha_fclose`, and the
 * request/response cover `haMsgSend` (QNX's covered `MsgSend`). Each is the
 * method of the same name on {@linkcode HaConn} and {@linkcode HaFile}, plus the EBADF
 * check QNX makes on an object that is not HA-aware.
 *
 * @module
 */

import { HamError } from "../core/errors.ts";
import { notHaAware } from "./errors.ts";
import { HaConn, type HaConnOptions, type ReplyReader } from "./ha_conn.ts";
import { HaFile } from "./ha_file.ts";
import { type HaAttachOptions, Recoverable } from "./recoverable.ts";
import { addressOf, type ServerAddress } from "./server_address.ts";
import { HAREPLACERECOVERYFN, type RecoveryCommand, type RecoveryFn } from "./recovery_core.ts";

/**
 * Options of {@linkcode haAttach} on a plain `Deno.Conn`: where to reconnect, and the
 * {@linkcode HaConnOptions} of the wrapper.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { haAttach } from "./covers.ts";
 *
 * const dir = await Deno.makeTempDir();
 * const address = { transport: "unix", path: `${dir}/server.sock` } as const;
 * using listener = Deno.listen(address);
 * const plain = await Deno.connect(address);
 * // Make it HA-aware: an end of input means the server died; reconnect to `address`.
 * using conn = haAttach(plain, (failed) => failed.reconnect(), null, {
 *   address,
 *   eofIsDeath: true,
 * });
 * (await listener.accept()).close(); // the server drops the connection
 * const answered = listener.accept().then(async (c) => {
 *   await c.write(new TextEncoder().encode("back"));
 *   return c;
 * });
 * const buf = new Uint8Array(4);
 * const n = await conn.read(buf); // EOF, recovery reconnects, the read is re-issued
 * (await answered).close();
 * assert.equal(new TextDecoder().decode(buf.subarray(0, n ?? 0)), "back");
 * assert.equal(conn.stats.acount, 1);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export interface ConnAttachOptions extends HaAttachOptions, HaConnOptions {
  /** The address to reconnect to. @default {the connection's remote address} */
  address?: ServerAddress;
}

/**
 * Options of {@linkcode haAttach} on a plain `Deno.FsFile`: how to open it again.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { haAttach } from "./covers.ts";
 *
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, "hello world");
 * const h = { offset: 0 };
 * using file = haAttach(await Deno.open(path), async (failed, h) => {
 *   await failed.reopen(); // with `path` and `options` below
 *   await failed.seek(h.offset, Deno.SeekMode.Start);
 *   return true;
 * }, h, { path, options: { read: true } });
 * const buf = new Uint8Array(6);
 * h.offset += (await file.read(buf)) ?? 0;
 * file.raw.close(); // the handle goes stale, as after a file server's restart
 * const n = await file.read(buf); // recovered: reopened at the saved offset
 * assert.equal(new TextDecoder().decode(buf.subarray(0, n ?? 0)), "world");
 * await Deno.remove(path);
 * ```
 */
export interface FileAttachOptions extends HaAttachOptions {
  /** The path the file was opened from, for reopening. */
  path: string;
  /** The options it was opened with, for reopening. @default {{ read: true }} */
  options?: Deno.OpenOptions;
}

/** An object of this library that may be HA-aware. */
// deno-lint-ignore no-explicit-any
type AnyHa = Recoverable<any, any, any>;

/**
 * Makes a connection or file HA-aware (`ha_attach`). On a plain `Deno.Conn` or
 * `Deno.FsFile`, answers a new wrapper that owns it (use the wrapper from now on); on an
 * HA object, attaches (or with `replace`, replaces) its recovery function and answers it.
 *
 * @example
 * ```ts
 * import { haAttach } from "./covers.ts";
 *
 * export async function makeHa(path: string) {
 *   const plain = await Deno.connect({ transport: "unix", path });
 *   const conn = haAttach(plain, (failed) => failed.reconnect({ waitMs: 1000 }), null);
 *   // Later, from anywhere: swap in a smarter recovery function.
 *   haAttach(conn, (failed) => failed.reconnect({ waitMs: 10_000 }), null, { replace: true });
 *   return conn;
 * }
 * ```
 */
export function haAttach<H>(
  target: Deno.Conn | HaConn<H>,
  recover: RecoveryFn<HaConn<H>, H>,
  handle: H,
  opts?: ConnAttachOptions,
): HaConn<H>;
/**
 * Makes a file HA-aware, or attaches to or replaces on an {@linkcode HaFile}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { haAttach } from "./covers.ts";
 *
 * const path = await Deno.makeTempFile();
 * const plain = await Deno.open(path, { read: true, write: true });
 * using file = haAttach(plain, (failed) => failed.reopen(), null, {
 *   path,
 *   options: { read: true, write: true },
 * });
 * assert.ok(file.attached);
 * // Attaching again without `replace` is EEXIST; with it, the function is swapped.
 * assert.throws(() => haAttach(file, () => false, null), { code: "EEXIST" });
 * haAttach(file, () => false, null, { replace: true });
 * await Deno.remove(path);
 * ```
 */
export function haAttach<H>(
  target: Deno.FsFile | HaFile<H>,
  recover: RecoveryFn<HaFile<H>, H>,
  handle: H,
  opts?: FileAttachOptions | HaAttachOptions,
): HaFile<H>;
export function haAttach<H>(
  target: Deno.Conn | Deno.FsFile | HaConn<H> | HaFile<H>,
  recover: RecoveryFn<HaConn<H>, H> | RecoveryFn<HaFile<H>, H>,
  handle: H,
  opts: Partial<ConnAttachOptions & FileAttachOptions> = {},
): HaConn<H> | HaFile<H> {
  // The overloads pair each kind of target with a recovery function of its kind.
  const fn = recover as RecoveryFn<HaConn<H>, H> & RecoveryFn<HaFile<H>, H>;
  if (target instanceof Recoverable) return target.attach(fn, handle, opts);
  const replace = opts.replace === true || ((opts.flags ?? 0) & HAREPLACERECOVERYFN) !== 0;
  if (replace) throw notHaAware("replace the recovery function", "the object is not HA-aware");
  if (target instanceof Deno.FsFile) {
    if (!opts.path) {
      throw new HamError("EINVAL", "Cannot make a file HA-aware: give the path to reopen it");
    }
    return HaFile.wrap(target, opts.path, opts.options ?? { read: true }, fn, handle);
  }
  return HaConn.wrap(target, opts.address ?? addressOf(target), fn, handle, opts);
}

/**
 * Sends a request and receives its reply over an HA connection as one recoverable
 * operation (the MsgSend analogue, QNX §8.2): see {@linkcode HaConn.sendReceive}. When the
 * server dies after reading the request but before answering, recovery runs and the
 * request is sent again to the restarted server.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { haMsgSend } from "./covers.ts";
 * import { haConnect, lineReply, reconnect } from "./ha_conn.ts";
 *
 * const dir = await Deno.makeTempDir();
 * const address = { transport: "unix", path: `${dir}/clock.sock` } as const;
 * let listener = Deno.listen(address);
 * using conn = await haConnect(address, (f) => reconnect(f, { waitMs: 5000 }), null);
 * const reply = haMsgSend(conn, new TextEncoder().encode("time?\n"), lineReply());
 *
 * // The server reads the request and dies before answering; it is restarted.
 * const first = await listener.accept();
 * await first.read(new Uint8Array(64));
 * listener.close();
 * first.close();
 * listener = Deno.listen(address);
 * // The restarted server gets the request again and answers it.
 * const second = await listener.accept();
 * const buf = new Uint8Array(64);
 * const n = await second.read(buf);
 * assert.equal(new TextDecoder().decode(buf.subarray(0, n ?? 0)), "time?\n");
 * await second.write(new TextEncoder().encode("noon\n"));
 * assert.equal(await reply, "noon");
 * second.close();
 * listener.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function haMsgSend<H, R>(
  conn: HaConn<H>,
  request: Uint8Array,
  receive: ReplyReader<R>,
): Promise<R> {
  return conn.sendReceive(request, receive);
}

/**
 * Makes `target` non-HA again (`ha_detach`): its failures surface as they would on a
 * plain connection or file. EBADF when it is not HA-aware.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { haDetach } from "./covers.ts";
 * import { haOpen, haReopen } from "./ha_file.ts";
 *
 * const path = await Deno.makeTempFile();
 * using file = await haOpen(path, { read: true }, (failed) => haReopen(failed), null);
 * haDetach(file);
 * assert.equal(file.attached, false);
 * file.raw.close(); // a stale handle is no longer recovered
 * await assert.rejects(file.read(new Uint8Array(8)), Deno.errors.BadResource);
 * assert.throws(() => haDetach(file), { code: "EBADF" }); // not HA-aware any more
 * await Deno.remove(path);
 * ```
 */
export function haDetach(target: unknown): void {
  haOf(target, "detach").detach();
}

/**
 * Per-connection recovery control (`ha_connection_ctrl`); see
 * {@linkcode Recoverable.control}. EBADF when `target` is not HA-aware.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { haConnectionCtrl } from "./covers.ts";
 * import { haOpen, haReopen } from "./ha_file.ts";
 * import { HA_RECOVERY_ENABLE, HA_RECOVERY_ICOUNT, HA_RECOVERY_SUSPEND } from "./recovery_core.ts";
 *
 * const path = await Deno.makeTempFile();
 * using file = await haOpen(path, { read: true }, (failed) => haReopen(failed), null);
 * haConnectionCtrl(file, HA_RECOVERY_ICOUNT, 3); // at most 3 attempts per failure
 * haConnectionCtrl(file, HA_RECOVERY_SUSPEND); // behave like a plain file for now
 * file.raw.close(); // the handle goes stale
 * await assert.rejects(file.read(new Uint8Array(8)), Deno.errors.BadResource);
 * haConnectionCtrl(file, HA_RECOVERY_ENABLE);
 * assert.equal(await file.read(new Uint8Array(8)), null); // recovered: reopened, at EOF
 * assert.deepEqual([file.stats.acount, file.stats.icountLimit], [1, 3]);
 * assert.throws(() => haConnectionCtrl(Deno.stdin, HA_RECOVERY_SUSPEND), { code: "EBADF" });
 * await Deno.remove(path);
 * ```
 */
export function haConnectionCtrl(target: unknown, command: RecoveryCommand, value?: number): void {
  haOf(target, "control recovery").control(command, value);
}

/**
 * A dup sharing the recovery (`ha_dup`): another object on the same connection, with the
 * same recovery function, handle, counters and limits. The connection is closed with the
 * last of them. EBADF when `target` is not HA-aware.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { haConnectionCtrl, haDup } from "./covers.ts";
 * import { haConnect, reconnect } from "./ha_conn.ts";
 * import { HA_RECOVERY_ACOUNT } from "./recovery_core.ts";
 *
 * const dir = await Deno.makeTempDir();
 * const address = { transport: "unix", path: `${dir}/server.sock` } as const;
 * using listener = Deno.listen(address);
 * const conn = await haConnect(address, (failed) => reconnect(failed), null);
 * using server = await listener.accept();
 * const copy = haDup(conn);
 * haConnectionCtrl(copy, HA_RECOVERY_ACOUNT, 10); // settings are shared
 * assert.equal(conn.stats.acountLimit, 10);
 * conn.close(); // the connection stays open for the dup
 * await copy.write(new TextEncoder().encode("hi"));
 * assert.equal(await server.read(new Uint8Array(8)), 2);
 * copy.close(); // the last one: the connection is closed
 * assert.equal(await server.read(new Uint8Array(8)), null);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function haDup<H>(target: HaConn<H>): HaConn<H>;
/**
 * A dup of an HA file, sharing its offset and recovery.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { haDup } from "./covers.ts";
 * import { haOpen, haReopen } from "./ha_file.ts";
 *
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, "abcdef");
 * using file = await haOpen(path, { read: true }, (failed) => haReopen(failed), null);
 * using copy = haDup(file);
 * const buf = new Uint8Array(3);
 * await file.read(buf);
 * await copy.read(buf); // one offset: the dup reads on from where the file stopped
 * assert.equal(new TextDecoder().decode(buf), "def");
 * await Deno.remove(path);
 * ```
 */
export function haDup<H>(target: HaFile<H>): HaFile<H>;
export function haDup<H>(target: HaConn<H> | HaFile<H>): HaConn<H> | HaFile<H> {
  return haOf(target, "dup").dup() as HaConn<H> | HaFile<H>;
}

/**
 * Closes `target` (`ha_close`: detach, then close). A plain `Deno.Conn` or `Deno.FsFile`
 * is just closed. The resource under an HA object is closed with its last dup.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { haClose, haDetach } from "./covers.ts";
 * import { haOpen, haReopen } from "./ha_file.ts";
 *
 * const path = await Deno.makeTempFile();
 * const file = await haOpen(path, { read: true }, (failed) => haReopen(failed), null);
 * haClose(file);
 * assert.deepEqual([file.attached, file.closed], [false, true]);
 * assert.throws(() => haDetach(file), { code: "EBADF" });
 * haClose(await Deno.open(path)); // a plain file is just closed
 * await Deno.remove(path);
 * ```
 */
export function haClose(target: { close(): void }): void {
  target.close();
}

/**
 * Closes an HA file (`ha_fclose`): the same as {@linkcode haClose}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { haFclose } from "./covers.ts";
 * import { haFopen, haReopen } from "./ha_file.ts";
 *
 * const path = await Deno.makeTempFile();
 * const log = await haFopen(path, "a", (failed) => haReopen(failed), null);
 * await log.writeAll(new TextEncoder().encode("started\n"));
 * haFclose(log);
 * assert.equal(await Deno.readTextFile(path), "started\n");
 * await Deno.remove(path);
 * ```
 */
export function haFclose(target: { close(): void }): void {
  target.close();
}

function haOf(target: unknown, op: string): AnyHa & { dup(): AnyHa } {
  if (!(target instanceof HaConn || target instanceof HaFile)) {
    throw notHaAware(op, "the object is not an HA connection or file");
  }
  if (!target.attached) throw notHaAware(op, "the object is not HA-aware");
  return target;
}
