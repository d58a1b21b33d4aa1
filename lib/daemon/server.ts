/**
 * The control socket: accepts connections on `<state-dir>/ham.sock` (mode 0600, or 0660
 * for a `socketGroup`), knows each local client's peer credentials (uid, gid, groups and
 * pid from the kernel, {@linkcode PeerListener}), checks
 * the hello handshake, decodes each line with `decodeRequest`, passes requests to a
 * handler and writes the responses. Bad input gets an errno-style error or a clean
 * close; it never throws out of here.
 *
 * @module
 */

import { HamError, toHamError } from "../core/errors.ts";
import {
  encodeResponse,
  type HelloResult,
  type Op,
  PROTOCOL_VERSION,
  type Request,
  type Response,
  type Results,
  type ServerLine,
} from "../core/protocol.ts";
import { decodeRequest } from "../core/request_decoder.ts";
import { DEFAULTS } from "../core/defaults.ts";
import { type Role, roleAllows, roleNeeded } from "../core/roles.ts";
import { type PeerCredentials, PeerListener } from "../os/peer_listener.ts";

/** A byte stream a connection runs over: a Unix socket, or a TLS socket (`tls_server.ts`). */
export type Transport = Pick<Deno.Conn, "read" | "write" | "close">;

/** Where connections come from: the Unix socket's {@linkcode PeerListener}, or the TLS listener. */
export interface Acceptor {
  accept(): Promise<Transport & Partial<Peer> & { credentials?: PeerCredentials | null }>;
  close(): void;
}

/** What a remote transport knows of its peer: its identity and role, or why it is refused. */
export interface Peer {
  /** The identity (the certificate's CN), or null for a local client. */
  identity: string | null;
  /** The role the identity has, or null for a local client (not restricted here). */
  role: Role | null;
  /** Set when the peer is refused: its hello is answered with this error and it is closed. */
  refusal: HamError | null;
}

/** One client connection. */
export class Connection {
  static #next = 1;
  /** A number for logs. */
  readonly id = Connection.#next++;
  /** The pid the client announced in hello. */
  pid: number | null = null;
  /** The client's name from hello (`hamctl`, `mod.ts`, ...). */
  client = "unknown";
  /** Entities this connection self-attached (its close is their death). */
  readonly selfEntities = new Set<string>();
  /** Called once when the connection closes. */
  readonly onClose: Array<() => void> = [];
  /** Who the peer is, for a remote connection (see {@linkcode Peer}). */
  readonly peer: Peer;
  /**
   * Who the kernel says is on the other end of a Unix-socket connection (uid, gid, groups,
   * pid at connect time); null for a remote one, or when they could not be read.
   */
  readonly credentials: PeerCredentials | null;
  #conn: Transport;
  #writes: Promise<void> = Promise.resolve();
  #closed = false;
  #queued = 0;
  #encoder = new TextEncoder();

  /** Bytes handed to {@linkcode Connection.send} and not yet written (a slow reader's backlog). */
  get queuedBytes(): number {
    return this.#queued;
  }

  constructor(conn: Transport & Partial<Peer> & { credentials?: PeerCredentials | null }) {
    this.#conn = conn;
    this.credentials = conn.credentials ?? null;
    this.peer = {
      identity: conn.identity ?? null,
      role: conn.role ?? null,
      refusal: conn.refusal ?? null,
    };
  }

  /** True once closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Sends one line (a response or a push); silently dropped after close. */
  send(obj: ServerLine | string): Promise<void> {
    if (this.#closed) return Promise.resolve();
    const bytes = this.#encoder.encode(
      (typeof obj === "string" ? obj : JSON.stringify(obj)) + "\n",
    );
    this.#queued += bytes.length;
    // Written even when the connection is closed meanwhile: close() closes the socket after
    // the writes queued before it (the last event and `stopping` of a stop).
    this.#writes = this.#writes.then(async () => {
      try {
        let off = 0;
        while (off < bytes.length) off += await this.#conn.write(bytes.subarray(off));
      } catch {
        this.close();
      } finally {
        this.#queued -= bytes.length;
      }
    });
    return this.#writes;
  }

  /** Closes the connection (after pending writes). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#writes.finally(() => {
      try {
        this.#conn.close();
      } catch { /* already closed */ }
    });
    for (const f of this.onClose.splice(0)) f();
  }

  /** Reads lines until EOF; a line over the limit ends the connection with EMSGSIZE. */
  async *lines(): AsyncGenerator<string> {
    const decoder = new TextDecoder();
    const buf = new Uint8Array(64 * 1024);
    let pending = new Uint8Array(0);
    while (!this.#closed) {
      let n: number | null;
      try {
        n = await this.#conn.read(buf);
      } catch {
        return;
      }
      if (n === null) return;
      const chunk = new Uint8Array(pending.length + n);
      chunk.set(pending);
      chunk.set(buf.subarray(0, n), pending.length);
      let start = 0;
      for (let i = pending.length; i < chunk.length; i++) {
        if (chunk[i] !== 10) continue;
        const line = decoder.decode(chunk.subarray(start, i)).trim();
        start = i + 1;
        if (line.length > 0) yield line;
      }
      pending = chunk.slice(start);
      if (pending.length > DEFAULTS.maxLineBytes) {
        await this.send(
          errorResponse(
            0,
            new HamError("EMSGSIZE", `Request line longer than ${DEFAULTS.maxLineBytes} bytes`),
          ),
        );
        return;
      }
    }
  }
}

/** Handles one decoded request; resolves with its result or rejects with a HamError. */
export type RequestHandler = (req: Request, conn: Connection) => Promise<Results[Op]>;

function errorResponse(id: number, err: HamError): Response {
  return { id, ok: false, error: { code: err.code, message: err.message } };
}

function requestId(line: string): number {
  const m = /"id"\s*:\s*(\d{1,15})/.exec(line);
  return m ? Number(m[1]) : 0;
}

/** The listening control socket (or the TLS listener of `ham --listen`). */
export class ControlServer {
  #listener: Acceptor;
  #handler: RequestHandler;
  #hello: () => Omit<HelloResult, "version">;
  readonly connections = new Set<Connection>();
  #accepting: Promise<void>;

  /** Serves the connections `listener` accepts. */
  constructor(
    listener: Acceptor,
    handler: RequestHandler,
    hello: () => Omit<HelloResult, "version">,
  ) {
    this.#listener = listener;
    this.#handler = handler;
    this.#hello = hello;
    this.#accepting = this.#accept();
  }

  /**
   * Listens on `path` (a stale socket file is replaced) with mode 0600; with `socketGroup`,
   * the socket belongs to that group with mode 0660 (every request is still checked
   * against the policy: the mode only decides who may knock).
   */
  static async listen(
    path: string,
    handler: RequestHandler,
    hello: () => Omit<HelloResult, "version">,
    socketGroup: number | null = null,
  ): Promise<ControlServer> {
    try {
      Deno.removeSync(path);
    } catch { /* no stale socket */ }
    const listener = await PeerListener.listen(path);
    try {
      if (socketGroup === null) Deno.chmodSync(path, DEFAULTS.socketMode);
      else {
        Deno.chownSync(path, null, socketGroup);
        Deno.chmodSync(path, DEFAULTS.socketMode | 0o060);
      }
    } catch (err) {
      listener.close();
      throw err;
    }
    return new ControlServer(listener, handler, hello);
  }

  async #accept(): Promise<void> {
    for (;;) {
      let conn: Transport & Partial<Peer> & { credentials?: PeerCredentials | null };
      try {
        conn = await this.#listener.accept();
      } catch {
        return;
      }
      this.#serve(new Connection(conn));
    }
  }

  async #serve(c: Connection): Promise<void> {
    this.connections.add(c);
    let greeted = false;
    try {
      for await (const line of c.lines()) {
        if (!greeted) {
          greeted = await this.#greet(c, line);
          if (!greeted) break;
          continue;
        }
        let req: Request;
        try {
          req = decodeRequest(line);
        } catch (err) {
          c.send(errorResponse(requestId(line), toHamError(err, "EPROTO")));
          continue;
        }
        const { role, identity } = c.peer;
        if (role !== null && !roleAllows(role, req.op)) {
          const need = roleNeeded(req.op);
          c.send(errorResponse(
            req.id,
            new HamError(
              "EPERM",
              `Cannot "${req.op}": it needs role ${need}, and "${identity}" has role ${role}`,
            ),
          ));
          continue;
        }
        this.#handler(req, c).then(
          (result) => c.send(encodeResponse({ id: req.id, ok: true, result })),
          (err) => c.send(errorResponse(req.id, toHamError(err))),
        );
      }
    } finally {
      this.connections.delete(c);
      c.close();
    }
  }

  async #greet(c: Connection, line: string): Promise<boolean> {
    let req: Request;
    try {
      req = decodeRequest(line);
    } catch (err) {
      await c.send(errorResponse(requestId(line), toHamError(err, "EPROTO")));
      return false;
    }
    if (c.peer.refusal) {
      await c.send(errorResponse(req.id, c.peer.refusal));
      return false;
    }
    if (req.op !== "hello") {
      await c.send(
        errorResponse(req.id, new HamError("EPROTO", `Expected hello, got "${req.op}"`)),
      );
      return false;
    }
    if (req.version !== PROTOCOL_VERSION) {
      await c.send(errorResponse(
        req.id,
        new HamError(
          "EPROTO",
          `Protocol version ${req.version} is not supported: this HAM speaks ${PROTOCOL_VERSION}`,
        ),
      ));
      return false;
    }
    c.pid = req.pid;
    c.client = req.client;
    await c.send({ id: req.id, ok: true, result: { version: PROTOCOL_VERSION, ...this.#hello() } });
    return true;
  }

  /** Stops accepting and closes every connection. */
  async close(): Promise<void> {
    try {
      this.#listener.close();
    } catch { /* already closed */ }
    for (const c of this.connections) c.close();
    await this.#accepting;
  }
}
