/**
 * Where the output of the processes the HAM starts goes: each entity's stdout and stderr
 * to `<state-dir>/logs/NAME.log`, one line at a time, prefixed with a timestamp and the
 * stream (`2026-01-01T00:00:00.000Z stdout listening on :80`), rotated by size
 * ({@linkcode RotatingLog}); never into the HAM's own log.
 *
 * The process writes into two FIFOs, `<state-dir>/pipes/NAME.stdout` and `NAME.stderr`,
 * which it opens read-write (so a write never fails with EPIPE and never kills it with
 * SIGPIPE, even while no HAM reads: a HAM that dies and is taken over does not take its
 * workers down); the HAM reads them, and the HAM that takes over opens them again and
 * carries on with what the pipes kept (up to 64 KiB each).
 *
 * @module
 */

import { concatBytes } from "../core/bytes.ts";
import { cString, ERRNO, errno, type Libc, libc, libcAvailable, OPEN } from "./libc.ts";
import { PidfdPoller } from "./pidfd_poller.ts";
import { RotatingLog, type RotatingLogOptions } from "./rotating_log.ts";
import { ensureDirNoFollowSync } from "./safe_open.ts";

/** The two FIFOs a process writes into. */
export interface OutputPipes {
  stdout: string;
  stderr: string;
}

/** Options of {@linkcode EntityOutput}. */
export interface EntityOutputOptions extends RotatingLogOptions {
  /** The state directory. */
  stateDir: string;
  /** Longest line written as one, in bytes; a longer one is cut. */
  maxLineBytes: number;
  /** File name of an entity (escapes what cannot be in a file name). */
  fileName(entity: string): string;
  /** Clock. @default Date.now */
  now?: () => number;
  /** Reports a write error (once per entity until it succeeds again). */
  onError?(entity: string, err: Error): void;
}

const STREAMS = ["stdout", "stderr"] as const;
type Stream = (typeof STREAMS)[number];

interface Reader {
  pipes: Pipe[];
  log: RotatingLog;
  failing: boolean;
}

/** One FIFO being read: its non-blocking fd in the shared poll, and a partial line. */
interface Pipe {
  readonly pid: number;
  readonly fd: number;
  entity: string;
  reader: Reader;
  stream: Stream;
  pending: Uint8Array;
}

/** Read-write (never blocks for a writer, never sees end-of-file), and non-blocking. */
const FIFO_FLAGS = OPEN.O_RDWR | OPEN.O_NONBLOCK | OPEN.O_CLOEXEC;

/** The FIFOs of the entity whose file name is `fileName`, in `<stateDir>/pipes`. */
export function outputPipes(stateDir: string, fileName: string): OutputPipes {
  const base = `${stateDir}/pipes/${fileName}`;
  return { stdout: `${base}.stdout`, stderr: `${base}.stderr` };
}

/**
 * Opens existing FIFOs the way the HAM reads them (read-write, non-blocking), without
 * making them; null when either cannot be opened. {@linkcode EntityOutput.adopt} takes them.
 */
export function openPipes(
  lib: Libc,
  pipes: OutputPipes,
): { stdout: number; stderr: number } | null {
  const stdout = lib.open(cString(pipes.stdout), FIFO_FLAGS);
  if (stdout < 0) return null;
  const stderr = lib.open(cString(pipes.stderr), FIFO_FLAGS);
  if (stderr < 0) {
    lib.close(stdout);
    return null;
  }
  return { stdout, stderr };
}

/** Closes FIFOs opened by {@linkcode openPipes} and not adopted. */
export function closePipes(fds: { stdout: number; stderr: number }): void {
  if (!libcAvailable()) return;
  libc().close(fds.stdout);
  libc().close(fds.stderr);
}

/** The output collector of a HAM. */
export class EntityOutput {
  #opts: EntityOutputOptions;
  #readers = new Map<string, Reader>();
  #enc = new TextEncoder();
  /**
   * Every FIFO in one `poll()` (reads of a FIFO opened as a Deno file would each hold one
   * of Deno's blocking threads for good: a few dozen entities would exhaust them and stall
   * every file operation of the HAM).
   */
  #poller: PidfdPoller<Pipe> | null = null;
  #buf = new Uint8Array(64 * 1024);
  #dirsReady = false;

  /** A collector over `<stateDir>/logs` and `<stateDir>/pipes`. */
  constructor(opts: EntityOutputOptions) {
    this.#opts = opts;
  }

  /** `<state-dir>/logs`. */
  get logDir(): string {
    return `${this.#opts.stateDir}/logs`;
  }

  /** `<state-dir>/pipes`. */
  get pipeDir(): string {
    return `${this.#opts.stateDir}/pipes`;
  }

  /** The log file of an entity. */
  logPath(entity: string): string {
    return `${this.logDir}/${this.#opts.fileName(entity)}.log`;
  }

  /** The FIFOs of an entity. */
  pipesOf(entity: string): OutputPipes {
    return outputPipes(this.#opts.stateDir, this.#opts.fileName(entity));
  }

  /**
   * Makes sure the entity's FIFOs exist and are being read; returns them, or null when
   * they cannot be made (the process then writes where the HAM writes).
   */
  ensure(entity: string): OutputPipes | null {
    const pipes = this.pipesOf(entity);
    if (this.#readers.has(entity)) return pipes;
    if (!libcAvailable()) return null;
    const lib = libc();
    // What is opened so far, closed again when the other cannot be (EMFILE): ensure runs at
    // every restart, and would leak one more descriptor each time.
    const fds: number[] = [];
    try {
      this.#ensureDirs();
      for (const s of STREAMS) {
        const path = cString(pipes[s]);
        // Most often the FIFO is there already (a restart, a HAM starting again): open it
        // first, and make it only when missing.
        let fd = lib.open(path, FIFO_FLAGS);
        if (fd < 0) {
          if (lib.mkfifo(path, 0o600) !== 0 && errno() !== ERRNO.EEXIST) {
            throw new Error(`Cannot make the FIFO "${pipes[s]}" (errno ${errno()})`);
          }
          fd = lib.open(path, FIFO_FLAGS);
        }
        if (fd < 0) throw new Error(`Cannot open the FIFO "${pipes[s]}" (errno ${errno()})`);
        fds.push(fd);
      }
    } catch (err) {
      for (const fd of fds) lib.close(fd);
      this.#opts.onError?.(entity, err as Error);
      return null;
    }
    try {
      this.#read(entity, fds);
    } catch (err) {
      this.#opts.onError?.(entity, err as Error);
      return null;
    }
    return pipes;
  }

  /**
   * Reads an entity's FIFOs through descriptors opened elsewhere (read-write and
   * non-blocking, as {@linkcode ensure} opens them: a Guardian opens them ahead of a
   * takeover); it owns them from now on. Closes them instead when it reads the entity
   * already, or cannot read at all.
   */
  adopt(entity: string, fds: { stdout: number; stderr: number }): void {
    if (this.#readers.has(entity) || !libcAvailable()) return closePipes(fds);
    try {
      this.#ensureDirs();
    } catch (err) {
      this.#opts.onError?.(entity, err as Error);
    }
    try {
      this.#read(entity, [fds.stdout, fds.stderr]);
    } catch (err) {
      this.#opts.onError?.(entity, err as Error);
    }
  }

  /** The two directories, checked (and made) once: a HAM never removes them. */
  #ensureDirs(): void {
    if (this.#dirsReady) return;
    ensureDirNoFollowSync(this.logDir);
    ensureDirNoFollowSync(this.pipeDir);
    this.#dirsReady = true;
  }

  /**
   * Starts reading `fds` (stdout, stderr) as the entity's output. When the poll cannot take
   * them (no descriptor left for its eventfd), closes them all and throws.
   */
  #read(entity: string, fds: number[]): void {
    const lib = libc();
    const reader: Reader = {
      pipes: [],
      log: new RotatingLog(this.logPath(entity), this.#opts),
      failing: false,
    };
    this.#readers.set(entity, reader);
    const poller = this.#poller ??= new PidfdPoller<Pipe>(lib, (pipe) => this.#drain(pipe), {
      persistent: true,
    });
    STREAMS.forEach((stream, i) => {
      const pipe = { pid: 0, fd: fds[i], entity, reader, stream, pending: new Uint8Array(0) };
      try {
        poller.add(pipe);
      } catch (err) {
        this.#close(entity); // Closes the fds the poll holds already.
        for (const fd of fds.slice(i)) lib.close(fd);
        throw err;
      }
      reader.pipes.push(pipe);
    });
  }

  /** Reads what a readable FIFO holds, until it would block, and logs its whole lines. */
  #drain(pipe: Pipe): void {
    const lib = libc();
    for (;;) {
      const n = lib.read(pipe.fd, this.#buf);
      if (n <= 0 || this.#readers.get(pipe.entity) !== pipe.reader) return;
      const chunk = pipe.pending.length === 0
        ? this.#buf.slice(0, n)
        : concatBytes([pipe.pending, this.#buf.subarray(0, n)]);
      let start = 0;
      for (let i = 0; i < chunk.length; i++) {
        if (chunk[i] === 10) {
          this.#line(pipe.entity, pipe.reader, pipe.stream, chunk.subarray(start, i));
          start = i + 1;
        } else if (i + 1 - start >= this.#opts.maxLineBytes) {
          this.#line(pipe.entity, pipe.reader, pipe.stream, chunk.subarray(start, i + 1));
          start = i + 1;
        }
      }
      pipe.pending = chunk.slice(start);
    }
  }

  #line(entity: string, reader: Reader, stream: Stream, text: Uint8Array): void {
    const now = this.#opts.now ?? Date.now;
    const prefix = this.#enc.encode(`${new Date(now()).toISOString()} ${stream} `);
    try {
      reader.log.write(concatBytes([prefix, text, NEWLINE]));
      reader.failing = false;
    } catch (err) {
      if (!reader.failing) this.#opts.onError?.(entity, err as Error);
      reader.failing = true;
    }
  }

  /** Stops reading an entity's FIFOs and removes them (the entity is gone). */
  remove(entity: string): void {
    this.#close(entity);
    for (const path of Object.values(this.pipesOf(entity))) {
      try {
        Deno.removeSync(path);
      } catch { /* gone */ }
    }
  }

  #close(entity: string): void {
    const r = this.#readers.get(entity);
    if (!r) return;
    this.#readers.delete(entity);
    for (const pipe of r.pipes) this.#poller?.delete(pipe); // Closes its fd.
    r.log.close();
  }

  /** Removes the FIFOs whose file name (without `.stdout`/`.stderr`) is not in `keep`. */
  removeStale(keep: Set<string>): void {
    let names: string[];
    try {
      names = [...Deno.readDirSync(this.pipeDir)].map((d) => d.name);
    } catch {
      return;
    }
    for (const name of names) {
      const base = name.replace(/\.(stdout|stderr)$/, "");
      if (keep.has(base)) continue;
      try {
        Deno.removeSync(`${this.pipeDir}/${name}`);
      } catch { /* gone */ }
    }
  }

  /** Entities being read. */
  get entities(): string[] {
    return [...this.#readers.keys()];
  }

  /** Stops reading everything; the FIFOs stay for the next HAM. */
  close(): void {
    for (const entity of [...this.#readers.keys()]) this.#close(entity);
    void this.#poller?.close();
    this.#poller = null;
  }
}

const NEWLINE = new Uint8Array([10]);
