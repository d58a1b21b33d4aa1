/**
 * The client recovery library, the counterpart of QNX's libha: a client's connection to
 * a server (Unix socket or TCP) and a client's open file keep working across the server's
 * death and restart. {@linkcode HaConn} and {@linkcode HaFile} wrap a `Deno.Conn` and a
 * `Deno.FsFile` and stay the same objects for the caller. When an operation fails the way
 * a dead server makes it fail ({@linkcode DEAD_SERVER_ERRORS}; also EOF on a read with
 * `eofIsDeath`), the library calls the caller's recovery function `(failed, handle)`,
 * which re-establishes the connection and rebuilds state (reconnect, replay a handshake,
 * seek to a saved offset) and answers `true`; the library then re-issues the failed
 * operation. Answering `false` (or throwing) gives the caller the original error. Errors
 * that are not dead-server errors are never retried.
 *
 * Bytes in flight when the server died: a write that failed is re-issued after recovery,
 * in full; bytes the kernel accepted before the death may be lost, so the caller's protocol
 * must make requests idempotent or replay them in the recovery function; reads are never
 * duplicated by the library.
 *
 * | QNX | here |
 * |---|---|
 * | `ha_ConnectAttach` | {@linkcode haConnect} |
 * | `ha_ReConnectAttach` | {@linkcode reconnect} (`conn.reconnect()`) |
 * | `ha_open`, `ha_creat`, `ha_fopen` | {@linkcode haOpen}, {@linkcode haCreate}, {@linkcode haFopen} |
 * | `ha_reopen` | {@linkcode haReopen} (`file.reopen()`) |
 * | `ha_attach`, `HAREPLACERECOVERYFN` | {@linkcode haAttach} (`obj.attach(fn, h, { replace })`) |
 * | `ha_detach` | {@linkcode haDetach} (`obj.detach()`) |
 * | `ha_connection_ctrl`, `HA_RECOVERY_*` | {@linkcode haConnectionCtrl} (`obj.control(cmd, n)`) |
 * | `ha_dup` | {@linkcode haDup} (`obj.dup()`) |
 * | `ha_close`, `ha_fclose`, `ha_ConnectDetach` | {@linkcode haClose}, {@linkcode haFclose} (`obj.close()`) |
 *
 * Recovery can wait for the HAM to report the server's restart with
 * {@linkcode waitForRestart} instead of retrying blind.
 *
 * @example
 * ```ts
 * import { haConnect, HA_RECOVERY_ICOUNT, nextEventSeq, waitForRestart } from "./ha.ts";
 *
 * // A client of the supervised server "echo": a request that meets the server's death
 * // is answered by the restarted server. Requests are idempotent, so replaying one is safe.
 * export async function echo(stateDir: string, path: string, line: string): Promise<string> {
 *   const h = { since: await nextEventSeq({ stateDir }), pending: null as Uint8Array | null };
 *   using conn = await haConnect({ transport: "unix", path }, async (failed, h) => {
 *     const r = await waitForRestart("echo", { stateDir, since: h.since, timeoutMs: 10_000 });
 *     h.since = (r.seq ?? h.since) + 1;
 *     await failed.reconnect({ waitMs: 5000 });
 *     if (h.pending) await failed.writeAll(h.pending); // replay the unanswered request
 *     return true;
 *   }, h, { eofIsDeath: true });
 *   conn.control(HA_RECOVERY_ICOUNT, 3);
 *   h.pending = new TextEncoder().encode(line + "\n");
 *   await conn.writeAll(h.pending);
 *   const buf = new Uint8Array(4096);
 *   const n = await conn.read(buf);
 *   h.pending = null;
 *   return new TextDecoder().decode(buf.subarray(0, n ?? 0));
 * }
 * ```
 *
 * @module
 */

export {
  haAttach,
  haClose,
  haConnectionCtrl,
  haDetach,
  haDup,
  haFclose,
  haMsgSend,
} from "./lib/ha/covers.ts";
export type { ConnAttachOptions, FileAttachOptions } from "./lib/ha/covers.ts";
export { DEAD_SERVER_CODES, DEAD_SERVER_ERRORS, isDeadServerError } from "./lib/ha/errors.ts";
export { HaConn, haConnect, lineReply, reconnect } from "./lib/ha/ha_conn.ts";
export type { HaConnOptions, ReconnectOptions, ReplyReader } from "./lib/ha/ha_conn.ts";
export { haCreate, HaFile, haFopen, haOpen, haReopen } from "./lib/ha/ha_file.ts";
export type { FopenMode } from "./lib/ha/ha_file.ts";
export { Recoverable } from "./lib/ha/recoverable.ts";
export type { HaAttachOptions } from "./lib/ha/recoverable.ts";
export {
  HA_RECOVERY_ACOUNT,
  HA_RECOVERY_ENABLE,
  HA_RECOVERY_ICOUNT,
  HA_RECOVERY_RESET_ACOUNT,
  HA_RECOVERY_RESET_ICOUNT,
  HA_RECOVERY_SUSPEND,
  HAREPLACERECOVERYFN,
} from "./lib/ha/recovery_core.ts";
export type {
  RecoveryCommand,
  RecoveryCore,
  RecoveryFn,
  RecoveryResult,
  RecoveryStats,
} from "./lib/ha/recovery_core.ts";
export { addressOf, connectTo } from "./lib/ha/server_address.ts";
export type { ServerAddress } from "./lib/ha/server_address.ts";
export { nextEventSeq, waitForRestart } from "./lib/ha/wait_restart.ts";
export type { HamEvents, RestartSeen, WaitForRestartOptions } from "./lib/ha/wait_restart.ts";
