/**
 * Checking that a pid is still the process meant (alive, and with the start time it had),
 * and signalling it by pid: through a temporary pidfd, or with `kill()` where pidfds are
 * unavailable.
 *
 * @module
 */

import { HamError } from "../core/errors.ts";
import { signalName } from "../core/flags.ts";
import { ERRNO, errno, type Libc } from "./libc.ts";
import { openPidfd, osError, sendSignal } from "./pidfd.ts";
import { type ProcessStat, processStat } from "./proc.ts";

/**
 * Throws unless `pid` is a valid pid.
 *
 * @throws {HamError} `EINVAL`.
 */
export function checkPid(action: string, pid: number): void {
  if (!Number.isSafeInteger(pid) || pid <= 0) {
    throw new HamError("EINVAL", `Cannot ${action} pid ${pid}: not a valid pid`);
  }
}

/**
 * Throws unless `signal` is a signal number (0 only checks).
 *
 * @throws {HamError} `EINVAL`.
 */
export function checkSignal(pid: number, signal: number): void {
  if (!Number.isInteger(signal) || signal < 0 || signal > 64) {
    throw new HamError("EINVAL", `Cannot signal pid ${pid}: invalid signal ${signal}`);
  }
}

/**
 * Throws unless `stat` is a live process (not a zombie) with the start time `startTime`
 * (any when null).
 *
 * @throws {HamError} `ESRCH` when the process is gone or the pid was reused.
 */
export function checkAlive(
  action: string,
  pid: number,
  stat: ProcessStat | null,
  startTime: string | null,
): asserts stat is ProcessStat {
  if (stat === null || stat.state === "Z" || stat.state === "X") {
    throw new HamError("ESRCH", `Cannot ${action} pid ${pid}: no such process`);
  }
  if (startTime !== null && stat.startTime !== startTime) {
    throw new HamError(
      "ESRCH",
      `Cannot ${action} pid ${pid}: start time is "${stat.startTime}", not "${startTime}" (pid reused)`,
    );
  }
}

/**
 * Signals `pid` through a temporary pidfd, opened before the start time is checked, so
 * the signal cannot reach a process that took the pid over after the check.
 *
 * @throws {HamError} `ESRCH` when the process is gone or the pid was reused, `EPERM`.
 */
export function signalByPidfd(
  lib: Libc,
  pid: number,
  signal: number,
  startTime: string | null,
): void {
  const fd = openPidfd(lib, "signal", pid);
  try {
    if (startTime !== null) checkAlive("signal", pid, processStat(pid), startTime);
    sendSignal(lib, pid, fd, signal);
  } finally {
    lib.close(fd);
  }
}

/**
 * Signals `pid` without a pidfd: checks the start time, then calls `kill()` (libc's, or
 * `Deno.kill` without FFI). A pid reused between the check and the kill is not detected.
 *
 * @throws {HamError} `ESRCH` when the process is gone or the pid was reused, `EPERM`,
 * `EINVAL` for a signal Deno does not know.
 */
export function signalByKill(
  lib: Libc | null,
  pid: number,
  signal: number,
  startTime: string | null,
): void {
  const stat = processStat(pid);
  if (stat === null) throw osError("signal", pid, ERRNO.ESRCH);
  if (startTime !== null) checkAlive("signal", pid, stat, startTime);
  if (lib !== null) {
    if (lib.kill(pid, signal) < 0) throw osError("signal", pid, errno());
    return;
  }
  if (signal === 0) return;
  try {
    Deno.kill(pid, signalName(signal) as Deno.Signal);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) throw osError("signal", pid, ERRNO.ESRCH);
    const code = err instanceof TypeError ? "EINVAL" : "EPERM";
    throw new HamError(code, `Cannot signal pid ${pid}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}
