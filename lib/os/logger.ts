/**
 * The HAM's activity log: leveled by verbosity (QNX `-v`, `ham_verbose`), one line per
 * message, with an optional timestamp style, written to stderr or a file.
 *
 * @module
 */

import { openNoFollowSync } from "./safe_open.ts";

/** How a log line is timestamped (QNX `ham -t`). */
export type TimestampStyle = "none" | "relative" | "absolute";

/** True when `value` names a timestamp style. */
export function isTimestampStyle(value: unknown): value is TimestampStyle {
  return value === "none" || value === "relative" || value === "absolute";
}

/**
 * A line writer appending to a log file (`--log FILE`). {@linkcode LogFile.reopen} opens the
 * path again (SIGHUP, after logrotate moved the file away). A failed open or write throws:
 * {@linkcode createLogger} counts the line as lost instead of failing.
 */
export class LogFile {
  readonly path: string;
  #file: Deno.FsFile;
  #write = lineWriter((bytes) => this.#file.writeSync(bytes));

  /** Opens `path` for appending (created 0600 when missing; never through a symbolic link). */
  constructor(path: string) {
    this.path = path;
    this.#file = LogFile.#open(path);
  }

  static #open(path: string): Deno.FsFile {
    return openNoFollowSync(path, { append: true, create: true, write: true, mode: 0o600 });
  }

  /** Closes the file and opens `path` again; throws when it cannot be opened. */
  reopen(): void {
    const fresh = LogFile.#open(this.path);
    try {
      this.#file?.close();
    } catch { /* already closed */ }
    this.#file = fresh;
    this.#write = lineWriter((bytes) => this.#file.writeSync(bytes));
  }

  /** Appends one line (throws on a write error, ENOSPC included; see {@linkcode lineWriter}). */
  write(line: string): void {
    this.#write(line);
  }
}

/**
 * Writes lines through `write` (which may write part of what it is given): after a line
 * written in part (the disk filled up half-way), the next one starts on a new line, not
 * glued to its first bytes. The part stays, on a line of its own: cutting it off again
 * could cut a line the Guardian appended to the same file meanwhile.
 */
function lineWriter(write: (bytes: Uint8Array) => number): (line: string) => void {
  const encoder = new TextEncoder();
  let torn = false;
  return (line) => {
    const bytes = encoder.encode(torn ? `\n${line}` : line);
    let off = 0;
    try {
      while (off < bytes.length) off += write(bytes.subarray(off));
    } catch (err) {
      if (off > 0) torn = true;
      throw err;
    }
    torn = false;
  };
}

/** A log file for `--log FILE`, or undefined for stderr. */
export function logFileWriter(path: string | undefined): LogFile | undefined {
  return path === undefined ? undefined : new LogFile(path);
}

/**
 * A message level: errors always print; warn and notice at verbosity ≥ 1 (the default:
 * notices are what an operator must see, such as deaths, restarts, takeovers and refused
 * requests); info ≥ 2; debug ≥ 3.
 */
export type Level = "error" | "warn" | "notice" | "info" | "debug";

const THRESHOLD: Record<Level, number> = { error: 0, warn: 1, notice: 1, info: 2, debug: 3 };

/** How log lines are written (`--log-format`): text, or one JSON object per line. */
export type LogFormat = "text" | "json";

/** True when `value` names a log format. */
export function isLogFormat(value: unknown): value is LogFormat {
  return value === "text" || value === "json";
}

/** Writes log lines; `verbosity` is read on every call so `ham_verbose` acts at once. */
export interface Logger {
  log(level: Level, message: string): void;
  /**
   * Like `log`, but written a microtask later: off the event path (a death's line is
   * written once its conditions fired). Stamped now; a line logged before it is written
   * comes after it, so the order holds.
   */
  soon(level: Level, message: string): void;
  /** Writes a message gated by an explicit verbosity (the `log` action). */
  logAt(verbosity: number, message: string): void;
  /** Lines that could not be written (a full disk, a closed stderr): counted, never fatal. */
  readonly lostLines: number;
  /** Reopens the log file (SIGHUP); false when it cannot be (the old one is kept). */
  reopen(): boolean;
}

/** Options of {@linkcode createLogger}. */
export interface LoggerOptions {
  /** Current verbosity (0–9). */
  verbosity: () => number;
  /** Where lines go: a function or a {@linkcode LogFile}; it may throw. @default stderr */
  write?: ((line: string) => void) | LogFile;
  /** @default "absolute" */
  timestamps?: TimestampStyle;
  /** Start of the relative clock, ms since epoch. @default Date.now() at creation */
  start?: number;
  /** Clock. @default Date.now */
  now?: () => number;
  /**
   * `json`: one object per line, `{"time","pid","level","msg"}` (`time` as ISO text, or
   * seconds since start with relative timestamps; absent with none). @default "text"
   */
  format?: LogFormat;
}

/**
 * Creates a logger. Logging never throws: a line that cannot be written is counted
 * ({@linkcode Logger.lostLines}), and the next line that can be written is preceded by one
 * saying how many were lost and why.
 */
export function createLogger(opts: LoggerOptions): Logger {
  const sink = opts.write;
  const write = sink instanceof LogFile
    ? (line: string) => sink.write(line)
    : sink ?? lineWriter((bytes) => Deno.stderr.writeSync(bytes));
  const now = opts.now ?? Date.now;
  const start = opts.start ?? now();
  const style = opts.timestamps ?? "absolute";
  let lost = 0;
  let unreported = 0;
  let lastError = "";
  const line = (tag: string, message: string, at = now()) => {
    if (opts.format === "json") {
      const time = style === "none"
        ? {}
        : { time: style === "relative" ? (at - start) / 1000 : new Date(at).toISOString() };
      return `${JSON.stringify({ ...time, pid: Deno.pid, level: tag, msg: message })}\n`;
    }
    const ts = style === "none"
      ? ""
      : style === "relative"
      ? `${((at - start) / 1000).toFixed(3)} `
      : `${new Date(at).toISOString()} `;
    return `${ts}ham[${Deno.pid}] ${tag}: ${message}\n`;
  };
  const tryWrite = (text: string): boolean => {
    try {
      write(text);
      return true;
    } catch (err) {
      lastError = err instanceof Error ? err.message : String(err);
      return false;
    }
  };
  /** Lines of `soon`, stamped and not written yet (formatted as they are written). */
  let later: Array<{ tag: string; message: string; at: number }> = [];
  const writeLater = () => {
    const lines = later;
    later = [];
    for (const l of lines) put(line(l.tag, l.message, l.at));
  };
  const emit = (tag: string, message: string) => {
    if (later.length > 0) writeLater();
    put(line(tag, message));
  };
  const put = (text: string) => {
    if (unreported > 0) {
      const note = line("warn", `${unreported} log lines were lost (${lastError})`);
      if (!tryWrite(note)) {
        lost++;
        unreported++;
        return;
      }
      unreported = 0;
    }
    if (!tryWrite(text)) {
      lost++;
      unreported++;
    }
  };
  return {
    log(level, message) {
      if (opts.verbosity() >= THRESHOLD[level]) emit(level, message);
    },
    soon(level, message) {
      if (opts.verbosity() < THRESHOLD[level]) return;
      later.push({ tag: level, message, at: now() });
      if (later.length === 1) queueMicrotask(writeLater);
    },
    logAt(verbosity, message) {
      if (opts.verbosity() >= verbosity) emit("log", message);
    },
    get lostLines() {
      return lost;
    },
    reopen() {
      if (!(sink instanceof LogFile)) return true;
      try {
        sink.reopen();
        return true;
      } catch (err) {
        lastError = err instanceof Error ? err.message : String(err);
        return false;
      }
    },
  };
}

/** A logger that keeps lines in memory, for tests. */
export function memoryLogger(verbosity = 9): Logger & { lines: string[] } {
  const lines: string[] = [];
  const logger = createLogger({
    verbosity: () => verbosity,
    write: (l) => lines.push(l.trimEnd()),
    timestamps: "none",
  });
  return Object.assign(logger, { lines });
}
