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

/** Options of {@linkcode haAttach} on a plain `Deno.Conn`. */
export interface ConnAttachOptions extends HaAttachOptions, HaConnOptions {
  /** The address to reconnect to. @default {the connection's remote address} */
  address?: ServerAddress;
}

/** Options of {@linkcode haAttach} on a plain `Deno.FsFile`. */
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
/** Makes a file HA-aware, or attaches to or replaces on an {@linkcode HaFile}. */
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
 * operation (the MsgSend analogue, QNX §8.2): see {@linkcode HaConn.sendReceive}.
 */
export function haMsgSend<H, R>(
  conn: HaConn<H>,
  request: Uint8Array,
  receive: ReplyReader<R>,
): Promise<R> {
  return conn.sendReceive(request, receive);
}

/** Makes `target` non-HA again (`ha_detach`). EBADF when it is not HA-aware. */
export function haDetach(target: unknown): void {
  haOf(target, "detach").detach();
}

/**
 * Per-connection recovery control (`ha_connection_ctrl`); see
 * {@linkcode Recoverable.control}. EBADF when `target` is not HA-aware.
 */
export function haConnectionCtrl(target: unknown, command: RecoveryCommand, value?: number): void {
  haOf(target, "control recovery").control(command, value);
}

/** A dup sharing the recovery (`ha_dup`). EBADF when `target` is not HA-aware. */
export function haDup<H>(target: HaConn<H>): HaConn<H>;
/** A dup of an HA file, sharing its offset and recovery. */
export function haDup<H>(target: HaFile<H>): HaFile<H>;
export function haDup<H>(target: HaConn<H> | HaFile<H>): HaConn<H> | HaFile<H> {
  return haOf(target, "dup").dup() as HaConn<H> | HaFile<H>;
}

/**
 * Closes `target` (`ha_close`: detach, then close). A plain `Deno.Conn` or `Deno.FsFile`
 * is just closed.
 */
export function haClose(target: { close(): void }): void {
  target.close();
}

/** Closes an HA file (`ha_fclose`): the same as {@linkcode haClose}. */
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
