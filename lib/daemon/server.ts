/**
 * The control socket: accepts connections on `<state-dir>/ham.sock` (mode 0600, or 0660
 * for a `socketGroup`), knows each local client's peer credentials (uid, gid, groups and
 * pid from the kernel, {@linkcode PeerListener}), checks
 * the hello handshake, decodes each line with `decodeRequest`, passes requests to a
 * handler and writes the responses. Bad input gets an errno-style error or a clean
 * close; it never throws out of here.
 *
 * What one client can cost the HAM is bounded ({@linkcode ServerLimits}, from the defaults
 * table): the number of connections, the time to say hello, the requests in flight and the
 * unsent output of a connection (reading its requests pauses while it does not read its
 * answers; past the cap it is told and closed). Running out of file descriptors does not
 * end the accept loop: a reserve descriptor is given up to accept and refuse the waiting
 * connection, and accepting resumes as soon as descriptors are free.
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
import { EncodedJson } from "../core/status_answer.ts";
import { DEFAULTS } from "../core/defaults.ts";
import { outOfDescriptors } from "../os/fd_reserve.ts";
import { type Role, roleAllows, roleNeeded, verbOf } from "../core/roles.ts";
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

/** Limits of the control server; each defaults to its row of `DEFAULTS`. */
export interface ServerLimits {
  /** Connections served at once; more are refused with ENOMEM. */
  maxConnections: number;
  /** Time a new connection has to send its hello, ms; then ETIMEDOUT and close. */
  helloTimeoutMs: number;
  /** Unsent output of one connection past which it is told (ENOMEM) and closed. */
  maxOutputBytes: number;
  /** Unsent output of one connection past which its requests are not read until it drains. */
  pauseReadingBytes: number;
  /** Requests of one connection being handled at once; reading pauses at this many. */
  maxRequestsInFlight: number;
}

/** The limits in the defaults table. */
export function defaultLimits(): ServerLimits {
  return {
    maxConnections: DEFAULTS.maxConnections,
    helloTimeoutMs: DEFAULTS.helloTimeoutMs,
    maxOutputBytes: DEFAULTS.maxOutputBytes,
    pauseReadingBytes: DEFAULTS.pauseReadingBytes,
    maxRequestsInFlight: DEFAULTS.maxRequestsInFlight,
  };
}

/** Where the server's warnings go. */
export type ServerLog = (level: "warn" | "info", message: string) => void;

/** How long a connection being refused or overflowing gets to take its last line, ms. */
const LAST_WORDS_MS = 1000;
/** Answers up to this size are gathered while corked; a bigger one is written as it is. */
const CORK_MAX_BYTES = 64 * 1024;
/** Lines of one connection handled before others get a turn of the event loop. */
const YIELD_EVERY_LINES = 32;
/** How long a connection refused for want of descriptors gets to send its hello, ms. */
const REFUSE_READ_MS = 200;

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
  /**
   * The caller may have the HAM run what it names (the `admin` role; set by the access
   * check before each request, true without one). A process that self-attaches without it
   * names no command: its command line is not recorded, for the HAM would run it as itself.
   */
  mayNameCommands = true;
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
  #limits: ServerLimits;
  #closedCtl = new AbortController();
  /** Resolved (and replaced) whenever the backlog shrinks or the connection closes. */
  #progress = Promise.withResolvers<void>();
  /** Requests being handled. */
  inFlight = 0;
  /** Called once when the output cap is passed. */
  onOverflow: (() => void) | null = null;
  /**
   * While set (the lines of one read are being handled), answers are gathered in
   * `#pending` and written together at the next flush: one `write` for a read's worth of
   * pipelined requests (heartbeats) instead of one each.
   */
  #corked = false;
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #pendingDone: PromiseWithResolvers<void> | null = null;

  constructor(
    conn: Transport & Partial<Peer> & { credentials?: PeerCredentials | null },
    limits: ServerLimits = defaultLimits(),
  ) {
    this.#conn = conn;
    this.credentials = conn.credentials ?? null;
    this.#limits = limits;
    this.peer = {
      identity: conn.identity ?? null,
      role: conn.role ?? null,
      refusal: conn.refusal ?? null,
    };
  }

  /** Bytes handed to {@linkcode Connection.send} and not yet written (a slow reader's backlog). */
  get queuedBytes(): number {
    return this.#queued;
  }

  /** True once closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Aborted when the connection closes: what it registered (waits) ends with it. */
  get signal(): AbortSignal {
    return this.#closedCtl.signal;
  }

  /**
   * Resolves once at most `bytes` are unsent (at once if so already), or the connection
   * closed: a producer (a catch-up replay) awaits it between chunks.
   */
  async drained(bytes = 0): Promise<void> {
    this.flush();
    while (!this.#closed && this.#queued > bytes) await this.#progress.promise;
  }

  #notify(): void {
    const p = this.#progress;
    this.#progress = Promise.withResolvers<void>();
    p.resolve();
  }

  /**
   * Sends one line (a response or a push); silently dropped after close. A line that would
   * take the unsent output past `maxOutputBytes` (a client that does not read) closes the
   * connection instead, after telling it why if it reads within a second.
   */
  send(obj: ServerLine | string): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return this.sendBytes(
      this.#encoder.encode((typeof obj === "string" ? obj : JSON.stringify(obj)) + "\n"),
    );
  }

  /**
   * Sends one line already encoded (its newline included), in pieces written in order, as
   * {@linkcode Connection.send}.
   */
  sendBytes(...pieces: Uint8Array[]): Promise<void> {
    if (this.#closed) return Promise.resolve();
    let n = 0;
    for (const p of pieces) n += p.length;
    if (this.#queued > 0 && this.#queued + n > this.#limits.maxOutputBytes) {
      this.#overflow();
      return Promise.resolve();
    }
    if (this.#corked && n <= CORK_MAX_BYTES) {
      for (const p of pieces) this.#pending.push(p);
      this.#pendingBytes += n;
      this.#queued += n;
      this.#pendingDone ??= Promise.withResolvers<void>();
      return this.#pendingDone.promise;
    }
    // A big answer (a full status) is written as it is, after what was gathered before it.
    this.flush();
    for (const p of pieces.slice(0, -1)) void this.#write(p);
    return this.#write(pieces.at(-1)!);
  }

  /** Writes the answers gathered while corked (see {@linkcode lines}), in one write. */
  flush(): void {
    if (this.#pending.length === 0) return;
    const parts = this.#pending;
    const total = this.#pendingBytes;
    const done = this.#pendingDone!;
    this.#pending = [];
    this.#pendingBytes = 0;
    this.#pendingDone = null;
    let bytes = parts[0];
    if (parts.length > 1) {
      bytes = new Uint8Array(total);
      let off = 0;
      for (const p of parts) {
        bytes.set(p, off);
        off += p.length;
      }
    }
    this.#queued -= total; // Counted again by #write.
    this.#write(bytes).then(done.resolve);
  }

  #write(bytes: Uint8Array): Promise<void> {
    this.#queued += bytes.length;
    // Written even when the connection is closed meanwhile: close() closes the socket after
    // the writes queued before it (the last event and `stopping` of a stop), or after a grace
    // when the client does not read them.
    this.#writes = this.#writes.then(async () => {
      try {
        let off = 0;
        while (off < bytes.length) off += await this.#conn.write(bytes.subarray(off));
      } catch {
        this.close();
      } finally {
        this.#queued -= bytes.length;
        this.#notify();
      }
    });
    return this.#writes;
  }

  #overflow(): void {
    this.onOverflow?.();
    const err = new HamError(
      "ENOMEM",
      `Closing the connection: more than ${this.#limits.maxOutputBytes} bytes of answers ` +
        `are unread`,
    );
    this.refuse(errorResponse(0, err));
  }

  /**
   * Queues a last line and closes: at once when it is written, or after a second when the
   * client does not read it (nothing more is read from it meanwhile).
   */
  refuse(last: Response): void {
    if (this.#closed) return;
    this.#corked = false;
    this.flush();
    this.#write(this.#encoder.encode(JSON.stringify(last) + "\n"));
    const timer = setTimeout(() => this.#hardClose(), LAST_WORDS_MS);
    this.#writes.finally(() => clearTimeout(timer));
    this.close();
  }

  #hardClose(): void {
    try {
      this.#conn.close();
    } catch { /* already closed */ }
  }

  /**
   * Resolves once the writes queued so far are handed to the kernel, or after the grace a
   * client that does not read gets (what a stop awaits before the process exits).
   */
  flushed(): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const grace = new Promise<void>((r) => timer = setTimeout(r, LAST_WORDS_MS));
    return Promise.race([this.#writes, grace]).finally(() => clearTimeout(timer));
  }

  /** Closes the connection (after pending writes). */
  close(): void {
    if (this.#closed) return;
    this.#corked = false;
    this.flush();
    this.#closed = true;
    this.#closedCtl.abort();
    this.#notify();
    this.#writes.finally(() => this.#hardClose());
    // A client that never reads would keep the writes pending: close after a grace.
    if (this.#queued > 0) {
      const timer = setTimeout(() => this.#hardClose(), LAST_WORDS_MS);
      this.#writes.finally(() => clearTimeout(timer));
    }
    for (const f of this.onClose.splice(0)) f();
  }

  /**
   * Reads lines until EOF; a line over the limit ends the connection with EMSGSIZE. Reading
   * pauses while the client's unsent answers pass `pauseReadingBytes` or its requests in
   * flight reach `maxRequestsInFlight` (backpressure instead of buffering). The answers
   * to the lines of one read are written together (corked), before the next read and
   * before any wait.
   */
  async *lines(): AsyncGenerator<string> {
    const decoder = new TextDecoder();
    const buf = new Uint8Array(64 * 1024);
    let pending = new Uint8Array(0);
    while (!this.#closed) {
      await this.#mayRead();
      if (this.#closed) return;
      let n: number | null;
      this.#corked = false;
      this.flush();
      try {
        n = await this.#conn.read(buf);
      } catch {
        return;
      }
      if (n === null) return;
      this.#corked = true;
      const chunk = new Uint8Array(pending.length + n);
      chunk.set(pending);
      chunk.set(buf.subarray(0, n), pending.length);
      let start = 0;
      for (let i = pending.length; i < chunk.length; i++) {
        if (chunk[i] !== 10) continue;
        const bytes = chunk.subarray(start, i);
        const line = decoder.decode(bytes).trim();
        start = i + 1;
        if (line.length === 0) continue;
        // The decoder puts U+FFFD in place of bytes that are not UTF-8: such a request is
        // refused, not carried out on a guess (a command line with a byte changed).
        if (line.includes("\uFFFD") && !isUtf8(bytes)) {
          this.send(errorResponse(
            requestId(line),
            new HamError("EPROTO", "Cannot parse request: not valid UTF-8"),
          ));
          continue;
        }
        // Backpressure between the lines of one read too (a read holds thousands of
        // pipelined requests), and a turn of the event loop for others every few lines.
        await this.#mayRead();
        if (this.#closed) return;
        if (++this.#sinceYield >= YIELD_EVERY_LINES) {
          this.#sinceYield = 0;
          this.flush();
          await new Promise((r) => setTimeout(r, 0));
        }
        yield line;
      }
      pending = chunk.slice(start);
      if (pending.length > DEFAULTS.maxLineBytes) {
        this.#corked = false;
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

  /** Resolves once this connection's requests may be read (see {@linkcode lines}). */
  async #mayRead(): Promise<void> {
    while (
      !this.#closed &&
      (this.#queued > this.#limits.pauseReadingBytes ||
        this.inFlight >= this.#limits.maxRequestsInFlight)
    ) {
      this.flush();
      await this.#progress.promise;
    }
  }

  #sinceYield = 0;

  /** A request finished: reading may resume. */
  settled(): void {
    this.inFlight--;
    this.#notify();
  }
}

/**
 * Handles one decoded request; resolves with its result or rejects with a HamError. A
 * result may come already encoded ({@linkcode EncodedJson}: the full status answer), and
 * is written as it is.
 */
export type RequestHandler = (
  req: Request,
  conn: Connection,
) => Promise<Results[Op] | EncodedJson>;

function errorResponse(id: number, err: HamError): Response {
  return { id, ok: false, error: { code: err.code, message: err.message } };
}

/** Sends `line` past the cork (the hello's answer is awaited before reading on). */
function sendNow(c: Connection, line: ServerLine): Promise<void> {
  const written = c.send(line);
  c.flush();
  return written;
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** True when `bytes` are well-formed UTF-8. */
function isUtf8(bytes: Uint8Array): boolean {
  try {
    strictUtf8.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

function requestId(line: string): number {
  const m = /"id"\s*:\s*(\d{1,15})/.exec(line);
  return m ? Number(m[1]) : 0;
}

/** Options of {@linkcode ControlServer.listen}. */
export interface ControlServerOptions {
  /** @default defaultLimits() */
  limits?: Partial<ServerLimits>;
  /** @default none */
  log?: ServerLog;
}

/** The listening control socket (or the TLS listener of `ham --listen`). */
export class ControlServer {
  #listener: Acceptor;
  #handler: RequestHandler;
  #hello: () => Omit<HelloResult, "version">;
  readonly connections = new Set<Connection>();
  readonly limits: ServerLimits;
  #log: ServerLog;
  #accepting: Promise<void>;
  #closing = false;
  /** Connections refused in the current out-of-descriptors episode (null: not in one). */
  #refusedForDescriptors: number | null = null;
  #refusedForCap: number | null = null;
  /**
   * The server's own reserve descriptor, given up to accept (and refuse) a connection when
   * out of them. Not the process-wide one of `fd_reserve.ts`: an accept can wait, and
   * `/proc` reads must not wait for it.
   */
  #reserve: Deno.FsFile | null = openReserve();

  /** Serves the connections `listener` accepts. */
  constructor(
    listener: Acceptor,
    handler: RequestHandler,
    hello: () => Omit<HelloResult, "version">,
    opts: ControlServerOptions = {},
  ) {
    this.#listener = listener;
    this.#handler = handler;
    this.#hello = hello;
    this.limits = { ...defaultLimits(), ...opts.limits };
    this.#log = opts.log ?? (() => {});
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
    opts: ControlServerOptions = {},
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
    return new ControlServer(listener, handler, hello, opts);
  }

  async #accept(): Promise<void> {
    while (!this.#closing) {
      let conn: Transport & Partial<Peer> & { credentials?: PeerCredentials | null };
      try {
        conn = await this.#listener.accept();
      } catch (err) {
        if (this.#closing) return;
        if (outOfDescriptors(err)) {
          await this.#refuseOne();
        } else {
          this.#log("warn", `Cannot accept a connection: ${(err as Error).message}`);
          await new Promise((r) => setTimeout(r, 100));
        }
        continue;
      }
      if (this.#refusedForDescriptors !== null) {
        // Accepted with the reserve held: descriptors are free again.
        this.#log(
          "info",
          `Accepting connections again (${this.#refusedForDescriptors} refused while out of ` +
            `file descriptors)`,
        );
        this.#refusedForDescriptors = null;
      }
      this.#reserve ??= openReserve();
      if (this.connections.size >= this.limits.maxConnections) {
        this.#refuseOverCap(conn);
        continue;
      }
      const c = new Connection(conn, this.limits);
      if (this.#refusedForCap !== null) {
        this.#log(
          "info",
          `Accepting connections again (${this.#refusedForCap} refused over the cap)`,
        );
        this.#refusedForCap = null;
      }
      this.#serve(c);
    }
  }

  /** Out of descriptors: free the reserve, accept the waiting connection, refuse it. */
  async #refuseOne(): Promise<void> {
    if (this.#refusedForDescriptors === null) {
      this.#refusedForDescriptors = 0;
      this.#log(
        "warn",
        "Out of file descriptors: refusing new connections until some are free",
      );
    }
    if (this.#reserve === null) {
      // No reserve to give up (it could not be taken back): wait for descriptors to free.
      await new Promise((r) => setTimeout(r, 50));
      this.#reserve = openReserve();
      return;
    }
    // Accept, answer and close within the reserve's descriptor, so it is free again after.
    this.#reserve.close();
    this.#reserve = null;
    const conn = await this.#listener.accept().catch(() => null);
    if (conn !== null) {
      await refuseConn(
        conn,
        new HamError("ENOMEM", "The HAM is out of file descriptors: try again later"),
        REFUSE_READ_MS,
      );
      this.#refusedForDescriptors!++;
    }
    this.#reserve = await retakeReserve();
  }

  #refuseOverCap(conn: Transport): void {
    if (this.#refusedForCap === null) {
      this.#refusedForCap = 0;
      this.#log(
        "warn",
        `Refusing connections: ${this.connections.size} are open (maxConnections)`,
      );
    }
    this.#refusedForCap++;
    refuseConn(
      conn,
      new HamError(
        "ENOMEM",
        `Too many connections: ${this.connections.size} are open, the limit is ` +
          `${this.limits.maxConnections}`,
      ),
      LAST_WORDS_MS,
    );
  }

  async #serve(c: Connection): Promise<void> {
    this.connections.add(c);
    c.onOverflow = () =>
      this.#log(
        "warn",
        `Closing connection ${c.id} (${c.client}, pid ${c.pid ?? "?"}): more than ` +
          `${this.limits.maxOutputBytes} bytes of answers unread`,
      );
    let greeted = false;
    const helloTimer = setTimeout(() => {
      if (greeted) return;
      c.refuse(errorResponse(
        0,
        new HamError("ETIMEDOUT", `No hello within ${this.limits.helloTimeoutMs} ms`),
      ));
    }, this.limits.helloTimeoutMs);
    try {
      for await (const line of c.lines()) {
        if (!greeted) {
          greeted = await this.#greet(c, line);
          clearTimeout(helloTimer);
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
        if (role !== null && !roleAllows(role, verbOf(req))) {
          const need = roleNeeded(verbOf(req));
          c.send(errorResponse(
            req.id,
            new HamError(
              "EPERM",
              `Cannot "${req.op}": it needs role ${need}, and "${identity}" has role ${role}`,
            ),
          ));
          continue;
        }
        c.inFlight++;
        this.#handler(req, c).then(
          (result) => {
            // A beat that asked for no answer is answered only when refused.
            if (req.op === "heartbeat" && !req.reply) return;
            if (result instanceof EncodedJson) c.sendBytes(...result.response(req.id));
            else c.send(encodeResponse({ id: req.id, ok: true, result }));
          },
          (err) => c.send(errorResponse(req.id, toHamError(err))),
        ).finally(() => c.settled());
      }
    } finally {
      clearTimeout(helloTimer);
      this.connections.delete(c);
      c.close();
    }
  }

  async #greet(c: Connection, line: string): Promise<boolean> {
    let req: Request;
    try {
      req = decodeRequest(line);
    } catch (err) {
      await sendNow(c, errorResponse(requestId(line), toHamError(err, "EPROTO")));
      return false;
    }
    if (c.peer.refusal) {
      await sendNow(c, errorResponse(req.id, c.peer.refusal));
      return false;
    }
    if (req.op !== "hello") {
      await sendNow(
        c,
        errorResponse(req.id, new HamError("EPROTO", `Expected hello, got "${req.op}"`)),
      );
      return false;
    }
    if (req.version !== PROTOCOL_VERSION) {
      await sendNow(
        c,
        errorResponse(
          req.id,
          new HamError(
            "EPROTO",
            `Protocol version ${req.version} is not supported: this HAM speaks ${PROTOCOL_VERSION}`,
          ),
        ),
      );
      return false;
    }
    c.pid = req.pid;
    c.client = req.client;
    await sendNow(c, {
      id: req.id,
      ok: true,
      result: { version: PROTOCOL_VERSION, ...this.#hello() },
    });
    return true;
  }

  /** Stops accepting and closes every connection. */
  async close(): Promise<void> {
    this.#closing = true;
    try {
      this.#listener.close();
    } catch { /* already closed */ }
    const open = [...this.connections];
    for (const c of open) c.close();
    // The last lines (a stop's last event and `stopping`) reach the clients before the
    // process can exit.
    await Promise.all(open.map((c) => c.flushed()));
    await this.#accepting;
    try {
      this.#reserve?.close();
    } catch { /* already closed */ }
    this.#reserve = null;
  }
}

/**
 * Refuses a connection that is not served: reads what it sent within `waitMs` (its hello,
 * normally there already), answers that request's id (0 if none came) with `err`, and
 * closes. Reading first matters: closing a socket with unread data resets it, and the client
 * would see a reset instead of the reason.
 */
async function refuseConn(conn: Transport, err: HamError, waitMs: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const within = <T>(p: Promise<T>, fallback: T) =>
    Promise.race([
      p.catch(() => fallback),
      new Promise<T>((r) => timer = setTimeout(() => r(fallback), waitMs)),
    ])
      .finally(() => clearTimeout(timer));
  const buf = new Uint8Array(4096);
  const n = await within(conn.read(buf), null);
  const first = n === null ? "" : new TextDecoder().decode(buf.subarray(0, n)).split("\n")[0];
  const line = JSON.stringify(errorResponse(requestId(first), err)) + "\n";
  await within(conn.write(new TextEncoder().encode(line)), 0);
  try {
    conn.close();
  } catch { /* already closed */ }
}

/**
 * The reserve descriptor again, after the connection refused with it was closed: a socket's
 * descriptor is released a moment after its close, so a few short tries (null if another
 * part of the process took it first).
 */
async function retakeReserve(): Promise<Deno.FsFile | null> {
  for (let i = 0; i < 10; i++) {
    const fd = openReserve();
    if (fd !== null) return fd;
    await new Promise((r) => setTimeout(r, 5));
  }
  return null;
}

/** A reserve descriptor (`/dev/null`), or null when none can be opened now. */
function openReserve(): Deno.FsFile | null {
  try {
    return Deno.openSync("/dev/null", { read: true });
  } catch {
    return null;
  }
}
