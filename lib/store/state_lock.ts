/**
 * The state directory's lock, `<dir>/ham.lock`: liveness is a held lock, not a pid file.
 * The running HAM holds an exclusive `flock` on it for its whole life; the kernel releases
 * it when the HAM's process is gone, however it ended. A second HAM refuses to start
 * (EBUSY); the Guardian waits for it and takes over when it gets it.
 *
 * @module
 */

import { HamError } from "../core/errors.ts";
import { lockPath, prepareStateDir } from "../os/state_dir.ts";
import { openNoFollow } from "../os/safe_open.ts";
import { DEFAULTS } from "../core/defaults.ts";

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

/**
 * Takes the state directory's lock at once, or throws EBUSY naming the holder's pid.
 *
 * @returns The open lock file; closing it releases the lock.
 */
export async function takeLock(dir: string): Promise<Deno.FsFile> {
  const f = await openLockFile(dir);
  if (!await f.tryLock(true)) {
    let holder = "";
    try {
      holder = Deno.readTextFileSync(lockPath(dir)).trim();
    } catch { /* unreadable */ }
    f.close();
    throw lockBusy(dir, holder);
  }
  await writeLockHolder(f);
  return f;
}

/**
 * Waits until the lock is free and takes it (a blocking `flock` on a worker thread): it
 * returns once the process holding it is gone, or has released it.
 *
 * @returns The open lock file; closing it releases the lock.
 */
export async function waitForLock(dir: string): Promise<Deno.FsFile> {
  const f = await openLockFile(dir);
  try {
    await f.lock(true);
  } catch (err) {
    f.close();
    throw err;
  }
  return f;
}
