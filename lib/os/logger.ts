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

/** A line writer appending to `path` (`--log FILE`), or undefined for stderr. */
export function logFileWriter(path: string | undefined): ((line: string) => void) | undefined {
  if (path === undefined) return undefined;
  const file = openNoFollowSync(path, { append: true, create: true, write: true, mode: 0o600 });
  const enc = new TextEncoder();
  return (line) => file.writeSync(enc.encode(line));
}

/** A message level: errors always print; warn at verbosity ≥ 1; info ≥ 2; debug ≥ 3. */
export type Level = "error" | "warn" | "info" | "debug";

const THRESHOLD: Record<Level, number> = { error: 0, warn: 1, info: 2, debug: 3 };

/** Writes log lines; `verbosity` is read on every call so `ham_verbose` acts at once. */
export interface Logger {
  log(level: Level, message: string): void;
  /** Writes a message gated by an explicit verbosity (the `log` action). */
  logAt(verbosity: number, message: string): void;
}

/** Options of {@linkcode createLogger}. */
export interface LoggerOptions {
  /** Current verbosity (0–9). */
  verbosity: () => number;
  /** Where lines go. @default stderr */
  write?: (line: string) => void;
  /** @default "absolute" */
  timestamps?: TimestampStyle;
  /** Start of the relative clock, ms since epoch. @default Date.now() at creation */
  start?: number;
  /** Clock. @default Date.now */
  now?: () => number;
}

/** Creates a logger. */
export function createLogger(opts: LoggerOptions): Logger {
  const encoder = new TextEncoder();
  const write = opts.write ?? ((line: string) => Deno.stderr.writeSync(encoder.encode(line)));
  const now = opts.now ?? Date.now;
  const start = opts.start ?? now();
  const style = opts.timestamps ?? "absolute";
  const emit = (tag: string, message: string) => {
    const ts = style === "none"
      ? ""
      : style === "relative"
      ? `${((now() - start) / 1000).toFixed(3)} `
      : `${new Date(now()).toISOString()} `;
    write(`${ts}ham[${Deno.pid}] ${tag}: ${message}\n`);
  };
  return {
    log(level, message) {
      if (opts.verbosity() >= THRESHOLD[level]) emit(level, message);
    },
    logAt(verbosity, message) {
      if (opts.verbosity() >= verbosity) emit("log", message);
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
