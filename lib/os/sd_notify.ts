/**
 * The systemd notification protocol (`sd_notify(3)`): datagrams such as `READY=1`,
 * `STATUS=...`, `WATCHDOG=1` and `MAINPID=N` sent to the Unix datagram socket named by
 * `$NOTIFY_SOCKET` (a path, or `@name` in the abstract namespace). Sent through libc
 * (`socket`, `sendto`), so no unstable Deno API is needed.
 *
 * @module
 */

import { libc, libcAvailable } from "./libc.ts";

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const MSG_NOSIGNAL = 0x4000;
/** Where the HAM keeps `$NOTIFY_SOCKET` for its Guardian. */
export const HAM_NOTIFY_SOCKET = "HAM_NOTIFY_SOCKET";
/** `sizeof(sockaddr_un.sun_path)`. */
const SUN_PATH = 108;

/** `struct sockaddr_un` for `path` (`@name`: the abstract namespace); null if too long. */
export function sockaddrUn(path: string): Uint8Array | null {
  const name = new TextEncoder().encode(path);
  const abstract = path.startsWith("@");
  if (name.length > SUN_PATH - (abstract ? 0 : 1)) return null;
  const addr = new Uint8Array(2 + name.length + (abstract ? 0 : 1));
  new DataView(addr.buffer).setUint16(0, AF_UNIX, true);
  addr.set(name, 2);
  if (abstract) addr[2] = 0;
  return addr;
}

/** A notifier to systemd (or anything listening on `$NOTIFY_SOCKET`). */
export class SdNotify {
  readonly socketPath: string;
  #fd: number;
  #addr: Uint8Array;

  private constructor(socketPath: string, fd: number, addr: Uint8Array) {
    this.socketPath = socketPath;
    this.#fd = fd;
    this.#addr = addr;
  }

  /**
   * A notifier to `$NOTIFY_SOCKET`, or null when it is not set (or cannot be used). The
   * variable is moved to `$HAM_NOTIFY_SOCKET`: the Guardian (which may become the HAM)
   * finds it there, and the processes the HAM starts do not take it for theirs.
   */
  static fromEnv(): SdNotify | null {
    const path = Deno.env.get("NOTIFY_SOCKET") || Deno.env.get(HAM_NOTIFY_SOCKET);
    if (!path || !libcAvailable()) return null;
    Deno.env.delete("NOTIFY_SOCKET");
    Deno.env.set(HAM_NOTIFY_SOCKET, path);
    const addr = sockaddrUn(path);
    if (addr === null) return null;
    const fd = libc().socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    return fd < 0 ? null : new SdNotify(path, fd, addr);
  }

  /** Sends `KEY=VALUE` lines in one datagram; false when it could not be sent. */
  send(...lines: string[]): boolean {
    const buf = new TextEncoder().encode(lines.join("\n"));
    return libc().sendto(this.#fd, buf, MSG_NOSIGNAL, this.#addr) === buf.length;
  }

  /** Closes the socket. */
  close(): void {
    libc().close(this.#fd);
  }
}

/** The watchdog interval systemd asks for (`$WATCHDOG_USEC`), in ms, or null. */
export function watchdogMs(usecText: string | undefined = Deno.env.get("WATCHDOG_USEC")):
  | number
  | null {
  const usec = Number(usecText ?? "");
  return Number.isSafeInteger(usec) && usec > 0 ? Math.max(1, Math.floor(usec / 1000)) : null;
}
