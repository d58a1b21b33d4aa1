/**
 * How a process ended, as `waitid()` reports it: decoding the x86-64 `siginfo_t` it fills,
 * and collecting (so reaping) the status of a dead child without blocking.
 *
 * @module
 */

import { signalName } from "../core/flags.ts";
import { type Libc, WAIT } from "./libc.ts";
import type { ExitStatus } from "../core/model.ts";

const CLD_EXITED = 1;
const CLD_KILLED = 2;
const CLD_DUMPED = 3;
/** Bytes of a `siginfo_t`. */
const SIGINFO_SIZE = 128;

/** Reused by {@linkcode collectExit}: every call is synchronous. */
const siginfo = new Uint8Array(SIGINFO_SIZE);

/** The status of a process whose end is not known: `{ code: null, signal: null }`. */
export function unknownStatus(): ExitStatus {
  return { code: null, signal: null };
}

/**
 * Decodes the x86-64 `siginfo_t` filled by `waitid()`: an exit code (`CLD_EXITED`) or the
 * name of the killing signal (`CLD_KILLED`, `CLD_DUMPED`). Unknown when `si_pid` is 0
 * (`WNOHANG` found nothing to collect) or for any other `si_code`.
 */
export function decodeSiginfo(info: Uint8Array): ExitStatus {
  const view = new DataView(info.buffer, info.byteOffset, info.byteLength);
  if (view.getInt32(16, true) === 0) return unknownStatus(); // si_pid
  const code = view.getInt32(8, true); // si_code
  const status = view.getInt32(24, true); // si_status
  if (code === CLD_EXITED) return { code: status, signal: null };
  if (code === CLD_KILLED || code === CLD_DUMPED) return { code: null, signal: signalName(status) };
  return unknownStatus();
}

/**
 * Collects the status of the dead child `id` (a pid for `P_PID`, a pidfd for `P_PIDFD`)
 * with `waitid(idtype, id, WEXITED | WNOHANG)`, which reaps it. Null when there is nothing
 * to collect: the process is not our child (`ECHILD`), or has not ended yet.
 */
export function collectExit(lib: Libc, idtype: number, id: number): ExitStatus | null {
  siginfo.fill(0);
  if (lib.waitid(idtype, id, siginfo, WAIT.WEXITED | WAIT.WNOHANG) !== 0) return null;
  const view = new DataView(siginfo.buffer);
  return view.getInt32(16, true) === 0 ? null : decodeSiginfo(siginfo);
}

/**
 * True when some child of this process has ended and waits to be collected: a peek with
 * `waitid(P_ALL, WEXITED | WNOHANG | WNOWAIT)`, which collects nothing (the child stays
 * for whoever waits for it). One system call instead of a scan of every process.
 */
export function hasEndedChild(lib: Libc): boolean {
  return endedChild(lib) !== 0;
}

/**
 * The pid of a child of this process that has ended and waits to be collected, or 0: the
 * same peek as {@linkcode hasEndedChild}, which collects nothing.
 */
export function endedChild(lib: Libc): number {
  siginfo.fill(0);
  const flags = WAIT.WEXITED | WAIT.WNOHANG | WAIT.WNOWAIT;
  if (lib.waitid(WAIT.P_ALL, 0, siginfo, flags) !== 0) return 0; // ECHILD: no children
  return new DataView(siginfo.buffer).getInt32(16, true);
}
