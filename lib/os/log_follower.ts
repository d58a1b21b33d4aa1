/**
 * Reading a log that a `RotatingLog` (`rotating_log.ts`) writes, as `tail -F` follows
 * one: the file is kept open and read on from the offset reached. When the path names
 * another file (the log rotated: `NAME.log` became `NAME.log.1` and a new `NAME.log` was
 * started), the open file is read to its end first, then every rotated file written after
 * it (`NAME.log.k-1` … `NAME.log.1`, when more than one rotation went by), then the new
 * file from its start: every line once, in order. Only a reader so far behind that the file
 * it reads is no longer among the rotated ones (deleted past `keep`, or never renamed) goes
 * straight on to the new file, as `tail -F` does. A file that shrinks below the offset
 * reached (truncated) is read again from its start.
 *
 * @module
 */

/** Bytes read at a time. */
const CHUNK = 64 * 1024;

/** Rotated files looked at (`NAME.log.1` …) when looking for the one that was followed. */
const MAX_ROTATED = 1000;

/** Tries at finding the file after the one read to its end while rotations go on. */
const SUCCESSOR_TRIES = 8;

function statOrNull(path: string): Deno.FileInfo | null {
  try {
    return Deno.statSync(path);
  } catch {
    return null;
  }
}

function openOrNull(path: string): Deno.FsFile | null {
  try {
    return Deno.openSync(path, { read: true });
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw err;
  }
}

function sameFile(a: Deno.FileInfo, b: Deno.FileInfo): boolean {
  return a.ino === b.ino && a.dev === b.dev;
}

/** Follows the log at a path across rotations and truncations. */
export class LogFollower implements Disposable {
  readonly path: string;
  #file: Deno.FsFile | null = null;
  #info: Deno.FileInfo | null = null;
  #offset = 0;
  #decoder = new TextDecoder();
  #partial = "";
  #buf = new Uint8Array(CHUNK);

  /** Opens the log at `path` if it exists (else at the first {@linkcode read} that finds it). */
  constructor(path: string) {
    this.path = path;
    this.#openCurrent();
  }

  /** Whether a file is open (the log existed). */
  get found(): boolean {
    return this.#file !== null;
  }

  /** The text after the last newline read (a line not finished yet). */
  get partial(): string {
    return this.#partial;
  }

  /**
   * Hands `out` every complete line written since the last call (or, the first time, the
   * whole file), across rotations: the open file to its end, the rotated files after it,
   * then the file at the path.
   */
  read(out: (lines: string[]) => void): void {
    for (;;) {
      if (this.#file === null && !this.#openCurrent()) return;
      this.#checkTruncated(out);
      this.#drain(out);
      const now = statOrNull(this.path);
      if (now === null) return; // Renamed, the new file not there yet.
      if (sameFile(now, this.#info!)) return;
      // Another file at the path: what was written before the rename, then the next file.
      this.#drain(out);
      const next = this.#successor();
      if (next === null) return; // Rotating right now: the next call goes on.
      this.#switchTo(next, out);
    }
  }

  /** Closes the open file. */
  close(): void {
    this.#file?.close();
    this.#file = null;
    this.#info = null;
  }

  /** Closes the open file. */
  [Symbol.dispose](): void {
    this.close();
  }

  #openCurrent(): boolean {
    const f = openOrNull(this.path);
    if (f === null) return false;
    this.#file = f;
    this.#info = f.statSync();
    this.#offset = 0;
    return true;
  }

  /** Reads the open file from the offset reached to its end. */
  #drain(out: (lines: string[]) => void): void {
    const f = this.#file!;
    for (;;) {
      const n = f.readSync(this.#buf);
      if (n === null || n === 0) return;
      this.#offset += n;
      const text = this.#partial + this.#decoder.decode(this.#buf.subarray(0, n), { stream: true });
      const lines = text.split("\n");
      this.#partial = lines.pop()!;
      if (lines.length > 0) out(lines);
    }
  }

  /** A file shorter than the offset reached was truncated: from its start again. */
  #checkTruncated(out: (lines: string[]) => void): void {
    if (this.#file!.statSync().size >= this.#offset) return;
    this.#finishFile(out);
    this.#file!.seekSync(0, Deno.SeekMode.Start);
    this.#offset = 0;
  }

  /** Ends the text of a file: its undecoded bytes and unfinished line make a last line. */
  #finishFile(out: (lines: string[]) => void): void {
    const rest = this.#partial + this.#decoder.decode();
    this.#partial = "";
    if (rest !== "") out([rest]);
  }

  #switchTo(next: { file: Deno.FsFile; info: Deno.FileInfo }, out: (l: string[]) => void): void {
    this.#finishFile(out);
    this.#file!.close();
    this.#file = next.file;
    this.#info = next.info;
    this.#offset = 0;
  }

  /** Where the open file is among `NAME.log.1` … now (0: not there). */
  #rotatedAt(): number {
    let missing = 0;
    for (let k = 1; k <= MAX_ROTATED && missing < 2; k++) {
      const st = statOrNull(`${this.path}.${k}`);
      if (st === null) missing++; // One name can be missing while a rotation renames.
      else if (sameFile(st, this.#info!)) return k;
      else missing = 0;
    }
    return 0;
  }

  /**
   * The file written after the open one: `NAME.log.k-1` when the open one is now
   * `NAME.log.k`, else the file at the path. It counts only if the open file is still at
   * `NAME.log.k` once the next one is open (else a rotation went by: looked for again).
   * Null when there is none yet.
   */
  #successor(): { file: Deno.FsFile; info: Deno.FileInfo } | null {
    for (let i = 0; i < SUCCESSOR_TRIES; i++) {
      const k = this.#rotatedAt();
      const file = openOrNull(k > 1 ? `${this.path}.${k - 1}` : this.path);
      if (file === null) {
        if (k <= 1) return null;
        continue;
      }
      if (this.#rotatedAt() === k) return { file, info: file.statSync() };
      file.close();
    }
    return null;
  }
}
