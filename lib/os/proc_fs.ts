/**
 * Synchronous file reads for `/proc`, through libc. Deno refuses every read under `/proc`
 * to a process without `--allow-all` (`NotCapable`), and the HAM runs with a fixed list of
 * permissions, `--allow-ffi` among them: so these readers call `open`, `read`, `readlink`
 * and `getdents64` themselves. When FFI is unavailable they fall back to Deno's own fs
 * calls, which then only work under `--allow-all`.
 *
 * Every reader returns `null` when the file cannot be read, whatever the reason (a process
 * vanishes between any two reads). Only the fallback's `NotCapable` is thrown.
 *
 * @module
 */

import { cString, ERRNO, errno, type Libc, libc, libcAvailable, OPEN } from "./libc.ts";
import { spendReserve } from "./fd_reserve.ts";

const READ_FLAGS = OPEN.O_RDONLY | OPEN.O_CLOEXEC;
const DIR_FLAGS = OPEN.O_RDONLY | OPEN.O_DIRECTORY | OPEN.O_CLOEXEC;
/** Longest symbolic link target read, in bytes (a path longer than PATH_MAX is no cwd). */
const MAX_LINK = 1 << 16;
const DIRENT_NAME = 19; // offsetof(struct linux_dirent64, d_name)

const decoder = new TextDecoder();
/** Grows to the largest file read so far; every read is synchronous, so one is enough. */
let scratch = new Uint8Array(4096);
const dirents = new Uint8Array(32768);
const direntView = new DataView(dirents.buffer);

function ffi(): Libc | null {
  return libcAvailable() ? libc() : null;
}

/** Runs a Deno fs read for the fallback; any error but `NotCapable` gives null. */
function attempt<T>(read: () => T): T | null {
  try {
    return read();
  } catch (err) {
    if (err instanceof Deno.errors.NotCapable) throw err;
    return null;
  }
}

/** `open()` that retries on EINTR; -1 on failure. */
function openPath(lib: Libc, path: string, flags: number): number {
  const cpath = cString(path);
  for (;;) {
    const fd = lib.open(cpath, flags);
    if (fd >= 0 || errno() !== ERRNO.EINTR) return fd;
  }
}

/**
 * Reads until end of file with `read(into, offset)` (`offset`: the bytes read so far) into
 * the shared scratch buffer, grown as needed; a copy of the bytes, or null when a read
 * fails (other than EINTR).
 */
function readToEnd(read: (into: Uint8Array, offset: number) => number): Uint8Array | null {
  let length = 0;
  for (;;) {
    if (length === scratch.length) {
      const bigger = new Uint8Array(scratch.length * 2);
      bigger.set(scratch);
      scratch = bigger;
    }
    const n = read(scratch.subarray(length), length);
    if (n > 0) length += n;
    else if (n === 0) return scratch.slice(0, length);
    else if (errno() !== ERRNO.EINTR) return null;
  }
}

/**
 * A `/proc` file read again and again through one descriptor kept open: `pread` from offset
 * 0 regenerates a seq_file's content (a process's `children` list: the look for leftovers
 * reads this process's own at every death). Two system calls a read instead of four, on the
 * event path. While the descriptor cannot be opened, or after a read fails, it reads as
 * {@linkcode readFileBytes} does (and opens again next time).
 */
export class ProcFile {
  readonly path: string;
  #fd = -1;

  constructor(path: string) {
    this.path = path;
  }

  /** The file's whole content now; null when it cannot be read. */
  read(): Uint8Array | null {
    const lib = ffi();
    if (lib === null) return readFileBytes(this.path);
    if (this.#fd < 0) this.#fd = openPath(lib, this.path, READ_FLAGS);
    if (this.#fd < 0) return readFileBytes(this.path);
    const fd = this.#fd;
    const bytes = readToEnd((into, at) => lib.pread(fd, into, at));
    if (bytes !== null) return bytes;
    this.close();
    return readFileBytes(this.path);
  }

  /** Closes the descriptor (a later read opens it again). */
  close(): void {
    if (this.#fd >= 0) ffi()?.close(this.#fd);
    this.#fd = -1;
  }
}

/** The whole content of the file at `path`; null when it cannot be opened or read. */
export function readFileBytes(path: string): Uint8Array | null {
  const lib = ffi();
  if (lib === null) return attempt(() => Deno.readFileSync(path));
  const fd = openPath(lib, path, READ_FLAGS);
  if (fd < 0) {
    const err = errno();
    // Out of descriptors: read it with the reserve one (the HAM must keep seeing processes).
    if (err !== ERRNO.EMFILE && err !== ERRNO.ENFILE) return null;
    return spendReserve(() => readFileBytes(path));
  }
  try {
    return readToEnd((into) => lib.read(fd, into)); // null on ESRCH: the process died meanwhile
  } finally {
    lib.close(fd);
  }
}

/** The target of the symbolic link at `path`; null when it is no link or cannot be read. */
export function readLinkText(path: string): string | null {
  const lib = ffi();
  if (lib === null) return attempt(() => Deno.readLinkSync(path));
  const cpath = cString(path);
  for (let size = 4096; size <= MAX_LINK; size *= 2) {
    const buf = new Uint8Array(size);
    const n = lib.readlink(cpath, buf);
    if (n < 0) return null;
    // A target that fills the buffer may have been truncated: retry with a bigger one.
    if (n < size) return decoder.decode(buf.subarray(0, n));
  }
  return null;
}

/** The names in the directory at `path`, without `.` and `..`; null when it cannot be read. */
export function readDirNames(path: string): string[] | null {
  const lib = ffi();
  if (lib === null) return attempt(() => [...Deno.readDirSync(path)].map((e) => e.name));
  const fd = openPath(lib, path, DIR_FLAGS);
  if (fd < 0) return null;
  try {
    const names: string[] = [];
    for (;;) {
      const n = lib.getdents64(fd, dirents);
      if (n === 0) return names;
      if (n < 0) {
        if (errno() === ERRNO.EINTR) continue;
        return null;
      }
      // struct linux_dirent64 { u64 d_ino; i64 d_off; u16 d_reclen; u8 d_type; char d_name[] }
      for (let offset = 0; offset < n;) {
        const reclen = direntView.getUint16(offset + 16, true);
        const start = offset + DIRENT_NAME;
        const nul = dirents.indexOf(0, start);
        const end = nul < 0 ? offset + reclen : Math.min(nul, offset + reclen);
        const name = decoder.decode(dirents.subarray(start, end));
        if (name !== "." && name !== "..") names.push(name);
        offset += reclen;
      }
    }
  } finally {
    lib.close(fd);
  }
}
