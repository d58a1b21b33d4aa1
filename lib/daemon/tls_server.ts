/**
 * The network listener of `ham --listen HOST:PORT`: the control protocol over mutual TLS.
 * The server presents its certificate; the client must present one signed by the CA, and
 * its subject CN is the client's identity, given a role by `roleOf`.
 *
 * `Deno.listenTls` cannot ask for or check client certificates (its CA options are
 * ignored), so this uses `node:tls` (`requestCert`), loaded only when `--listen` is given.
 * `rejectUnauthorized: false` lets the handshake finish for a peer without a valid
 * certificate, so that it gets a protocol answer naming the problem (EACCES without a
 * certificate or without a role, EKEYREJECTED for a certificate the CA did not sign)
 * instead of a bare reset.
 *
 * What a peer can cost before it is a connection of the control server is bounded too: every
 * TCP connection counts from its accept, handshake or not, and past `maxSockets` (see
 * {@linkcode tlsSocketCap}) a new one is closed at once; a handshake not done within
 * `tlsHandshakeTimeoutMs` is closed (node:tls's default waits 120 s, and 20,000 connections
 * that never began one took every descriptor). Reading a TLS connection pauses while more than
 * `pauseReadingBytes` of what it sent wait to be read (the control server stops reading a client
 * that does not read its answers; node:tls would buffer all it sends meanwhile).
 *
 * @module
 */

import type { TLSSocket } from "node:tls";
import { DEFAULTS } from "../core/defaults.ts";
import { HamError } from "../core/errors.ts";
import type { Role } from "../core/roles.ts";
import type { Acceptor, Peer, ServerLog, Transport } from "./server.ts";

/** Options of {@linkcode listenTls}. */
export interface TlsListenOptions {
  hostname: string;
  port: number;
  /** PEM texts: the server's certificate and key, and the CA that signs client certificates. */
  cert: string;
  key: string;
  ca: string;
  /** The role of a verified identity (certificate CN), or null to refuse it. */
  roleOf(identity: string): Role | null;
  /**
   * TCP connections open at once, handshakes included; more are closed at once.
   * @default DEFAULTS.maxConnections
   */
  maxSockets?: number;
  /**
   * Time a connection has to finish its TLS handshake, ms; then it is closed.
   * @default DEFAULTS.tlsHandshakeTimeoutMs
   */
  handshakeTimeoutMs?: number;
  /**
   * Bytes a connection sent that wait to be read, past which reading it pauses until half
   * of them are read.
   * @default DEFAULTS.pauseReadingBytes
   */
  pauseReadingBytes?: number;
  /** @default none */
  log?: ServerLog;
}

/**
 * The most TCP connections `ham --listen` keeps open: `maxConnections`, or less when the
 * HAM's descriptor limit is low — at most `remoteFdShare` of it, so that remote peers cannot
 * take the descriptors the control socket and the entities need.
 */
export function tlsSocketCap(descriptorLimit: number | bigint | null): number {
  if (descriptorLimit === null) return DEFAULTS.maxConnections;
  const share = Math.floor(Number(descriptorLimit) * DEFAULTS.remoteFdShare);
  return Math.max(1, Math.min(DEFAULTS.maxConnections, share));
}

/** `HOST:PORT` (`[::1]:PORT` for IPv6), as {@linkcode parseAddress} reads it. */
export function formatAddress(addr: { hostname: string; port: number }): string {
  return addr.hostname.includes(":")
    ? `[${addr.hostname}]:${addr.port}`
    : `${addr.hostname}:${addr.port}`;
}

/** Parses `HOST:PORT` (`[::1]:PORT` for IPv6); throws EINVAL. */
export function parseAddress(text: string): { hostname: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port < 1 || port > 65535) {
    throw new HamError("EINVAL", `Invalid address "${text}": expected HOST:PORT`);
  }
  return { hostname: m[1] ?? m[2], port };
}

/** A TCP socket as node:tls's `connection` event gives it. */
interface TcpSocket {
  /** Its libuv-style stream handle (internal to node:net, in Node as in Deno). */
  _handle?: { readStop?: () => unknown; readStart?: () => unknown } | null;
  remoteAddress?: string;
  remotePort?: number;
  destroy(): void;
  once(event: "close", listener: () => void): void;
}

/** The key of a connection among those of one listener: its peer's address and port. */
function peerKey(s: { remoteAddress?: string; remotePort?: number }): string {
  return `${s.remoteAddress} ${s.remotePort}`;
}

/** A TLS socket as a {@linkcode Transport} with its peer's identity. */
class TlsTransport implements Transport, Peer {
  identity: string | null = null;
  role: Role | null = null;
  refusal: HamError | null = null;
  #socket: TLSSocket;
  #chunks: Uint8Array[] = [];
  /** Bytes in `#chunks`. */
  #buffered = 0;
  #pauseAt: number;
  #paused = false;
  /** The TCP socket under the TLS one: reading is paused there (see #pauseReading). */
  #tcp: TcpSocket | null;
  #ended = false;
  #wake: (() => void) | null = null;

  constructor(
    socket: TLSSocket,
    tcp: TcpSocket | null,
    roleOf: (identity: string) => Role | null,
    pauseReadingBytes: number,
  ) {
    this.#socket = socket;
    this.#tcp = tcp;
    this.#pauseAt = pauseReadingBytes;
    const cn = socket.getPeerCertificate()?.subject?.CN;
    const identity = typeof cn === "string" && cn !== "" ? cn : null;
    if (!socket.authorized && identity === null) {
      this.refusal = new HamError("EACCES", "Refused: no client certificate was presented");
    } else if (!socket.authorized) {
      this.refusal = new HamError(
        "EKEYREJECTED",
        `Refused the certificate of "${identity}": ${socket.authorizationError}`,
      );
    } else {
      this.identity = identity;
      this.role = identity === null ? null : roleOf(identity);
      if (this.role === null) {
        this.refusal = new HamError("EACCES", `Refused "${identity}": it has no role here`);
      }
    }
    socket.on("data", (d: Uint8Array) => {
      this.#chunks.push(d);
      this.#buffered += d.length;
      if (this.#buffered > this.#pauseAt && !this.#paused) {
        this.#paused = true;
        this.#pauseReading(true);
      }
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

  /**
   * Stops or restarts reading the TCP socket's handle, as `pause()` and `resume()` of a
   * `net.Socket` do. Not through them: in Deno (2.9), pausing the TLS socket stops its
   * 'data' events but not its reads (it buffers all the peer sends), and `resume()` of the
   * TCP socket under it does not restart the reads its `pause()` stopped. Without a handle
   * to reach, the TLS socket's own `pause()` and `resume()`.
   */
  #pauseReading(pause: boolean): void {
    const handle = this.#tcp?._handle;
    if (typeof handle?.readStop === "function" && typeof handle.readStart === "function") {
      if (pause) handle.readStop();
      else handle.readStart();
    } else if (pause) this.#socket.pause();
    else this.#socket.resume();
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
    this.#buffered -= n;
    // Half drained: read on (not at zero, which would leave the reader waiting for the kernel).
    if (this.#paused && this.#buffered <= this.#pauseAt / 2) {
      this.#paused = false;
      this.#pauseReading(false);
    }
    return n;
  }

  write(bytes: Uint8Array): Promise<number> {
    return new Promise((resolve, reject) => {
      if (this.#ended) return reject(new HamError("ECONNRESET", "The TLS peer is gone"));
      this.#socket.write(bytes, (err?: Error | null) => err ? reject(err) : resolve(bytes.length));
    });
  }

  close(): void {
    this.#socket.end();
    this.#socket.destroySoon?.();
  }
}

/**
 * Listens for mutual-TLS connections; resolves once listening. Throws EINVAL for an
 * unusable certificate or key, EADDRINUSE-style failures as EIO.
 */
export async function listenTls(opts: TlsListenOptions): Promise<Acceptor> {
  const tls = await import("node:tls");
  const maxSockets = opts.maxSockets ?? DEFAULTS.maxConnections;
  const pauseReadingBytes = opts.pauseReadingBytes ?? DEFAULTS.pauseReadingBytes;
  const log = opts.log ?? (() => {});
  const waiting: Array<(t: TlsTransport | null) => void> = [];
  const ready: TlsTransport[] = [];
  let closed = false;
  let sockets = 0;
  /** The TCP sockets open, by {@linkcode peerKey}. */
  const tcps = new Map<string, TcpSocket>();
  /** Connections closed over the cap in this episode (null: not in one). */
  let refused: number | null = null;
  let server;
  try {
    server = tls.createServer({
      cert: opts.cert,
      key: opts.key,
      ca: opts.ca,
      requestCert: true,
      rejectUnauthorized: false,
      handshakeTimeout: opts.handshakeTimeoutMs ?? DEFAULTS.tlsHandshakeTimeoutMs,
    }, (socket) => {
      // Answers are lines: send each at once (Nagle's wait for an ACK that the peer delays
      // costs 40 ms and more per exchange).
      socket.setNoDelay(true);
      const t = new TlsTransport(
        socket,
        tcps.get(peerKey(socket)) ?? null,
        opts.roleOf,
        pauseReadingBytes,
      );
      const take = waiting.shift();
      if (take) take(t);
      else ready.push(t);
    });
  } catch (err) {
    throw new HamError("EINVAL", `Cannot use the TLS certificate or key: ${err}`, { cause: err });
  }
  // Every TCP connection, before its handshake: counted until it closes, closed past the cap.
  server.on("connection", (raw: TcpSocket) => {
    if (sockets >= maxSockets) {
      if (refused === null) {
        refused = 0;
        log(
          "warn",
          `Refusing TLS connections: ${sockets} are open (the cap: maxConnections, remoteFdShare)`,
        );
      }
      refused++;
      raw.destroy();
      return;
    }
    sockets++;
    const key = peerKey(raw);
    tcps.set(key, raw);
    raw.once("close", () => {
      sockets--;
      if (tcps.get(key) === raw) tcps.delete(key);
      if (refused !== null && sockets < maxSockets / 2) {
        log("info", `Accepting TLS connections again (${refused} refused over the cap)`);
        refused = null;
      }
    });
  });
  // A failed or late handshake: node:tls reports it, and (in Deno) leaves the socket open.
  server.on("tlsClientError", (_err: Error, socket: TLSSocket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: Error) =>
      reject(
        new HamError("EIO", `Cannot listen on ${opts.hostname}:${opts.port}: ${err.message}`),
      ));
    server.listen(opts.port, opts.hostname, () => resolve());
  });
  return {
    accept: () => {
      if (closed) return Promise.reject(new HamError("EBADF", "The TLS listener is closed"));
      const t = ready.shift();
      if (t) return Promise.resolve(t);
      return new Promise((resolve, reject) =>
        waiting.push((t) => t ? resolve(t) : reject(new HamError("EBADF", "Closed")))
      );
    },
    close: () => {
      closed = true;
      server.close();
      for (const take of waiting.splice(0)) take(null);
      for (const t of ready.splice(0)) t.close();
    },
  };
}
