/**
 * The state directory's lock: liveness is a held lock, not a pid file. The running HAM
 * holds an exclusive `flock` on the state directory itself and on its lock file,
 * `<dir>/ham.lock`, for its whole life; the kernel releases both when the HAM's process is
 * gone, however it ended. A second HAM refuses to start (EBUSY); the Guardian waits for
 * the lock and takes over when it gets it.
 *
 * The directory is the authority: a lock file can be removed (by a clean-up script that
 * takes it for a stale one) and made again by the next `ham`, which would then lock a new
 * file beside the HAM still holding the old one — two HAMs on one journal. A directory
 * cannot be replaced while it holds the state. The lock file's lock is kept as well, for a
 * HAM of an earlier version, which knows only that one; the file also names the holder's
 * pid, for the EBUSY message of others and for a Guardian to tell whether the HAM it
 * guards was the last holder.
 *
 * @module
 */

import { HamError } from "../core/errors.ts";
import { lockPath, prepareStateDir } from "../os/state_dir.ts";
import { openNoFollow } from "../os/safe_open.ts";
import { DEFAULTS } from "../core/defaults.ts";

/** The state directory's lock, held: closing it releases it. */
export class StateLock {
  /** The lock file, `<dir>/ham.lock`, locked: it names the holder's pid. */
  readonly file: Deno.FsFile;
  /** The state directory, locked. */
  readonly dir: Deno.FsFile;

  /** Wraps the two held descriptors. */
  constructor(file: Deno.FsFile, dir: Deno.FsFile) {
    this.file = file;
    this.dir = dir;
  }

  /** Releases the lock (closes both descriptors). Idempotent. */
  close(): void {
    for (const f of [this.file, this.dir]) {
      try {
        f.close();
      } catch { /* already closed */ }
    }
  }
}

/**
 * Opens the state directory's lock file (0600, never through a symbolic link), after
 * checking the directory ({@linkcode prepareStateDir}: created 0700 when missing).
 */
export async function openLockFile(dir: string): Promise<Deno.FsFile> {
  prepareStateDir(dir);
  return await openNoFollow(lockPath(dir), {
    create: true,
    read: true,
    write: true,
    mode: DEFAULTS.lockMode,
  });
}

/** Opens the state directory itself (checked and made as {@linkcode openLockFile} does), to lock it. */
export async function openLockDir(dir: string): Promise<Deno.FsFile> {
  prepareStateDir(dir);
  return await Deno.open(dir, { read: true });
}

/** Writes this process's pid into a lock file it holds, for the EBUSY message of others. */
export async function writeLockHolder(f: Deno.FsFile): Promise<void> {
  await f.truncate(0);
  await f.seek(0, Deno.SeekMode.Start);
  await f.write(new TextEncoder().encode(`${Deno.pid}\n`));
}

/**
 * The pid a lock file names: the last HAM that held the lock (each writes its own with
 * {@linkcode writeLockHolder} as it starts or takes over); null when it names none.
 */
export async function readLockHolder(f: Deno.FsFile): Promise<number | null> {
  const buf = new Uint8Array(32);
  await f.seek(0, Deno.SeekMode.Start);
  const n = await f.read(buf);
  const m = /^\s*(\d+)\s*$/.exec(new TextDecoder().decode(buf.subarray(0, n ?? 0)));
  const pid = m ? Number(m[1]) : NaN;
  return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
}

/** The EBUSY of a HAM that cannot start on `dir`: another HAM (pid `holder`) holds its lock. */
export function lockBusy(dir: string, holder: string | number = ""): HamError {
  return new HamError(
    "EBUSY",
    `Cannot start the HAM on "${dir}": another HAM holds its lock${
      holder !== "" ? ` (pid ${holder})` : ""
    }`,
  );
}

/** The pid the lock file at its path names, as text; "" when it cannot be read. */
function namedHolder(dir: string): string {
  try {
    return Deno.readTextFileSync(lockPath(dir)).trim();
  } catch {
    return "";
  }
}

/**
 * Takes the state directory's lock at once, or throws EBUSY naming the holder's pid.
 *
 * @returns The held lock; closing it releases it.
 */
export async function takeLock(dir: string): Promise<StateLock> {
  const d = await openLockDir(dir);
  if (!await d.tryLock(true)) {
    d.close();
    throw lockBusy(dir, namedHolder(dir));
  }
  let f: Deno.FsFile;
  try {
    f = await openLockFile(dir);
  } catch (err) {
    d.close();
    throw err;
  }
  if (!await f.tryLock(true)) {
    const holder = namedHolder(dir);
    f.close();
    d.close();
    throw lockBusy(dir, holder);
  }
  const lock = new StateLock(f, d);
  try {
    await writeLockHolder(f);
  } catch (err) {
    lock.close();
    throw err;
  }
  return lock;
}

/**
 * Waits until the lock is free and takes it (a blocking `flock` on a worker thread): it
 * returns once the process holding it is gone, or has released it.
 *
 * @returns The held lock; closing it releases it.
 */
export async function waitForLock(dir: string): Promise<StateLock> {
  const d = await openLockDir(dir);
  let f: Deno.FsFile | null = null;
  try {
    await d.lock(true);
    // Held by nobody once the directory is ours, but by a HAM of an earlier version.
    f = await openLockFile(dir);
    await f.lock(true);
  } catch (err) {
    f?.close();
    d.close();
    throw err;
  }
  return new StateLock(f, d);
}

/** True when no HAM holds the state directory's lock (it is taken and released at once). */
export async function lockIsFree(dir: string): Promise<boolean> {
  const d = await openLockDir(dir);
  try {
    return await d.tryLock(true);
  } finally {
    d.close();
  }
}
