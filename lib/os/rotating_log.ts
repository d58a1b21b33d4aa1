/**
 * An append-only log file rotated by size with a bounded number of old files, as s6-log
 * and logrotate keep them: `NAME.log` is written; when it would pass `maxBytes` it becomes
 * `NAME.log.1`, the former `.1` becomes `.2`, and so on; the oldest beyond `keep` is
 * deleted.
 *
 * @module
 */

import { openNoFollowSync } from "./safe_open.ts";

/** Options of {@linkcode RotatingLog}. */
export interface RotatingLogOptions {
  /** Rotate when the file would pass this size, in bytes. */
  maxBytes: number;
  /** Rotated files kept (0: the file is truncated instead). */
  keep: number;
}

/** A size-rotated log file. Writes are synchronous appends; errors are thrown. */
export class RotatingLog {
  readonly path: string;
  #opts: RotatingLogOptions;
  #file: Deno.FsFile | null = null;
  #size = 0;

  /** A log at `path` (opened on the first write, created 0600). */
  constructor(path: string, opts: RotatingLogOptions) {
    this.path = path;
    this.#opts = opts;
  }

  #open(): Deno.FsFile {
    if (this.#file === null) {
      this.#file = openNoFollowSync(this.path, { append: true, create: true, mode: 0o600 });
      this.#size = this.#file.statSync().size;
    }
    return this.#file;
  }

  /** Moves `NAME.log` to `NAME.log.1` (shifting the older ones) and starts a new file. */
  rotate(): void {
    this.close();
    const { keep } = this.#opts;
    try {
      Deno.removeSync(`${this.path}.${keep}`);
    } catch { /* none */ }
    for (let i = keep - 1; i >= 1; i--) {
      try {
        Deno.renameSync(`${this.path}.${i}`, `${this.path}.${i + 1}`);
      } catch { /* none */ }
    }
    try {
      if (keep > 0) Deno.renameSync(this.path, `${this.path}.1`);
      else Deno.removeSync(this.path);
    } catch { /* none */ }
  }

  /** Appends `bytes`, rotating first when they would take the file past the limit. */
  write(bytes: Uint8Array): void {
    let file = this.#open();
    if (this.#size > 0 && this.#size + bytes.length > this.#opts.maxBytes) {
      this.rotate();
      file = this.#open();
    }
    for (let off = 0; off < bytes.length;) off += file.writeSync(bytes.subarray(off));
    this.#size += bytes.length;
  }

  /** Closes the file (a later write opens it again). */
  close(): void {
    try {
      this.#file?.close();
    } catch { /* already closed */ }
    this.#file = null;
  }
}
