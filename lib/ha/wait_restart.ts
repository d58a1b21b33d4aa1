/**
 * Waiting, inside a recovery function, for the HAM to report that the server was
 * restarted, instead of retrying a connect blind.
 *
 * @module
 */

import { connect } from "../client/ham.ts";
import { DEFAULTS } from "../core/defaults.ts";

/**
 * What the HAM reported: the restarted entity, and the restart event's sequence number.
 * Move the `since` of the next wait past it, so the same restart is not seen twice.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { RestartSeen } from "./wait_restart.ts";
 *
 * // The `since` of the wait for the next restart.
 * function sinceAfter(seen: RestartSeen, since: number): number {
 *   return (seen.seq ?? since) + 1;
 * }
 * assert.equal(sinceAfter({ entity: "server", seq: 41 }, 30), 42);
 * ```
 */
export interface RestartSeen {
  /** The entity. */
  entity: string;
  /**
   * The sequence number of its `restart` event (null only when the HAM answers from its
   * state instead of an event, which a wait for a restart does not do).
   */
  seq: number | null;
}

/**
 * What {@linkcode waitForRestart} and {@linkcode nextEventSeq} need of an open connection
 * to the HAM; the `Ham` that `connect()` (mod.ts) answers is one. A stand-in lets a
 * recovery function be tested without a HAM.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { HamError } from "../core/errors.ts";
 * import { type HamEvents, nextEventSeq, waitForRestart } from "./wait_restart.ts";
 *
 * // A stand-in HAM whose event log holds one restart of "server", as event 7.
 * const restarts = [7];
 * const ham: HamEvents = {
 *   wait(entity, _target, { since = Infinity }) {
 *     const seq = restarts.find((seq) => seq >= since);
 *     if (seq === undefined) return Promise.reject(new HamError("ETIMEDOUT", "no restart"));
 *     return Promise.resolve({ entity, seq });
 *   },
 *   events: () => Promise.resolve({ next: 8 }),
 * };
 * assert.equal(await nextEventSeq({ ham }), 8);
 * assert.deepEqual(await waitForRestart("server", { ham, since: 5 }), { entity: "server", seq: 7 });
 * await assert.rejects(waitForRestart("server", { ham, since: 8 }), { code: "ETIMEDOUT" });
 * ```
 */
export interface HamEvents {
  /** Waits for `entity` to be restarted. */
  wait(
    entity: string,
    target: "restarted",
    opts: { timeoutMs?: number; since?: number },
  ): Promise<RestartSeen>;
  /** Kept events from `since`; `next` is the `since` that continues after them. */
  events(opts: { since?: number; limit?: number }): Promise<{ next: number }>;
}

/**
 * Options of {@linkcode waitForRestart}.
 *
 * @example
 * ```ts
 * import { HamError } from "../core/errors.ts";
 * import type { HaConn } from "./ha_conn.ts";
 * import { type HamEvents, waitForRestart } from "./wait_restart.ts";
 *
 * // A recovery function on one HAM connection that gives up after 10 s without a restart.
 * export function recoverWith(ham: HamEvents, entity: string) {
 *   return async (failed: HaConn<{ since: number }>, h: { since: number }) => {
 *     try {
 *       const seen = await waitForRestart(entity, { ham, since: h.since, timeoutMs: 10_000 });
 *       h.since = (seen.seq ?? h.since) + 1;
 *     } catch (err) {
 *       if (err instanceof HamError && err.code === "ETIMEDOUT") return false; // give up
 *       throw err;
 *     }
 *     await failed.reconnect({ waitMs: 5000 });
 *     return true;
 *   };
 * }
 * ```
 */
export interface WaitForRestartOptions {
  /** The HAM's state directory, when no `ham` connection is given. @default {resolveStateDir()} */
  stateDir?: string;
  /** An open connection to the HAM to ask on; by default one is opened for the call. */
  ham?: HamEvents;
  /** How long to wait, in ms; then the call throws a HamError ETIMEDOUT. @default {30000} */
  timeoutMs?: number;
  /**
   * Also accept a restart the HAM already reported with this sequence number or later.
   * Take it with {@linkcode nextEventSeq} while the server is known to be up (for example
   * right after connecting), and move it past each restart seen (`result.seq + 1`), so a
   * restart that happened before the recovery function asked is not missed. Without it,
   * only a restart after the call counts.
   */
  since?: number;
}

/**
 * Waits until the HAM reports that `entity` was restarted (a `restart` event). Answers
 * the HAM's wait result, whose `seq` is the restart event's sequence number. Throws a
 * HamError: ETIMEDOUT after `timeoutMs`, EBADF when no HAM answers.
 *
 * A restart event means the HAM spawned the server again, not that the server is ready:
 * connect with a short wait afterwards (`reconnect(failed, { waitMs })`).
 *
 * @example
 * ```ts
 * import { haConnect, reconnect } from "./ha_conn.ts";
 * import { nextEventSeq, waitForRestart } from "./wait_restart.ts";
 *
 * export async function connectToSupervised(stateDir: string, path: string) {
 *   const h = { since: await nextEventSeq({ stateDir }) };
 *   return await haConnect({ transport: "unix", path }, async (failed, h) => {
 *     const r = await waitForRestart("server", { stateDir, since: h.since, timeoutMs: 10_000 });
 *     h.since = (r.seq ?? h.since) + 1;
 *     await reconnect(failed, { waitMs: 5000 });
 *     return true;
 *   }, h, { eofIsDeath: true });
 * }
 * ```
 */
export async function waitForRestart(
  entity: string,
  opts: WaitForRestartOptions = {},
): Promise<RestartSeen> {
  const wait = { timeoutMs: opts.timeoutMs ?? DEFAULTS.waitTimeoutMs, since: opts.since };
  if (opts.ham) return await opts.ham.wait(entity, "restarted", wait);
  await using ham = await connect({ stateDir: opts.stateDir, client: "libha" });
  return await ham.wait(entity, "restarted", wait);
}

/**
 * The sequence number the HAM's next event will get: the `since` of a later
 * {@linkcode waitForRestart} that must not miss a restart from now on. Asks on `ham` when
 * given, otherwise on a connection opened for the call to the HAM of `stateDir`.
 *
 * @example
 * ```ts
 * import type { Ham } from "../client/ham.ts";
 * import { haConnect, reconnect } from "./ha_conn.ts";
 * import { nextEventSeq, waitForRestart } from "./wait_restart.ts";
 *
 * // Take the seq right after connecting, while the server is known to be up.
 * export async function connectSupervised(ham: Ham, entity: string, path: string) {
 *   const h = { since: await nextEventSeq({ ham }) };
 *   return await haConnect({ transport: "unix", path }, async (failed, h) => {
 *     const seen = await waitForRestart(entity, { ham, since: h.since });
 *     h.since = (seen.seq ?? h.since) + 1;
 *     await reconnect(failed, { waitMs: 5000 });
 *     return true;
 *   }, h, { eofIsDeath: true });
 * }
 * ```
 */
export async function nextEventSeq(
  opts: { stateDir?: string; ham?: HamEvents } = {},
): Promise<number> {
  if (opts.ham) return await nextOf(opts.ham);
  await using ham = await connect({ stateDir: opts.stateDir, client: "libha" });
  return await nextOf(ham);
}

async function nextOf(ham: HamEvents): Promise<number> {
  const r = await ham.events({ since: Number.MAX_SAFE_INTEGER, limit: 1 });
  return r.next;
}
