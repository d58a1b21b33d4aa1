/**
 * The HAM's own dialer of other nodes' HAMs (cross-node notify and signal), over
 * `node:tls`: unlike `Deno.connectTls`, its socket can turn Nagle's algorithm off, which
 * takes ~40 ms off each forwarded action (the request waits for the ACK of the handshake's
 * last message otherwise, and the peer delays that ACK). The HAM loads `node:` modules
 * anyway; `hamctl` keeps `Deno.connectTls` (`lib/client/node_dialer.ts`). Failures get the
 * same codes: EHOSTUNREACH (nothing answers), EKEYREJECTED (the server's certificate is not
 * signed by the node's CA or not for its address), EINVAL (our own credential is unusable).
 *
 * @module
 */

import type { TLSSocket } from "node:tls";
import type { ByteConn, NodeDial } from "../client/node_dialer.ts";
import { DEFAULTS } from "../core/defaults.ts";
import { HamError } from "../core/errors.ts";
import { parseAddress } from "./tls_server.ts";

/** A connected TLS socket as the client's byte stream. */
class SocketConn implements ByteConn {
  #socket: TLSSocket;
  #chunks: Uint8Array[] = [];
  #ended = false;
  #wake: (() => void) | null = null;

  constructor(socket: TLSSocket) {
    this.#socket = socket;
    socket.on("data", (d: Uint8Array) => {
      this.#chunks.push(d);
      this.#poke();
    });
    const end = () => {
      this.#ended = true;
      this.#poke();
    };
    socket.on("end", end);
    socket.on("close", end);
    socket.on("error", end);
  }

  #poke(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  async read(buf: Uint8Array): Promise<number | null> {
    while (this.#chunks.length === 0) {
      if (this.#ended) return null;
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
    const chunk = this.#chunks[0];
    const n = Math.min(buf.length, chunk.length);
    buf.set(chunk.subarray(0, n));
    if (n === chunk.length) this.#chunks.shift();
    else this.#chunks[0] = chunk.subarray(n);
    return n;
  }

  write(bytes: Uint8Array): Promise<number> {
    return new Promise((resolve, reject) => {
      if (this.#ended) return reject(new HamError("ECONNRESET", "The TLS peer is gone"));
      this.#socket.write(bytes, (err?: Error | null) => err ? reject(err) : resolve(bytes.length));
    });
  }

  close(): void {
    this.#ended = true;
    this.#socket.destroy();
    this.#poke();
  }
}

/** Connects and completes the TLS handshake with Nagle's algorithm off, classifying failures. */
export const dialNodeTls: NodeDial = async (entry, pems) => {
  const tls = await import("node:tls");
  let address;
  try {
    address = parseAddress(entry.address);
  } catch {
    throw new HamError("EINVAL", `Invalid address "${entry.address}" of node "${entry.name}"`);
  }
  const where = `node "${entry.name}" at ${entry.address}`;
  let socket: TLSSocket;
  try {
    socket = tls.connect({
      host: address.hostname,
      port: address.port,
      ca: pems.ca,
      cert: pems.cert,
      key: pems.key,
    });
  } catch (err) {
    throw new HamError("EINVAL", `Cannot use our credential for ${where}: ${err}`, { cause: err });
  }
  socket.setNoDelay(true);
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new HamError(
              "EHOSTUNREACH",
              `Cannot reach ${where}: no answer in ${DEFAULTS.nodeConnectTimeoutMs} ms`,
            ),
          ),
        DEFAULTS.nodeConnectTimeoutMs,
      );
      socket.once("secureConnect", () => resolve());
      socket.once("error", reject);
    });
  } catch (err) {
    socket.destroy();
    if (err instanceof HamError) throw err;
    const code = String((err as { code?: unknown }).code ?? "");
    const message = err instanceof Error ? err.message : String(err);
    if (/CERT|SIGNATURE|ISSUER|ALTNAME/.test(code)) {
      throw new HamError("EKEYREJECTED", `Cannot trust ${where}: ${message}`, { cause: err });
    }
    throw new HamError("EHOSTUNREACH", `Cannot reach ${where}: ${message}`, { cause: err });
  } finally {
    clearTimeout(timer);
  }
  return new SocketConn(socket);
};
