/**
 * The recovery state that an HA connection shares with its dups: the underlying resource,
 * the recovery function and its handle, the counters and limits that
 * `ha_connection_ctrl` sets, and the retry loop that calls the recovery function when an
 * operation fails the way a dead server makes it fail, then re-issues the operation.
 *
 * @module
 */

import { AsyncLocalStorage } from "node:async_hooks";
import { DEFAULTS } from "../core/defaults.ts";
import { HamError } from "../core/errors.ts";
import { isDeadServerError, serverEof } from "./errors.ts";

/**
 * What a recovery function answers: `true`, or the failed object itself (or a dup of it),
 * when the connection was re-established (QNX: the same coid); `false` to give up, so the
 * caller gets the original error. Throwing also gives up.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { haOpen, haReopen } from "./ha_file.ts";
 *
 * const path = await Deno.makeTempFile();
 * const h = { giveUp: true };
 * // Answers false (give up) or, after reopening, the same object (recovered).
 * using file = await haOpen(path, { read: true }, (failed, h) => {
 *   return h.giveUp ? false : haReopen(failed);
 * }, h);
 * file.raw.close(); // a stale handle
 * await assert.rejects(file.read(new Uint8Array(8)), Deno.errors.BadResource); // gave up
 * h.giveUp = false;
 * assert.equal(await file.read(new Uint8Array(8)), null); // recovered
 * await Deno.remove(path);
 * ```
 */
export type RecoveryResult<T> = boolean | T;

/**
 * A recovery function (QNX `RFp`): called with the object whose operation failed and the
 * handle registered with it. It re-establishes the connection (for example with
 * `reconnect(failed)` or `haReopen(failed)`), rebuilds the state the server lost, and
 * answers whether it succeeded; the library then re-issues the failed operation.
 * Operations on `failed` inside it run once, without recovery (to replay a handshake).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type HaFile, haOpen, haReopen } from "./ha_file.ts";
 * import type { RecoveryFn } from "./recovery_core.ts";
 *
 * type Saved = { offset: number };
 * const resume: RecoveryFn<HaFile<Saved>, Saved> = async (failed, saved) => {
 *   await haReopen(failed);
 *   await failed.seek(saved.offset, Deno.SeekMode.Start);
 *   return failed;
 * };
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, "abcdef");
 * const saved = { offset: 0 };
 * using file = await haOpen(path, { read: true }, resume, saved);
 * saved.offset += (await file.read(new Uint8Array(2))) ?? 0;
 * file.raw.close(); // a stale handle
 * const buf = new Uint8Array(4);
 * await file.read(buf);
 * assert.equal(new TextDecoder().decode(buf), "cdef");
 * await Deno.remove(path);
 * ```
 */
export type RecoveryFn<T, H> = (
  failed: T,
  handle: H,
) => RecoveryResult<T> | Promise<RecoveryResult<T>>;

/**
 * `ha_attach` flag: replace the recovery function of an attached connection (the same as
 * `{ replace: true }`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { haAttach } from "./covers.ts";
 * import { haOpen, haReopen } from "./ha_file.ts";
 * import { HAREPLACERECOVERYFN } from "./recovery_core.ts";
 *
 * const path = await Deno.makeTempFile();
 * using file = await haOpen(path, { read: true }, () => false, null);
 * haAttach(file, (failed) => haReopen(failed), null, { flags: HAREPLACERECOVERYFN });
 * file.raw.close(); // a stale handle: the new function recovers it
 * assert.equal(await file.read(new Uint8Array(8)), null);
 * await Deno.remove(path);
 * ```
 */
export const HAREPLACERECOVERYFN = 0x0001;
/**
 * Control command: limit the recoveries over the connection's life (negative = unlimited).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { haOpen, haReopen } from "./ha_file.ts";
 * import { HA_RECOVERY_ACOUNT } from "./recovery_core.ts";
 *
 * const path = await Deno.makeTempFile();
 * using file = await haOpen(path, { read: true }, (failed) => haReopen(failed), null);
 * file.control(HA_RECOVERY_ACOUNT, 1); // recover once in this file's life
 * file.raw.close();
 * assert.equal(await file.read(new Uint8Array(8)), null); // recovered
 * file.raw.close();
 * await assert.rejects(file.read(new Uint8Array(8)), Deno.errors.BadResource); // no more
 * await Deno.remove(path);
 * ```
 */
export const HA_RECOVERY_ACOUNT = 0x0001;
/**
 * Control command: limit the recovery attempts for one failure (negative = unlimited): a
 * failing operation calls the recovery function at most this many times (a re-issued
 * operation that fails again counts as a further attempt), then the error surfaces.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { haOpen } from "./ha_file.ts";
 * import { HA_RECOVERY_ICOUNT } from "./recovery_core.ts";
 *
 * const path = await Deno.makeTempFile();
 * const h = { calls: 0 };
 * // A recovery function that reports success but cannot mend anything (the server is
 * // not back): each re-issued read fails again.
 * using file = await haOpen(path, { read: true }, (_failed, h) => {
 *   h.calls++;
 *   return true;
 * }, h);
 * file.control(HA_RECOVERY_ICOUNT, 3);
 * file.raw.close();
 * await assert.rejects(file.read(new Uint8Array(8)), Deno.errors.BadResource);
 * assert.equal(h.calls, 3); // three attempts, then the error surfaced
 * assert.equal(file.stats.icount, 0); // counted afresh for the next failure
 * await Deno.remove(path);
 * ```
 */
export const HA_RECOVERY_ICOUNT = 0x0002;
/**
 * Control command: suspend recovery; the connection behaves like a plain one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { haOpen, haReopen } from "./ha_file.ts";
 * import { HA_RECOVERY_SUSPEND } from "./recovery_core.ts";
 *
 * const path = await Deno.makeTempFile();
 * using file = await haOpen(path, { read: true }, (failed) => haReopen(failed), null);
 * file.control(HA_RECOVERY_SUSPEND);
 * assert.ok(file.stats.suspended);
 * file.raw.close();
 * await assert.rejects(file.read(new Uint8Array(8)), Deno.errors.BadResource);
 * await Deno.remove(path);
 * ```
 */
export const HA_RECOVERY_SUSPEND = 0x0003;
/**
 * Control command: enable recovery again, other settings untouched.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { haOpen, haReopen } from "./ha_file.ts";
 * import { HA_RECOVERY_ENABLE, HA_RECOVERY_ICOUNT, HA_RECOVERY_SUSPEND } from "./recovery_core.ts";
 *
 * const path = await Deno.makeTempFile();
 * using file = await haOpen(path, { read: true }, (failed) => haReopen(failed), null);
 * file.control(HA_RECOVERY_ICOUNT, 2);
 * file.control(HA_RECOVERY_SUSPEND);
 * file.control(HA_RECOVERY_ENABLE);
 * assert.deepEqual([file.stats.suspended, file.stats.icountLimit], [false, 2]);
 * file.raw.close();
 * assert.equal(await file.read(new Uint8Array(8)), null); // recovered again
 * await Deno.remove(path);
 * ```
 */
export const HA_RECOVERY_ENABLE = 0x0004;
/**
 * Control command: zero the attempts counted for the current failure. A recovery
 * function that made progress can use it so that the `HA_RECOVERY_ICOUNT` limit counts
 * only the attempts since.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { haOpen } from "./ha_file.ts";
 * import { HA_RECOVERY_ICOUNT, HA_RECOVERY_RESET_ICOUNT } from "./recovery_core.ts";
 *
 * const path = await Deno.makeTempFile();
 * const seen: number[] = [];
 * // Never mends the file; on its first call it resets the count once (as after progress).
 * using file = await haOpen(path, { read: true }, (failed) => {
 *   seen.push(failed.stats.icount);
 *   if (seen.length === 1) failed.control(HA_RECOVERY_RESET_ICOUNT);
 *   return true;
 * }, null);
 * file.control(HA_RECOVERY_ICOUNT, 2);
 * file.raw.close();
 * await assert.rejects(file.read(new Uint8Array(8)), Deno.errors.BadResource);
 * assert.deepEqual(seen, [1, 1, 2]); // three calls where the limit alone allows two
 * await Deno.remove(path);
 * ```
 */
export const HA_RECOVERY_RESET_ICOUNT = 0x0005;
/**
 * Control command: zero the recoveries counted over the connection's life, which gives
 * an `HA_RECOVERY_ACOUNT` limit its full budget again.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { haOpen, haReopen } from "./ha_file.ts";
 * import { HA_RECOVERY_ACOUNT, HA_RECOVERY_RESET_ACOUNT } from "./recovery_core.ts";
 *
 * const path = await Deno.makeTempFile();
 * using file = await haOpen(path, { read: true }, (failed) => haReopen(failed), null);
 * file.control(HA_RECOVERY_ACOUNT, 1);
 * file.raw.close();
 * await file.read(new Uint8Array(8)); // recovered: the one recovery is used up
 * assert.equal(file.stats.acount, 1);
 * file.control(HA_RECOVERY_RESET_ACOUNT);
 * assert.equal(file.stats.acount, 0);
 * file.raw.close();
 * assert.equal(await file.read(new Uint8Array(8)), null); // recovered once more
 * await Deno.remove(path);
 * ```
 */
export const HA_RECOVERY_RESET_ACOUNT = 0x0006;

/**
 * A command of `ha_connection_ctrl`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { haOpen, haReopen } from "./ha_file.ts";
 * import { HA_RECOVERY_ACOUNT, HA_RECOVERY_ICOUNT, type RecoveryCommand } from "./recovery_core.ts";
 *
 * // A recovery policy kept as data, applied to each new HA object.
 * const policy: [RecoveryCommand, number][] = [[HA_RECOVERY_ICOUNT, 3], [HA_RECOVERY_ACOUNT, 100]];
 * const path = await Deno.makeTempFile();
 * using file = await haOpen(path, { read: true }, (failed) => haReopen(failed), null);
 * for (const [command, value] of policy) file.control(command, value);
 * assert.deepEqual([file.stats.icountLimit, file.stats.acountLimit], [3, 100]);
 * assert.throws(() => file.control(99 as RecoveryCommand), { code: "EINVAL" });
 * await Deno.remove(path);
 * ```
 */
export type RecoveryCommand =
  | typeof HA_RECOVERY_ACOUNT
  | typeof HA_RECOVERY_ICOUNT
  | typeof HA_RECOVERY_SUSPEND
  | typeof HA_RECOVERY_ENABLE
  | typeof HA_RECOVERY_RESET_ICOUNT
  | typeof HA_RECOVERY_RESET_ACOUNT;

/**
 * The counters and settings of a connection's recovery, shared by its dups.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { haOpen, haReopen } from "./ha_file.ts";
 * import type { RecoveryStats } from "./recovery_core.ts";
 *
 * const path = await Deno.makeTempFile();
 * const h = { fail: false };
 * using file = await haOpen(path, { read: true }, (failed, h) => {
 *   if (h.fail) throw new Error("the server is gone for good");
 *   return haReopen(failed);
 * }, h);
 * file.raw.close();
 * await file.read(new Uint8Array(8)); // recovered
 * h.fail = true;
 * file.raw.close();
 * await file.read(new Uint8Array(8)).catch(() => {}); // the recovery function threw
 * const stats: RecoveryStats = file.stats;
 * assert.equal(stats.acount, 2);
 * assert.equal(stats.icount, 0);
 * assert.equal((stats.lastRecoveryError as Error).message, "the server is gone for good");
 * await Deno.remove(path);
 * ```
 */
export interface RecoveryStats {
  /** Recovery function calls over the connection's life (ACOUNT counter). */
  acount: number;
  /**
   * Recovery function calls for the failure being handled (ICOUNT counter); back to 0 when
   * an operation succeeds or the error surfaces.
   */
  icount: number;
  /** Limit on `acount`; -1 = unlimited. @default {-1} */
  acountLimit: number;
  /** Limit on `icount`; -1 = unlimited. @default {-1} */
  icountLimit: number;
  /** True while recovery is suspended. */
  suspended: boolean;
  /** What the last recovery function that gave up by throwing threw, if any. */
  lastRecoveryError: unknown;
}

/** A recovery function's run: of which core, and whether it has finished. */
interface RecoveryRun {
  core: object;
  done: boolean;
}

/**
 * The runs of recovery functions that the current async context is inside. A task the
 * recovery function started (a reader loop restarted) keeps this context after the run
 * has finished: `done` tells it that its ops recover again.
 */
const recovering = new AsyncLocalStorage<readonly RecoveryRun[]>();

/**
 * The shared recovery state of an HA object and its dups. `U` is the underlying resource
 * (`Deno.Conn`, `Deno.FsFile`), `T` the wrapper handed to the recovery function, `H` the
 * recovery handle. {@linkcode HaConn} and {@linkcode HaFile} are built on it; it is
 * exported for reading its type (`stats`), and can drive recovery of other resources.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RecoveryCore } from "./recovery_core.ts";
 *
 * // A link to a server that died: its first use fails as a dead server's would.
 * type Link = { alive: boolean };
 * const core = new RecoveryCore<Link, "owner", null>({ alive: false }, () => {
 *   core.swap({ alive: true }); // the recovery function puts a new link in place
 *   return true;
 * }, null, () => false);
 * const answer = await core.run("owner", () => true, (link) => {
 *   if (!link.alive) return Promise.reject(new Deno.errors.BrokenPipe("server died"));
 *   return Promise.resolve("answered");
 * });
 * assert.equal(answer, "answered");
 * assert.equal(core.stats.acount, 1);
 * ```
 */
export class RecoveryCore<U, T, H> {
  /** The recovery function, or null when none was ever attached. */
  fn: RecoveryFn<T, H> | null;
  /** The handle passed to the recovery function. */
  handle: H;
  #resource: U;
  #generation = 0;
  #refs = 1;
  #inflight: Promise<boolean> | null = null;
  #owns: (value: unknown) => boolean;
  #stats: RecoveryStats = {
    acount: 0,
    icount: 0,
    acountLimit: -1,
    icountLimit: -1,
    suspended: false,
    lastRecoveryError: undefined,
  };

  #pause: (ms: number) => Promise<void>;

  /**
   * `owns(value)` tells whether a recovery function's answer is one of this core's wrappers;
   * `pause(ms)` waits between two recoveries of one op (a timer unless a test gives its own).
   */
  constructor(
    resource: U,
    fn: RecoveryFn<T, H> | null,
    handle: H,
    owns: (v: unknown) => boolean,
    pause: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {
    this.#resource = resource;
    this.fn = fn;
    this.handle = handle;
    this.#owns = owns;
    this.#pause = pause;
  }

  /** The current underlying resource. */
  get resource(): U {
    return this.#resource;
  }

  /** A copy of the counters and settings. */
  get stats(): RecoveryStats {
    return { ...this.#stats };
  }

  /** Puts `next` in place of the underlying resource and answers the old one. */
  swap(next: U): U {
    const old = this.#resource;
    this.#resource = next;
    this.#generation++;
    return old;
  }

  /** One more wrapper shares this core (a dup). */
  retain(): void {
    this.#refs++;
  }

  /** True once every wrapper was closed (the resource is closed). */
  get released(): boolean {
    return this.#refs === 0;
  }

  /** One wrapper fewer; true when it was the last, so the resource must be closed. */
  release(): boolean {
    return --this.#refs === 0;
  }

  /** Carries out an `ha_connection_ctrl` command; EINVAL on an unknown command or bad limit. */
  control(command: RecoveryCommand, value?: number): void {
    const s = this.#stats;
    switch (command) {
      case HA_RECOVERY_ACOUNT:
        s.acountLimit = limitOf(value);
        return;
      case HA_RECOVERY_ICOUNT:
        s.icountLimit = limitOf(value);
        return;
      case HA_RECOVERY_SUSPEND:
        s.suspended = true;
        return;
      case HA_RECOVERY_ENABLE:
        s.suspended = false;
        return;
      case HA_RECOVERY_RESET_ICOUNT:
        s.icount = 0;
        return;
      case HA_RECOVERY_RESET_ACOUNT:
        s.acount = 0;
        return;
      default:
        throw new HamError("EINVAL", `Cannot control recovery: unknown command ${command}`);
    }
  }

  /**
   * Runs `op` on the current resource; when it fails with a dead-server error (or, with
   * `eof`, answers a value `eof` calls an end of input), recovers and re-issues it.
   *
   * One recovery runs at a time: ops that fail while it runs (including ops pending on the
   * resource it replaced, which fail with Interrupted) wait for it to finish and share its
   * verdict, then are re-issued, after anything the recovery function replayed. An op
   * issued from inside this core's own recovery function while it runs is run once,
   * plainly, so a recovery function can replay a handshake through the object, but must not
   * wait for an op issued outside it on the same object (a task it starts, such as a reader
   * loop, recovers again once the recovery function has finished). When recovery is not
   * possible or gives up, the original error (or EOF value) surfaces. `waiting` wraps the
   * wait for a recovery: when it answers null (the caller's object was closed meanwhile),
   * the op ends with Interrupted, as an op pending on a closed resource does. An op
   * re-issued after a recovery is re-issued at once; after a second recovery of it, only
   * after a pause of 1 ms, then 2, 4 ... up to `haRecoveryPauseMaxMs`: a recovery function
   * that answers true without repairing anything (the default ICOUNT has no limit) would
   * otherwise re-issue it in a loop of microtasks that never lets a timer or an I/O
   * callback of its process run.
   */
  async run<R>(
    owner: T,
    mayRecover: () => boolean,
    op: (resource: U) => Promise<R>,
    eof?: (value: R) => boolean,
    waiting: (recovery: Promise<boolean>) => Promise<boolean | null> = (p) => p,
  ): Promise<R> {
    if (recovering.getStore()?.some((r) => r.core === this && !r.done)) {
      return await op(this.#resource);
    }
    let recoveries = 0;
    for (;;) {
      const generation = this.#generation;
      let failure: unknown;
      let ended: { value: R } | null = null;
      try {
        const value = await op(this.#resource);
        if (!eof?.(value)) {
          this.#stats.icount = 0;
          return value;
        }
        ended = { value };
        failure = serverEof("the connection");
      } catch (err) {
        failure = err;
      }
      const stale = generation !== this.#generation;
      const dead = isDeadServerError(failure) ||
        (stale && failure instanceof Deno.errors.Interrupted);
      if (dead && mayRecover() && !this.#stats.suspended && this.fn) {
        // Stale: the resource was replaced meanwhile; re-issue on the new one once the
        // recovery that replaced it (if one runs) is done, so replays go first.
        if (stale && !this.#inflight) continue;
        const recovered = await waiting(this.#recover(owner));
        if (recovered === null) {
          throw new Deno.errors.Interrupted(
            "Cannot finish the operation: the object was closed while it was being recovered",
            { cause: failure },
          );
        }
        if (recovered) {
          if (++recoveries > 1) {
            await this.#pause(Math.min(2 ** (recoveries - 2), DEFAULTS.haRecoveryPauseMaxMs));
          }
          continue;
        }
      }
      // The error surfaces: the failure is over, and the next one counts its attempts
      // afresh (unless a recovery for another op is under way).
      if (!this.#inflight) this.#stats.icount = 0;
      if (ended) return ended.value;
      throw failure;
    }
  }

  /** One recovery at a time: ops that fail meanwhile wait for it and share its verdict. */
  #recover(owner: T): Promise<boolean> {
    this.#inflight ??= this.#attempt(owner).finally(() => (this.#inflight = null));
    return this.#inflight;
  }

  async #attempt(owner: T): Promise<boolean> {
    const s = this.#stats;
    const fn = this.fn;
    if (!fn || (s.acountLimit >= 0 && s.acount >= s.acountLimit)) return false;
    if (s.icountLimit >= 0 && s.icount >= s.icountLimit) {
      s.icount = 0;
      return false;
    }
    s.acount++;
    s.icount++;
    const run: RecoveryRun = { core: this, done: false };
    const stack = [...(recovering.getStore() ?? []).filter((r) => !r.done), run];
    try {
      const answer = await recovering.run(stack, () => fn(owner, this.handle));
      if (answer === true || (answer !== false && this.#owns(answer))) return true;
      if (answer !== false) {
        s.lastRecoveryError = new HamError(
          "EBADF",
          "Cannot recover: the recovery function answered another object than the failed one",
        );
      }
    } catch (err) {
      s.lastRecoveryError = err;
    } finally {
      run.done = true;
    }
    s.icount = 0;
    return false;
  }
}

function limitOf(value: number | undefined): number {
  if (value === undefined || value < 0) return -1;
  if (!Number.isSafeInteger(value)) {
    throw new HamError("EINVAL", `Cannot set a recovery limit to ${value}: not an integer`);
  }
  return value;
}
