/**
 * Where an HA connection's server listens, and connecting there: the address to reconnect
 * a plain connection to, and a connect that may wait for a server that is restarting.
 *
 * @module
 */

import { HamError } from "../core/errors.ts";
import { isNotListening } from "./errors.ts";

/** Where a server listens: TCP options or Unix-socket options of `Deno.connect`. */
export type ServerAddress = Deno.ConnectOptions | Deno.UnixConnectOptions;

/** The address to reconnect a connected `conn` to: its remote address. EINVAL when unknown. */
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

/** Connects to `address`, retrying for up to `waitMs` while nothing listens there. */
export async function connectTo(address: ServerAddress, waitMs: number): Promise<Deno.Conn> {
  const end = Date.now() + waitMs;
  let delay = 5;
  for (;;) {
    try {
      return await connect(address);
    } catch (err) {
      const left = end - Date.now();
      if (!isNotListening(err) || left <= 0) throw err;
      await new Promise((resolve) => setTimeout(resolve, Math.min(delay, left)));
      delay = Math.min(delay * 2, 100);
    }
  }
}
