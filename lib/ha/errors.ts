/**
 * Which failures mean "the server died": the errors after which the client recovery
 * library calls the recovery function (the Deno forms of QNX's `EBADF`/`ESRCH` from a
 * stale connection), and the EBADF error of a control call on an object that is not
 * HA-aware.
 *
 * @module
 */

import { HamError } from "../core/errors.ts";

/**
 * The Deno error classes that count as a dead server:
 *
 * | error | typical cause |
 * |---|---|
 * | `BrokenPipe` | writing to a connection whose server died |
 * | `ConnectionReset` | the server died with unread data, or the kernel reset the connection |
 * | `ConnectionAborted` | the connection was aborted on the server's side |
 * | `NotConnected` | the socket is no longer connected |
 * | `ConnectionRefused` | connecting while the server restarts (nothing listens yet) |
 * | `BadResource` | the underlying handle is gone (a stale file handle, or closed behind the wrapper's back) |
 * | `UnexpectedEof` | end of input where more was due, including EOF on a read when "EOF means the server died" |
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEAD_SERVER_ERRORS } from "./errors.ts";
 *
 * // Writing to a connection whose server died.
 * const dir = await Deno.makeTempDir();
 * const address = { transport: "unix", path: `${dir}/server.sock` } as const;
 * using listener = Deno.listen(address);
 * const conn = await Deno.connect(address);
 * (await listener.accept()).close(); // the server's end goes away
 * const err = await conn.write(new Uint8Array(1)).catch((e) => e);
 * assert.ok(err instanceof Deno.errors.BrokenPipe);
 * assert.ok(DEAD_SERVER_ERRORS.some((cls) => err instanceof cls)); // recovery would run
 * conn.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export const DEAD_SERVER_ERRORS: readonly (new (...args: never[]) => Error)[] = [
  Deno.errors.BrokenPipe,
  Deno.errors.ConnectionReset,
  Deno.errors.ConnectionAborted,
  Deno.errors.NotConnected,
  Deno.errors.ConnectionRefused,
  Deno.errors.BadResource,
  Deno.errors.UnexpectedEof,
];

/**
 * The errno codes that count as a dead server when an error carries one without being of
 * a class in {@linkcode DEAD_SERVER_ERRORS}: `ESTALE` is what a file handle on a restarted
 * NFS server answers, `ENOTCONN` what a file on a dead FUSE server answers.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEAD_SERVER_CODES, isDeadServerError } from "./errors.ts";
 *
 * // A stale NFS handle: an error of no dead-server class, but with the ESTALE code.
 * const stale = Object.assign(new Error("Stale file handle"), { code: "ESTALE" });
 * assert.ok(DEAD_SERVER_CODES.includes(stale.code));
 * assert.ok(isDeadServerError(stale));
 * ```
 */
export const DEAD_SERVER_CODES: readonly string[] = [
  "ESTALE",
  "ENOTCONN",
  "EPIPE",
  "ECONNRESET",
  "ECONNABORTED",
  "ECONNREFUSED",
];

/**
 * True when `err` is one of {@linkcode DEAD_SERVER_ERRORS} or carries one of
 * {@linkcode DEAD_SERVER_CODES}: the failure a dead server causes, after which recovery
 * is attempted. Every other error (EBADF from writing to a read-only file, EINVAL,
 * permission denied, ...) is passed to the caller as it is, without recovery.
 *
 * @example
 * ```ts
 * import { isDeadServerError } from "./errors.ts";
 *
 * isDeadServerError(new Deno.errors.BrokenPipe("Broken pipe")); // true
 * isDeadServerError(new Deno.errors.PermissionDenied("no")); // false
 * ```
 */
export function isDeadServerError(err: unknown): boolean {
  if (DEAD_SERVER_ERRORS.some((cls) => err instanceof cls)) return true;
  const code = (err as { code?: unknown } | null)?.code;
  return err instanceof Error && typeof code === "string" && DEAD_SERVER_CODES.includes(code);
}

/**
 * True when connecting failed because the server is not there yet: refused (nothing
 * listens on the address or on the stale socket file) or, for a Unix socket, the socket
 * file is missing. These are retried while a connect is allowed to wait for the server.
 */
export function isNotListening(err: unknown): boolean {
  return err instanceof Deno.errors.ConnectionRefused || err instanceof Deno.errors.NotFound;
}

/** The error an end of input is turned into when EOF means that the server died. */
export function serverEof(what: string): Deno.errors.UnexpectedEof {
  return new Deno.errors.UnexpectedEof(`Cannot read from ${what}: the server closed it`);
}

/**
 * The EBADF error of an HA call on an object that is not HA-aware: not a wrapper of this
 * library, detached, or closed (QNX: "no such HA connection").
 */
export function notHaAware(op: string, why: string): HamError {
  return new HamError("EBADF", `Cannot ${op}: ${why}`);
}
