/**
 * One file descriptor held in reserve (the classic EMFILE trick): when the process runs out
 * of descriptors, the reserve is given up for one short synchronous operation — reading
 * `/proc/PID/stat` to watch a process without a pidfd — and taken back at once, so running
 * out never leaves the HAM blind. (The control server keeps its own, for accepting.)
 *
 * @module
 */

import { libc, libcAvailable, RLIMIT_NOFILE } from "./libc.ts";

let reserve: Deno.FsFile | null = null;
let spending = false;

/** Takes the reserve descriptor if it is not held; false when none could be opened. */
export function holdReserve(): boolean {
  if (reserve !== null || spending) return reserve !== null;
  try {
    reserve = Deno.openSync("/dev/null", { read: true });
    return true;
  } catch {
    return false;
  }
}

/** Gives the reserve back to the system for good (at shutdown). */
export function dropReserve(): void {
  try {
    reserve?.close();
  } catch { /* already closed */ }
  reserve = null;
}

/**
 * Runs `fn` with the reserve descriptor given up, then takes it back. Null, without running
 * `fn`, when there is no reserve to give (not held, or already being spent).
 */
export function spendReserve<T>(fn: () => T): T | null {
  if (reserve === null || spending) return null;
  dropReserve();
  spending = true;
  try {
    return fn();
  } finally {
    spending = false;
    holdReserve();
  }
}

/** True for the errors of running out of file descriptors (EMFILE, ENFILE). */
export function outOfDescriptors(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return code === "EMFILE" || code === "ENFILE" || /Too many open files/i.test(String(err));
}

/**
 * Raises this process's soft descriptor limit to its hard limit (as Go's runtime and many
 * daemons do: a service manager's soft default of 1,024 is too low for 1,000 clients and
 * their pidfds), leaving the hard limit alone. Returns the limits after, or null when they
 * cannot be read (no FFI).
 */
export function raiseDescriptorLimit(): { soft: bigint; hard: bigint } | null {
  if (!libcAvailable()) return null;
  const lib = libc();
  const rlim = new Uint8Array(16);
  const view = new DataView(rlim.buffer);
  if (lib.getrlimit(RLIMIT_NOFILE, rlim) !== 0) return null;
  const hard = view.getBigUint64(8, true);
  if (view.getBigUint64(0, true) < hard) {
    view.setBigUint64(0, hard, true);
    lib.setrlimit(RLIMIT_NOFILE, rlim);
    lib.getrlimit(RLIMIT_NOFILE, rlim);
  }
  return { soft: view.getBigUint64(0, true), hard: view.getBigUint64(8, true) };
}
