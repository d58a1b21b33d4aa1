/**
 * Opening files in the state directory with `O_NOFOLLOW` semantics: a symbolic link
 * planted where a file should be (the log, the journal, the lock) is refused instead of
 * followed. Deno's `open` has no `O_NOFOLLOW`, so the path is `lstat`ed first (a link is
 * refused), opened, and the opened file must be the very file that was `lstat`ed (same
 * device and inode): a link swapped in between is caught too.
 *
 * @module
 */

import { HamError } from "../core/errors.ts";

function refuse(path: string): HamError {
  return new HamError(
    "EPERM",
    `Cannot open "${path}": it is a symbolic link (refused in the state directory)`,
  );
}

function linkInfo(path: string): Deno.FileInfo | null {
  try {
    return Deno.lstatSync(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw err;
  }
}

function sameFile(a: Deno.FileInfo, b: Deno.FileInfo): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}

/**
 * `Deno.openSync` that never follows a symbolic link at `path`.
 *
 * @throws {HamError} `EPERM` when `path` is a symbolic link.
 */
export function openNoFollowSync(path: string, options: Deno.OpenOptions): Deno.FsFile {
  const before = linkInfo(path);
  if (before?.isSymlink) throw refuse(path);
  // A file that did not exist is created exclusively: O_EXCL never follows a link.
  const file = before === null && options.create
    ? createOrOpen(path, options)
    : Deno.openSync(path, options);
  const after = linkInfo(path);
  if (after === null || after.isSymlink || !sameFile(after, file.statSync())) {
    file.close();
    throw refuse(path);
  }
  return file;
}

function createOrOpen(path: string, options: Deno.OpenOptions): Deno.FsFile {
  try {
    return Deno.openSync(path, { ...options, create: false, createNew: true });
  } catch (err) {
    if (!(err instanceof Deno.errors.AlreadyExists)) throw err;
    // Created meanwhile (by this user: the directory is checked): open it as it is.
    if (linkInfo(path)?.isSymlink) throw refuse(path);
    return Deno.openSync(path, { ...options, create: false });
  }
}

/** {@linkcode openNoFollowSync}, as a promise (the checks are cheap and synchronous). */
export function openNoFollow(path: string, options: Deno.OpenOptions): Promise<Deno.FsFile> {
  try {
    return Promise.resolve(openNoFollowSync(path, options));
  } catch (err) {
    return Promise.reject(err);
  }
}

/** Writes `text` to `path` (created 0600 or truncated), never through a symbolic link. */
export function writeTextNoFollowSync(path: string, text: string): void {
  const file = openNoFollowSync(path, { write: true, create: true, truncate: true, mode: 0o600 });
  try {
    const bytes = new TextEncoder().encode(text);
    let off = 0;
    while (off < bytes.length) off += file.writeSync(bytes.subarray(off));
  } finally {
    file.close();
  }
}

/**
 * Creates directory `path` (mode 0700) when missing; refuses a symbolic link there (a
 * planted link would move the journal, the events or the status tree elsewhere).
 *
 * @throws {HamError} `EPERM` when `path` is a symbolic link or not a directory.
 */
export function ensureDirNoFollowSync(path: string): void {
  let info = linkInfo(path);
  if (info === null) {
    try {
      Deno.mkdirSync(path, { mode: 0o700 });
    } catch (err) {
      if (!(err instanceof Deno.errors.AlreadyExists)) throw err;
    }
    info = linkInfo(path);
  }
  if (info?.isSymlink) {
    throw new HamError(
      "EPERM",
      `Cannot use directory "${path}": it is a symbolic link (refused in the state directory)`,
    );
  }
  if (info !== null && !info.isDirectory) {
    throw new HamError("EPERM", `Cannot use directory "${path}": it is not a directory`);
  }
}
