/**
 * An HA open file (QNX `ha_open`, `ha_creat`, `ha_fopen`, `ha_reopen`): a
 * {@linkcode HaFile} wraps a `Deno.FsFile` and stays the same object for the caller while
 * recovery reopens the file under it, for files served by a server that can die and be
 * restarted (a FUSE or NFS server, whose restart leaves stale handles).
 *
 * @module
 */

import { HamError } from "../core/errors.ts";
import { Recoverable } from "./recoverable.ts";
import type { RecoveryCore, RecoveryFn } from "./recovery_core.ts";
import { recoveringReadable, recoveringWritable, writeAllWith } from "./streams.ts";

/**
 * An `fopen` mode: `r`, `w`, `a`, each optionally with `+`, and optionally with `b`
 * before or after the `+` (`rb`, `wb`, `r+b`, `rb+`, ...). As on POSIX, `b` changes
 * nothing: files are bytes.
 *
 * | mode | opens for | creates | truncates |
 * |---|---|---|---|
 * | `r` | reading | no | no |
 * | `r+` | reading and writing | no | no |
 * | `w` | writing | yes | yes |
 * | `w+` | reading and writing | yes | yes |
 * | `a` | appending | yes | no |
 * | `a+` | reading and appending | yes | no |
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type FopenMode, haFopen, haReopen } from "./ha_file.ts";
 *
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, "abc");
 * const mode: FopenMode = "rb+"; // the same as "r+": read and write, no truncation
 * using file = await haFopen(path, mode, (failed) => haReopen(failed), null);
 * await file.writeAll(new TextEncoder().encode("X"));
 * assert.equal(await Deno.readTextFile(path), "Xbc");
 * await Deno.remove(path);
 * ```
 */
export type FopenMode =
  | "r"
  | "r+"
  | "w"
  | "w+"
  | "a"
  | "a+"
  | "rb"
  | "wb"
  | "ab"
  | "r+b"
  | "rb+"
  | "w+b"
  | "wb+"
  | "a+b"
  | "ab+";

/** An `fopen` mode without `b`. */
type TextMode = Exclude<FopenMode, `${string}b${string}`>;

const FOPEN_MODES: Record<TextMode, Deno.OpenOptions> = {
  "r": { read: true },
  "r+": { read: true, write: true },
  "w": { write: true, create: true, truncate: true },
  "w+": { read: true, write: true, create: true, truncate: true },
  "a": { append: true, create: true },
  "a+": { read: true, append: true, create: true },
};

/**
 * An HA-aware open file. Dups share the file, and so its offset, as `dup()` does. What
 * happens to bytes in flight is as for `HaConn`: a failed `write` or `writeAll` is
 * re-issued in full after recovery, at the offset the recovery function restored; reads
 * are never duplicated by the library. A `seek` relative to the current offset that
 * fails is re-issued relative to the offset after recovery.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { haOpen, haReopen } from "./ha_file.ts";
 *
 * // libha's own example: the recovery function reopens the file and seeks to the offset
 * // the reader saved; the reading loop never sees the failure.
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, "0123456789");
 * const h = { offset: 0, recoveries: 0 };
 * using file = await haOpen(path, { read: true }, async (failed, h) => {
 *   await haReopen(failed);
 *   await failed.seek(h.offset, Deno.SeekMode.Start);
 *   h.recoveries++;
 *   return true;
 * }, h);
 * const buf = new Uint8Array(4);
 * let text = "";
 * for (let n; (n = await file.read(buf)) !== null;) {
 *   text += new TextDecoder().decode(buf.subarray(0, n));
 *   h.offset += n;
 *   if (h.offset === 4) file.raw.close(); // the file server restarts: a stale handle
 * }
 * assert.equal(text, "0123456789"); // every byte once
 * assert.equal(h.recoveries, 1);
 * await Deno.remove(path);
 * ```
 */
export class HaFile<H = unknown> extends Recoverable<Deno.FsFile, HaFile<H>, H> {
  #shared: { path: string; options: Deno.OpenOptions };
  #readable: ReadableStream<Uint8Array<ArrayBuffer>> | null = null;
  #writable: WritableStream<Uint8Array> | null = null;

  private constructor(
    core: RecoveryCore<Deno.FsFile, HaFile<H>, H>,
    shared: { path: string; options: Deno.OpenOptions },
    attached: boolean,
  ) {
    super(core, attached);
    this.#shared = shared;
  }

  /**
   * Wraps `file`, opened from `path` with `options`. Reopening uses the same options
   * without `truncate` and `createNew`, and without `create` unless `append` is set (a
   * file written at offsets that was removed is not made again, empty). With a null
   * `recover`, the object is not HA-aware until a recovery function is attached.
   */
  static wrap<H>(
    file: Deno.FsFile,
    path: string,
    options: Deno.OpenOptions,
    recover: RecoveryFn<HaFile<H>, H> | null,
    handle: H,
  ): HaFile<H> {
    const core = HaFile.newCore<Deno.FsFile, HaFile<H>, H>(file, recover, handle);
    return new HaFile(core, { path, options: reopenable(options) }, recover !== null);
  }

  /** The path {@linkcode haReopen} opens by default. */
  get path(): string {
    return this.#shared.path;
  }

  /** The options {@linkcode haReopen} opens with by default. */
  get reopenOptions(): Deno.OpenOptions {
    return { ...this.#shared.options };
  }

  /** Reads into `p` at the current offset; answers the byte count, or null at EOF. Recovers. */
  read(p: Uint8Array): Promise<number | null> {
    return this.run((f) => f.read(p));
  }

  /** Writes from `p` with one write call; answers the byte count. Recovers and re-issues. */
  write(p: Uint8Array): Promise<number> {
    return this.run((f) => f.write(p));
  }

  /** Writes all of `p`. On failure, after recovery, all of `p` is written again. */
  writeAll(p: Uint8Array): Promise<void> {
    return this.run((f) => writeAllWith((b) => f.write(b), p));
  }

  /** Moves the offset; answers the new one. Recovers and re-issues. */
  seek(offset: number | bigint, whence: Deno.SeekMode): Promise<number> {
    return this.run((f) => f.seek(offset, whence));
  }

  /** The file's metadata. Recovers. */
  stat(): Promise<Deno.FileInfo> {
    return this.run((f) => f.stat());
  }

  /** Flushes the file's data and metadata to storage. Recovers. */
  sync(): Promise<void> {
    return this.run((f) => f.sync());
  }

  /** Truncates or extends the file to `len` bytes (default 0). Recovers. */
  truncate(len?: number): Promise<void> {
    return this.run((f) => f.truncate(len));
  }

  /**
   * A stream of the file from the current offset, with recovery (one per object, made on
   * first use). Cancelling it does not close the file.
   */
  get readable(): ReadableStream<Uint8Array<ArrayBuffer>> {
    return this.#readable ??= recoveringReadable((p) => this.read(p));
  }

  /**
   * A sink that writes each chunk with a recovering `writeAll`. Closing or aborting it
   * closes this object. One per object, made on first use.
   */
  get writable(): WritableStream<Uint8Array> {
    return this.#writable ??= recoveringWritable(
      (p) => this.writeAll(p),
      () => this[Symbol.dispose](),
      () => this[Symbol.dispose](),
    );
  }

  /**
   * A dup (`ha_dup`): another object on the same open file and offset, sharing the
   * recovery function, handle, counters and limits. Closing one does not close the other.
   * EBADF when this object is not HA-aware.
   */
  dup(): HaFile<H> {
    return new HaFile(this.shareCore(), this.#shared, true);
  }

  /**
   * Opens the file again (`ha_reopen`), for use inside a recovery function: opens `path`
   * with `options` (by default the path and options of the object, which are kept for
   * later reopens as {@linkcode HaFile.wrap} keeps them: a later recovery must not empty
   * the file again), puts the new file under this object and its dups, closes the old one,
   * and answers this same object. The new file's offset is 0: seek to the saved offset.
   */
  async reopen(path = this.#shared.path, options = this.#shared.options): Promise<this> {
    const file = await Deno.open(path, options);
    this.adopt(file);
    this.#shared.path = path;
    this.#shared.options = reopenable(options);
    return this;
  }

  /** Closes an underlying file. */
  protected closeResource(file: Deno.FsFile): void {
    file.close();
  }
}

/**
 * `options` for opening a file again: without truncating it or requiring it to be new, and
 * creating it only when it is only appended to. A file written at offsets that is gone
 * would come back as zeros up to the saved offset, and then the new bytes: its recovery
 * fails (ENOENT) instead. A log is created again, as after a rotation.
 */
function reopenable(options: Deno.OpenOptions): Deno.OpenOptions {
  const create = (options.create === true || options.createNew === true) &&
    options.append === true;
  return { ...options, create, truncate: false, createNew: false };
}

/**
 * Opens a file with a recovery function (`ha_open`).
 *
 * @example
 * ```ts
 * import { haOpen, haReopen } from "./ha_file.ts";
 *
 * // The documented libha example: recovery reopens and seeks to the saved offset.
 * export async function readAll(path: string): Promise<number> {
 *   const h = { recoveries: 0, offset: 0 };
 *   using file = await haOpen(path, { read: true }, async (failed, h) => {
 *     await haReopen(failed);
 *     await failed.raw.seek(h.offset, Deno.SeekMode.Start);
 *     h.recoveries++;
 *     return true;
 *   }, h);
 *   const buf = new Uint8Array(4096);
 *   for (let n; (n = await file.read(buf)) !== null;) h.offset += n;
 *   return h.offset;
 * }
 * ```
 */
export async function haOpen<H>(
  path: string,
  options: Deno.OpenOptions,
  recover: RecoveryFn<HaFile<H>, H>,
  handle: H,
): Promise<HaFile<H>> {
  const file = await Deno.open(path, options);
  return HaFile.wrap(file, path, options, recover, handle);
}

/**
 * Creates (or truncates) a file for writing with a recovery function (`ha_creat`).
 * Reopening it for recovery does not truncate it again.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { haCreate, haReopen } from "./ha_file.ts";
 *
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, "old contents");
 * const h = { written: 0 };
 * using out = await haCreate(path, async (failed, h) => {
 *   await haReopen(failed); // not truncated again
 *   await failed.seek(h.written, Deno.SeekMode.Start);
 *   return true;
 * }, h, { mode: 0o600 });
 * const write = async (text: string) => {
 *   const bytes = new TextEncoder().encode(text);
 *   await out.writeAll(bytes);
 *   h.written += bytes.length;
 * };
 * await write("first ");
 * out.raw.close(); // a stale handle
 * await write("second");
 * assert.equal(await Deno.readTextFile(path), "first second");
 * await Deno.remove(path);
 * ```
 */
export function haCreate<H>(
  path: string,
  recover: RecoveryFn<HaFile<H>, H>,
  handle: H,
  opts: { mode?: number } = {},
): Promise<HaFile<H>> {
  return haOpen(
    path,
    { write: true, create: true, truncate: true, mode: opts.mode },
    recover,
    handle,
  );
}

/**
 * Opens a file with an `fopen` mode (`r`, `w+`, `rb`, `r+b`, ...) and a recovery function
 * (`ha_fopen`); EINVAL on a bad mode.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type FopenMode, haFopen, haReopen } from "./ha_file.ts";
 *
 * const path = await Deno.makeTempFile();
 * // "a": every write goes to the end, also after a reopen, so no seek is needed.
 * using log = await haFopen(path, "a", (failed) => haReopen(failed), null);
 * await log.writeAll(new TextEncoder().encode("one\n"));
 * log.raw.close(); // a stale handle
 * await log.writeAll(new TextEncoder().encode("two\n"));
 * assert.equal(await Deno.readTextFile(path), "one\ntwo\n");
 * await assert.rejects(haFopen(path, "rw" as FopenMode, () => false, null), { code: "EINVAL" });
 * await Deno.remove(path);
 * ```
 */
export function haFopen<H>(
  path: string,
  mode: FopenMode,
  recover: RecoveryFn<HaFile<H>, H>,
  handle: H,
): Promise<HaFile<H>> {
  // `b` may come second or last (C11 7.21.5.3); it is dropped, as POSIX does.
  const text = /^[rwa]\+?b?$|^[rwa]b\+$/.test(mode) ? mode.replace("b", "") : "";
  const options = Object.hasOwn(FOPEN_MODES, text) ? FOPEN_MODES[text as TextMode] : undefined;
  if (!options) {
    return Promise.reject(new HamError("EINVAL", `Cannot open "${path}": bad mode "${mode}"`));
  }
  return haOpen(path, { ...options }, recover, handle);
}

/**
 * `failed.reopen(path, options)`: the `ha_reopen` form, for recovery functions. It
 * answers the same object, which is a valid answer of a recovery function. The new file's
 * offset is 0.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { haOpen, haReopen } from "./ha_file.ts";
 *
 * // The restarted server serves the data at a new path: reopen there (kept for later).
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/v1`, "old");
 * await Deno.writeTextFile(`${dir}/v2`, "new");
 * using file = await haOpen(`${dir}/v1`, { read: true }, (failed) => {
 *   return haReopen(failed, `${dir}/v2`, { read: true });
 * }, null);
 * file.raw.close(); // a stale handle
 * const buf = new Uint8Array(3);
 * await file.read(buf);
 * assert.equal(new TextDecoder().decode(buf), "new");
 * assert.equal(file.path, `${dir}/v2`);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function haReopen<H>(
  failed: HaFile<H>,
  path?: string,
  options?: Deno.OpenOptions,
): Promise<HaFile<H>> {
  return failed.reopen(path, options);
}
