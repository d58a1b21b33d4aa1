/**
 * Whole-file writes that are atomic, or atomic and durable (skalibs' `openwritenclose`
 * and its `_sync` variant).
 *
 * - {@linkcode writeFileAtomic} (and {@linkcode writeFileAtomicSync}): temp file in the same
 *   directory, then rename. Readers see the old content or the new one, never a mix; after a
 *   power cut either may be there.
 * - {@linkcode writeFileDurable}: temp file, fsync it, rename, fsync the directory. Once it
 *   resolves the new content survives a power cut.
 *
 * @module
 */

import { basename, dirname, join } from "../core/paths.ts";
import { HamError, toHamError } from "../core/errors.ts";

const encoder = new TextEncoder();
let tempCounter = 0;

/** The temporary name used while writing `path`: same directory, ends in `.tmp`. */
export function tempPathFor(path: string): string {
  tempCounter = (tempCounter + 1) % 1_000_000;
  // At most 100 bytes of the name, so that the temp name of a 255-byte name fits too (the
  // pid and counter keep it unique).
  let name = "";
  for (const ch of basename(path)) {
    if (encoder.encode(name + ch).length > 100) break;
    name += ch;
  }
  return join(dirname(path), `.${name}.${Deno.pid}-${tempCounter}.tmp`);
}

/**
 * Wraps a filesystem error as a {@linkcode HamError} with code ENOSPC (disk full) or EIO,
 * and a message like `Cannot append to journal "FILE": no space left on device`.
 *
 * @param action What failed, e.g. `Cannot write snapshot`.
 * @param path The file (or directory) involved.
 * @param err What was thrown.
 */
export function fileError(action: string, path: string, err: unknown): HamError {
  // A refusal (a planted symbolic link) says so as it is.
  if (err instanceof HamError && err.code === "EPERM") return err;
  const code = toHamError(err).code === "ENOSPC" ? "ENOSPC" : "EIO";
  const reason = code === "ENOSPC"
    ? "no space left on device"
    : err instanceof Error
    ? err.message
    : String(err);
  return new HamError(code, `${action} "${path}": ${reason}`, { cause: err });
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) {
    const n = await file.write(bytes.subarray(off));
    if (n <= 0) throw new Error(`short write at offset ${off}`);
    off += n;
  }
}

function toBytes(data: Uint8Array | string): Uint8Array {
  return typeof data === "string" ? encoder.encode(data) : data;
}

async function writeTemp(path: string, data: Uint8Array | string, sync: boolean): Promise<void> {
  const tmp = tempPathFor(path);
  try {
    const file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o644 });
    try {
      await writeAll(file, toBytes(data));
      if (sync) await file.sync();
    } finally {
      file.close();
    }
    await Deno.rename(tmp, path);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw fileError("Cannot write", path, err);
  }
}

/**
 * Replaces `path` atomically: writes a temp file in the same directory, then renames it.
 * Not durable: after a power cut the old content may come back.
 *
 * @throws {HamError} ENOSPC when the disk is full, EIO for other failures.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  await writeTemp(path, data, false);
}

/**
 * Synchronous {@linkcode writeFileAtomic}, for state written from a timer or on close that
 * must not interleave with other work.
 *
 * @throws {HamError} ENOSPC when the disk is full, EIO for other failures.
 */
export function writeFileAtomicSync(path: string, data: Uint8Array | string): void {
  const tmp = tempPathFor(path);
  try {
    Deno.writeFileSync(tmp, toBytes(data), { createNew: true, mode: 0o644 });
    Deno.renameSync(tmp, path);
  } catch (err) {
    try {
      Deno.removeSync(tmp);
    } catch { /* never created */ }
    throw fileError("Cannot write", path, err);
  }
}

/**
 * Replaces `path` atomically and durably: temp file, fsync, rename, fsync of the directory.
 * When it resolves, the new content survives a crash or a power cut.
 *
 * @throws {HamError} ENOSPC when the disk is full, EIO for other failures.
 */
export async function writeFileDurable(path: string, data: Uint8Array | string): Promise<void> {
  await writeTemp(path, data, true);
  await fsyncDir(dirname(path));
}

/**
 * Flushes a directory to disk, so that files created, renamed or removed in it stay so
 * after a power cut.
 *
 * @throws {HamError} EIO when the directory cannot be opened or synced.
 */
export async function fsyncDir(dir: string): Promise<void> {
  try {
    const file = await Deno.open(dir, { read: true });
    try {
      await file.sync();
    } finally {
      file.close();
    }
  } catch (err) {
    throw fileError("Cannot sync directory", dir, err);
  }
}

/** Synchronous {@linkcode fsyncDir}, for the replay path, which must not yield. */
export function fsyncDirSync(dir: string): void {
  try {
    const file = Deno.openSync(dir, { read: true });
    try {
      file.syncSync();
    } finally {
      file.close();
    }
  } catch (err) {
    throw fileError("Cannot sync directory", dir, err);
  }
}
