/**
 * The pidfd system calls (`pidfd_open`, `pidfd_send_signal`) with their failures turned
 * into {@linkcode HamError}s that name the action and the pid.
 *
 * @module
 */

import { HamError } from "../core/errors.ts";
import { ERRNO, errno, type Libc, SYS } from "./libc.ts";
import { threadGroupOf } from "./proc.ts";

/** The {@linkcode HamError} for errno `err` when `action` on `pid` failed. */
export function osError(action: string, pid: number, err: number): HamError {
  const what = `Cannot ${action} pid ${pid}`;
  switch (err) {
    case ERRNO.ESRCH:
      return new HamError("ESRCH", `${what}: no such process`);
    case ERRNO.EPERM:
    case ERRNO.EACCES:
      return new HamError("EPERM", `${what}: operation not permitted`);
    case ERRNO.EINVAL:
      return new HamError("EINVAL", `${what}: invalid argument`);
    case ERRNO.EMFILE:
    case ERRNO.ENFILE:
      return new HamError("ENOMEM", `${what}: too many open files`);
    default:
      return new HamError("EIO", `${what}: errno ${err}`);
  }
}

/** True when this kernel (and its seccomp filter) lets this process open pidfds. */
export function pidfdWorks(lib: Libc): boolean {
  const fd = lib.syscall(SYS.pidfd_open, Deno.pid, 0);
  if (fd >= 0) {
    lib.close(fd);
    return true;
  }
  const err = errno();
  return err !== ERRNO.ENOSYS && err !== ERRNO.EPERM;
}

/**
 * Opens a pidfd on `pid`; the caller closes it.
 *
 * @throws {HamError} `ESRCH` when there is no such process, `EINVAL` when `pid` is a thread
 * of another process, `EPERM`, or `ENOMEM` when out of file descriptors.
 */
export function openPidfd(lib: Libc, action: string, pid: number): number {
  const fd = lib.syscall(SYS.pidfd_open, pid, 0);
  if (fd >= 0) return fd;
  const err = errno();
  // A thread that does not lead its group: EINVAL, or ENOENT since Linux 6.9.
  if (err === ERRNO.EINVAL || err === ERRNO.ENOENT) {
    const process = threadGroupOf(pid);
    if (process !== null && process !== pid) {
      throw new HamError(
        "EINVAL",
        `Cannot ${action} pid ${pid}: pid ${pid} is a thread of process ${process}, not a process`,
      );
    }
    throw osError(action, pid, ERRNO.ESRCH);
  }
  throw osError(action, pid, err);
}

/**
 * Sends signal number `signal` to the process of the pidfd `fd` (whose pid is `pid`).
 *
 * @throws {HamError} `ESRCH` when it has ended, `EPERM`, or `EINVAL` for a bad signal.
 */
export function sendSignal(lib: Libc, pid: number, fd: number, signal: number): void {
  if (lib.syscall(SYS.pidfd_send_signal, fd, signal, 0, 0) < 0) {
    throw osError("signal", pid, errno());
  }
}
