/**
 * The part every HA object has, whatever it wraps: it stays the same object for the caller
 * while the resource under it is replaced by recovery; attaching, replacing and detaching
 * the recovery function; per-connection control; dups that share the recovery state and
 * the resource, reference-counted; close.
 *
 * @module
 */

import { HamError } from "../core/errors.ts";
import { notHaAware } from "./errors.ts";
import {
  HAREPLACERECOVERYFN,
  type RecoveryCommand,
  RecoveryCore,
  type RecoveryFn,
  type RecoveryStats,
} from "./recovery_core.ts";

/**
 * Options of attaching a recovery function (`ha_attach` flags).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { haOpen, haReopen } from "./ha_file.ts";
 * import { HAREPLACERECOVERYFN } from "./recovery_core.ts";
 *
 * const path = await Deno.makeTempFile();
 * using file = await haOpen(path, { read: true }, () => false, null);
 * // One recovery function at a time: attaching another is EEXIST unless it replaces.
 * assert.throws(() => file.attach((failed) => haReopen(failed), null), { code: "EEXIST" });
 * file.attach((failed) => haReopen(failed), null, { replace: true });
 * file.attach((failed) => haReopen(failed), null, { flags: HAREPLACERECOVERYFN }); // the same
 * file.raw.close(); // a stale handle: the replacement recovers it
 * assert.equal(await file.read(new Uint8Array(8)), null);
 * await Deno.remove(path);
 * ```
 */
export interface HaAttachOptions {
  /** Replace the recovery function of an attached object (HAREPLACERECOVERYFN). @default {false} */
  replace?: boolean;
  /** QNX-style flags; `HAREPLACERECOVERYFN` is the same as `replace: true`. @default {0} */
  flags?: number;
}

/**
 * An HA-aware object wrapping a resource `U` (a `Deno.Conn`, a `Deno.FsFile`): `T` is the
 * concrete wrapper class, `H` the recovery handle. Dups share one {@linkcode RecoveryCore}.
 * What {@linkcode HaConn} and {@linkcode HaFile} have in common: `raw`, `attached`,
 * `closed`, `stats`, `attach`, `detach`, `control`, `adopt`, `close`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { haOpen } from "./ha_file.ts";
 * import { Recoverable } from "./recoverable.ts";
 *
 * // Works on any HA object: how often has it recovered?
 * function recoveries<U, T, H>(obj: Recoverable<U, T, H>): number {
 *   return obj.stats.acount;
 * }
 * const path = await Deno.makeTempFile();
 * // A recovery function that builds the new resource itself and adopts it.
 * using file = await haOpen(path, { read: true }, async (failed) => {
 *   failed.adopt(await Deno.open(path, { read: true }));
 *   return true;
 * }, null);
 * assert.ok(file instanceof Recoverable);
 * file.raw.close(); // a stale handle
 * assert.equal(await file.read(new Uint8Array(8)), null);
 * assert.equal(recoveries(file), 1);
 * await Deno.remove(path);
 * ```
 */
export abstract class Recoverable<U, T, H> implements Disposable {
  #core: RecoveryCore<U, T, H>;
  #attached: boolean;
  #closed = false;
  /** Ends the waits of this object's ops for a recovery, when it is closed. */
  #waits = new Set<(closed: null) => void>();

  /** Wraps `core`, which this object now holds a reference on. */
  protected constructor(core: RecoveryCore<U, T, H>, attached: boolean) {
    this.#core = core;
    this.#attached = attached;
  }

  /**
   * Makes a new core around `resource`, whose recovery accepts as "the same object" any
   * wrapper built on that core.
   */
  protected static newCore<U, T, H>(
    resource: U,
    fn: RecoveryFn<T, H> | null,
    handle: H,
  ): RecoveryCore<U, T, H> {
    const core: RecoveryCore<U, T, H> = new RecoveryCore(resource, fn, handle, (v) => {
      return v instanceof Recoverable && v.#core === core;
    });
    return core;
  }

  /** Closes an underlying resource. */
  protected abstract closeResource(resource: U): void;

  /**
   * The current underlying resource. It changes when recovery replaces it: use it at
   * once (for example, to replay a handshake inside a recovery function), do not keep it.
   */
  get raw(): U {
    return this.#core.resource;
  }

  /** True while a recovery function is attached to this object (not detached or closed). */
  get attached(): boolean {
    return this.#attached && !this.#closed;
  }

  /** True once this object was closed (its dups may still be open). */
  get closed(): boolean {
    return this.#closed;
  }

  /** The recovery counters and settings, shared with the dups. */
  get stats(): RecoveryStats {
    return this.#core.stats;
  }

  /**
   * Attaches a recovery function (`ha_attach`), or replaces the attached one with
   * `{ replace: true }` (HAREPLACERECOVERYFN). The function and handle are shared with the
   * dups: replacing it on one replaces it for all. EEXIST when one is attached and
   * `replace` is not set; EBADF when `replace` is set and none is attached, or when closed.
   */
  attach(fn: RecoveryFn<T, H>, handle: H, opts: HaAttachOptions = {}): this {
    const replace = opts.replace === true || ((opts.flags ?? 0) & HAREPLACERECOVERYFN) !== 0;
    if (this.#closed) throw notHaAware("attach a recovery function", "the object is closed");
    if (replace && !this.#attached) {
      throw notHaAware("replace the recovery function", "none is attached");
    }
    if (!replace && this.#attached) {
      throw new HamError(
        "EEXIST",
        "Cannot attach a recovery function: one is attached (replace it with HAREPLACERECOVERYFN)",
      );
    }
    this.#core.fn = fn;
    this.#core.handle = handle;
    this.#attached = true;
    return this;
  }

  /**
   * Detaches this object from recovery (`ha_detach`): from now on it behaves like a plain
   * connection. Its dups keep theirs. EBADF when not attached.
   */
  detach(): void {
    if (!this.attached) throw notHaAware("detach", "the object is not HA-aware");
    this.#attached = false;
  }

  /**
   * Per-connection recovery control (`ha_connection_ctrl`): `HA_RECOVERY_ACOUNT` /
   * `HA_RECOVERY_ICOUNT` with a limit (negative or undefined = unlimited),
   * `HA_RECOVERY_SUSPEND`, `HA_RECOVERY_ENABLE`, `HA_RECOVERY_RESET_ICOUNT`,
   * `HA_RECOVERY_RESET_ACOUNT`. The settings are shared with the dups. EBADF when this
   * object is not attached; EINVAL on an unknown command or a limit that is not an integer.
   */
  control(command: RecoveryCommand, value?: number): void {
    if (!this.attached) throw notHaAware("control recovery", "the object is not HA-aware");
    this.#core.control(command, value);
  }

  /**
   * Puts `next` under this object and its dups in place of the current resource, then
   * closes the old one (the `dup2()` step of `ha_reopen`). Operations pending on the old
   * resource are re-issued on the new one. For recovery functions that build the new
   * resource themselves. Once this object and all its dups are closed, `next` is closed
   * and BadResource thrown.
   */
  adopt(next: U): void {
    // Closed, but a dup may still use the resource: the recovery is for it.
    if (this.#core.released) {
      this.closeResource(next);
      throw new Deno.errors.BadResource("Cannot adopt a resource: the object is closed");
    }
    const old = this.#core.swap(next);
    this.#closeQuietly(old);
  }

  /**
   * Closes this object (`ha_close`: detach, then close). The underlying resource is closed
   * when the last dup is. Its operations waiting for a recovery end at once with
   * Interrupted (the recovery function itself runs on). Throws BadResource when already
   * closed.
   */
  close(): void {
    if (this.#closed) throw new Deno.errors.BadResource("Cannot close: already closed");
    this.#closed = true;
    this.#attached = false;
    for (const end of this.#waits) end(null);
    this.#waits.clear();
    if (this.#core.release()) this.#closeQuietly(this.#core.resource);
  }

  /** Closes this object unless it is closed already. */
  [Symbol.dispose](): void {
    if (!this.#closed) this.close();
  }

  /** Runs `op` with recovery (see {@linkcode RecoveryCore.run}). */
  protected run<R>(op: (resource: U) => Promise<R>, eof?: (value: R) => boolean): Promise<R> {
    if (this.#closed) {
      return Promise.reject(new Deno.errors.BadResource("Cannot use the object: it is closed"));
    }
    return this.#core.run(this as unknown as T, () => this.attached, op, eof, (recovery) => {
      if (this.#closed) return Promise.resolve(null);
      const { promise, resolve } = Promise.withResolvers<null>();
      this.#waits.add(resolve);
      return Promise.race([recovery, promise]).finally(() => this.#waits.delete(resolve));
    });
  }

  /** The core, with one more reference, for a new dup. EBADF when not attached. */
  protected shareCore(): RecoveryCore<U, T, H> {
    if (!this.attached) throw notHaAware("dup", "the object is not HA-aware");
    this.#core.retain();
    return this.#core;
  }

  #closeQuietly(resource: U): void {
    try {
      this.closeResource(resource);
    } catch (err) {
      // A resource that is already gone (closed behind our back, a dead handle) is closed.
      if (!(err instanceof Deno.errors.BadResource)) throw err;
    }
  }
}
