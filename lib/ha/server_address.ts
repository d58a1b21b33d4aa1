/**
 * Where an HA connection's server listens, and connecting there: the address to reconnect
 * a plain connection to, and a connect that may wait for a server that is restarting.
 *
 * @module
 */

import { HamError } from "../core/errors.ts";
import { isNotListening } from "./errors.ts";

/**
 * Where a server listens: TCP options or Unix-socket options of `Deno.connect`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { connectTo, type ServerAddress } from "./server_address.ts";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const tcp: ServerAddress = { hostname: "127.0.0.1", port: listener.addr.port };
 * const unix: ServerAddress = { transport: "unix", path: "/run/myserver.sock" };
 * using conn = await connectTo(tcp, 0);
 * (await listener.accept()).close();
 * assert.equal(conn.remoteAddr.transport, "tcp");
 * assert.equal(unix.transport, "unix");
 * ```
 */
export type ServerAddress = Deno.ConnectOptions | Deno.UnixConnectOptions;

/**
 * The address to reconnect a connected `conn` to: its remote address. EINVAL when unknown.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { addressOf } from "./server_address.ts";
 *
 * using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * using conn = await Deno.connect({ hostname: "127.0.0.1", port: listener.addr.port });
 * (await listener.accept()).close();
 * assert.deepEqual(addressOf(conn), {
 *   transport: "tcp",
 *   hostname: "127.0.0.1",
 *   port: listener.addr.port,
 * });
 * ```
 */
export function addressOf(conn: Deno.Conn): ServerAddress {
  const addr = conn.remoteAddr;
  if (addr.transport === "unix" && addr.path) return { transport: "unix", path: addr.path };
  if (addr.transport === "tcp") {
    return { transport: "tcp", hostname: addr.hostname, port: addr.port };
  }
  throw new HamError("EINVAL", `Cannot tell how to reconnect to a ${addr.transport} address`);
}

/** `Deno.connect` for either kind of address (its TCP and Unix forms are two overloads). */
const connect = Deno.connect as (address: ServerAddress) => Promise<Deno.Conn>;

/**
 * Connects once; a TCP connect that has had no answer within `ms` (> 0) is abandoned with
 * TimedOut. Without a limit, a host that is down answers nothing, and the connect waits for
 * the kernel's SYN retries (about two minutes).
 */
async function connectWithin(address: ServerAddress, ms: number): Promise<Deno.Conn> {
  if (address.transport === "unix" || ms <= 0) return await connect(address);
  try {
    return await connect({ ...address, signal: AbortSignal.timeout(ms) });
  } catch (err) {
    if (!(err instanceof DOMException && err.name === "TimeoutError")) throw err;
    throw new Deno.errors.TimedOut(
      `Cannot connect to ${address.hostname ?? "127.0.0.1"}:${address.port}: no answer in time`,
      { cause: err },
    );
  }
}

/**
 * Connects to `address`, retrying for up to `waitMs` while nothing listens there (refused,
 * or no socket file yet), with a growing delay. Other errors are thrown at once. With a
 * `waitMs`, a TCP connect that gets no answer at all (a host that is down) gives up with
 * TimedOut once `waitMs` is over.
 *
 * @example
 * ```ts
 * import { connectTo } from "./server_address.ts";
 *
 * const dir = await Deno.makeTempDir();
 * const address = { transport: "unix", path: `${dir}/server.sock` } as const;
 * const connecting = connectTo(address, 5000); // the server is not up yet
 * using listener = Deno.listen(address); // now it is
 * using conn = await connecting;
 * (await listener.accept()).close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function connectTo(address: ServerAddress, waitMs: number): Promise<Deno.Conn> {
  // Monotonic: a step of the wall clock neither cuts the wait short nor stretches it.
  const end = performance.now() + waitMs;
  let delay = 5;
  for (;;) {
    try {
      return await connectWithin(address, waitMs > 0 ? Math.max(1, end - performance.now()) : 0);
    } catch (err) {
      const left = end - performance.now();
      if (!isNotListening(err) || left <= 0) throw err;
      await new Promise((resolve) => setTimeout(resolve, Math.min(delay, left)));
      delay = Math.min(delay * 2, 100);
    }
  }
}
