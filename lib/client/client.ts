/**
 * The client side of the control protocol: one Unix-socket connection to the HAM,
 * the `hello` handshake, requests multiplexed by id, and pushed lines. `hamctl` and
 * the public library (`mod.ts`) both talk to the HAM through {@linkcode HamClient}.
 *
 * @module
 */

import { HamError, isErrorCode } from "../core/errors.ts";
import {
  type HelloResult,
  type Op,
  PROTOCOL_VERSION,
  type Push,
  type Requests,
  type Results,
} from "../core/protocol.ts";
import { resolveStateDir, socketPath } from "../os/state_dir.ts";
import { DEFAULTS } from "../core/defaults.ts";
import { checkFinite } from "../core/requests.ts";
import type { ByteConn, Dialer } from "./node_dialer.ts";

/**
 * Options of {@linkcode HamClient.connect}.
 *
 * @example
 * ```ts
 * import type { ConnectOptions } from "./client.ts";
 *
 * // The HAM of a temporary state directory, with a 5 s limit per request.
 * const local: ConnectOptions = { stateDir: "/tmp/ham-demo", client: "deploy", timeoutMs: 5_000 };
 * // The HAM of node "n2" of the nodes file, over mutual TLS.
 * const remote: ConnectOptions = { node: "n2", nodes: "/etc/ham/nodes.yaml" };
 * console.log(local.client, remote.node); // "deploy n2"
 * ```
 */
export interface ConnectOptions {
  /** The state directory of the HAM. @default {resolveStateDir()} */
  stateDir?: string;
  /** A short name of the client, shown in the HAM's log. @default {"lib"} */
  client?: string;
  /** Time limit for the handshake and, by default, for each request, in ms; 0 = none. @default {30000} */
  timeoutMs?: number;
  /**
   * The HAM of another node, by its name in the nodes file, reached over mutual TLS
   * (`ham --listen`); `stateDir` then only locates the default nodes file.
   */
  node?: string;
  /** The nodes file. @default {$HAM_NODES, else `<state-dir>/nodes.yaml`} */
  nodes?: string;
  /**
   * Starts the timer of a request's time limit. @default {a `setTimeout`} (`hamctl` passes
   * one on `AbortSignal.timeout`: Deno's `setTimeout` is Node's, and its first use loads
   * the `node:` compatibility layer, ~15 ms of a short-lived process)
   */
  startTimer?: (ms: number, onExpire: () => void) => () => void;
}

/** Calls `onExpire` after `ms` unless the returned function is called first. */
export type StartTimer = (ms: number, onExpire: () => void) => () => void;

function startTimeout(ms: number, onExpire: () => void): () => void {
  const timer = setTimeout(onExpire, ms);
  return () => clearTimeout(timer);
}

/**
 * Options of one request.
 *
 * @example
 * ```ts
 * import type { RequestOptions } from "./client.ts";
 *
 * // A `wait` that may take a minute overrides the connection's limit for that one request.
 * const opts: RequestOptions = { timeoutMs: 60_000 };
 * console.log(opts.timeoutMs); // 60000
 * ```
 */
export interface RequestOptions {
  /** Time limit in ms; 0 = none. @default {the connection's `timeoutMs`} */
  timeoutMs?: number;
}

/**
 * The arguments of a request after its operation: its fields (see {@linkcode Requests}),
 * which may be left out when none is required, and options.
 */
export type RequestArgs<O extends keyof Requests> = Record<never, never> extends Requests[O]
  ? [fields?: Requests[O], opts?: RequestOptions]
  : [fields: Requests[O], opts?: RequestOptions];

/** Sends one request of the contract and resolves with its result. */
type Requester = <O extends Op>(op: O, ...args: RequestArgs<O>) => Promise<Results[O]>;

/**
 * Options of {@linkcode HamClient.reconnect}.
 *
 * @example
 * ```ts
 * import type { ReconnectOptions } from "./client.ts";
 *
 * // Try for 10 s; on each new connection, attach this process again before anything else.
 * const opts: ReconnectOptions = {
 *   totalMs: 10_000,
 *   onReconnect: async (request) => {
 *     await request("attach-self", { entity: "worker", pid: Deno.pid });
 *   },
 * };
 * console.log(opts.totalMs); // 10000
 * ```
 */
export interface ReconnectOptions {
  /** Give up after this long without a connection, in ms. @default {30000} */
  totalMs?: number;
  /**
   * Runs on each new connection before the requests made meanwhile go out, with a
   * `request` that bypasses that queue (re-attaching self-attached entities). Throwing
   * ECONNRESET from it means the new connection was lost too: it is retried.
   */
  onReconnect?: (request: HamClient["request"]) => Promise<void>;
}

/**
 * What {@linkcode HamClient.subscribe} answers.
 *
 * @example
 * ```ts
 * import type { HamClient, SubscriptionHandle } from "./client.ts";
 *
 * // Prints the next event's type, then stops listening.
 * export async function firstEvent(client: HamClient): Promise<void> {
 *   const { promise, resolve } = Promise.withResolvers<void>();
 *   const handle: SubscriptionHandle = await client.subscribe({}, (push) => {
 *     if (push.type === "event") console.log(push.event.type);
 *     resolve();
 *   });
 *   console.log(`from #${handle.since}`);
 *   await promise;
 *   handle.close();
 * }
 * ```
 */
export interface SubscriptionHandle {
  /** The first sequence number the subscription covers. */
  since: number;
  /**
   * Stops passing its pushes on, and tells the HAM to end the subscription (`unsubscribe`,
   * not waited for; a HAM that does not know the operation ends it with the connection).
   * `next`, the first sequence number the caller did not take, lets a named channel
   * subscriber get again, when it comes back, what was pushed after it.
   */
  close(next?: number): void;
}

/** A subscription of this client: how to open it again on a new connection. */
interface Sub {
  fields: Requests["subscribe"];
  onPush: (push: Push) => void;
  /** The sequence number to resume from. */
  next: number | null;
}

interface Pending {
  op: string;
  resolve: (value: unknown) => void;
  reject: (err: HamError) => void;
  /** Stops the timer of its time limit. */
  cancel: (() => void) | undefined;
  /** Written to a connection: lost with it. */
  sent: boolean;
}

const encoder = new TextEncoder();
/**
 * The size of each read from the socket: a big answer (a full status at 10,000 entities is
 * ~4 MiB) takes a quarter of the reads of 64 KiB, each an async op of Deno; pages are only
 * touched as far as the data read.
 */
const READ_BUFFER_BYTES = 256 * 1024;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function dial(path: string): Promise<Deno.Conn> {
  try {
    return await Deno.connect({ transport: "unix", path });
  } catch (err) {
    if (err instanceof Deno.errors.PermissionDenied || err instanceof Deno.errors.NotCapable) {
      throw new HamError(
        "EPERM",
        `Cannot connect to the HAM at "${path}": permission denied (${
          err instanceof Deno.errors.NotCapable ? "Deno permission" : "socket or directory mode"
        }: ${err.message})`,
        { cause: err },
      );
    }
    const why = err instanceof Deno.errors.NotFound || err instanceof Deno.errors.ConnectionRefused
      ? "not running"
      : err instanceof Error
      ? err.message
      : String(err);
    throw new HamError("EBADF", `Cannot connect to the HAM at "${path}": ${why}`, { cause: err });
  }
}

/**
 * A connection to the HAM. Requests may be issued concurrently: each gets an id and the
 * answers are matched by id, in whatever order they come.
 *
 * With {@linkcode HamClient.reconnect} on (the library turns it on for a connection that
 * self-attached), a connection lost without a `stopping` notice (the HAM died, and its
 * Guardian is taking over) is re-established on the same socket path, with backoff, for a
 * bounded time; requests in flight when it was lost fail with ECONNRESET, requests made
 * meanwhile wait for the new connection.
 *
 * @example
 * ```ts
 * import { HamClient } from "./client.ts";
 *
 * export async function ping(stateDir: string): Promise<unknown> {
 *   await using client = await HamClient.connect({ stateDir });
 *   return await client.request("ping"); // { pong: true }
 * }
 * ```
 */
export class HamClient implements AsyncDisposable {
  /** The socket this client is connected to ("" for a remote node). */
  readonly socketPath: string;
  /** What it is connected to, for messages: the socket path, or `node "NAME" (ADDRESS)`. */
  readonly address: string;
  /** Resolves when the connection has ended for good, whichever side ended it. */
  readonly closed: Promise<void>;
  #closed = Promise.withResolvers<void>();
  #conn: ByteConn;
  #generation = 0;
  #dial: Dialer;
  /** The read loop of `#conn`. */
  #loop: Promise<void>;
  #name: string;
  #timeoutMs: number;
  #startTimer: StartTimer;
  #nextId = 1;
  #pending = new Map<number, Pending>();
  /** Ids of the last requests sent without a reply wanted ({@linkcode post}), oldest first. */
  #unanswered = new Set<number>();
  /** A refusal of one of them, not yet reported. */
  #refusal: HamError | null = null;
  #pushed = new Set<ReadableStreamDefaultController<Push>>();
  /** Open subscriptions by the id of the request that opened them on this connection. */
  #subs = new Map<number, Sub>();
  #writing: Promise<void> = Promise.resolve();
  /**
   * Requests waiting for the write in progress, and the connection they are for: written
   * together by the next write (requests made in one turn cost one write, and the HAM one
   * read: a process beating for many entities wakes it once, not once per entity).
   */
  #batch: { conn: ByteConn; parts: Uint8Array[]; written: Promise<void> } | null = null;
  #ended: HamError | null = null;
  #server: HelloResult | null = null;
  #reconnect: ReconnectOptions | null = null;
  /** Settles once a lost connection is replaced (true) or given up on (false). */
  #reconnecting: Promise<boolean> | null = null;
  /** The HAM said it is stopping: a lost connection is not re-established. */
  #stopping = false;

  private constructor(
    conn: ByteConn,
    path: string,
    opts: ConnectOptions,
    remote?: { address: string; dial: Dialer },
  ) {
    this.#conn = conn;
    this.socketPath = path;
    this.address = remote?.address ?? path;
    this.#dial = remote?.dial ?? (() => dial(path));
    this.#name = opts.client ?? "lib";
    this.#timeoutMs = opts.timeoutMs ?? DEFAULTS.requestTimeoutMs;
    this.#startTimer = opts.startTimer ?? startTimeout;
    this.closed = this.#closed.promise;
    this.#loop = this.#readLoop(conn);
  }

  /**
   * Connects to the HAM of a state directory and performs the `hello` handshake.
   * Throws EBADF when no HAM is listening, EPROTO on a protocol version mismatch.
   */
  static async connect(opts: ConnectOptions = {}): Promise<HamClient> {
    if (opts.node !== undefined) {
      const { remoteDialer } = await import("./node_dialer.ts");
      const remote = await remoteDialer(opts.node, opts);
      const started = performance.now();
      return await HamClient.#over(await remote.dial(), "", opts, remote, started);
    }
    const path = socketPath(resolveStateDir(opts.stateDir));
    return await HamClient.#over(await dial(path), path, opts);
  }

  /**
   * Connects through a dialer of another node's HAM resolved elsewhere (the HAM's node
   * forwarder, for a node the cluster's registry knows); `where` names it in messages.
   */
  static async connectThrough(
    remote: { address: string; dial: Dialer },
    opts: ConnectOptions = {},
  ): Promise<HamClient> {
    const started = performance.now();
    return await HamClient.#over(await remote.dial(), "", opts, remote, started);
  }

  static async #over(
    conn: ByteConn,
    path: string,
    opts: ConnectOptions,
    remote?: { address: string; dial: Dialer },
    started = performance.now(),
  ): Promise<HamClient> {
    const client = new HamClient(conn, path, opts, remote);
    try {
      await client.#hello(remote ? client.#remoteHelloMs(started) : client.#timeoutMs);
      return client;
    } catch (err) {
      client.close();
      await client.closed;
      if (err instanceof HamError && err.code === "ECONNRESET") {
        throw new HamError(
          remote ? "EHOSTUNREACH" : "EBADF",
          `Cannot connect to the HAM at ${client.#where}: ${err.message}`,
          { cause: err },
        );
      }
      throw err;
    }
  }

  /** True when connected to another node's HAM over TLS. */
  get remote(): boolean {
    return this.socketPath === "";
  }

  get #where(): string {
    return this.remote ? this.address : `"${this.address}"`;
  }

  /**
   * Changes whenever what the HAM gave this client's connection (heartbeat slots) stops
   * being good: when the connection is lost, when it is replaced, when the client ends.
   */
  get generation(): number {
    return this.#generation;
  }

  /** The HAM's answer to `hello`: protocol version and the pids of the HAM and its Guardian. */
  get server(): Results["hello"] {
    return this.#server!;
  }

  /**
   * Turns reconnection on (with options) or off (`null`). Off by default: a lost
   * connection ends the client, as in QNX for clients that are not self-attached.
   */
  reconnect(options: ReconnectOptions | null): void {
    this.#reconnect = options;
  }

  /**
   * Sends one request and resolves with its result. An error answer is thrown as a
   * {@linkcode HamError} with the code the HAM sent; a connection lost under it as
   * ECONNRESET; a request made once the connection has ended (lost, or closed) as EBADF;
   * no answer in time as ETIMEDOUT.
   */
  request<O extends keyof Requests>(
    op: O,
    ...[fields, opts]: Record<never, never> extends Requests[O]
      ? [fields?: Requests[O], opts?: RequestOptions]
      : [fields: Requests[O], opts?: RequestOptions]
  ): Promise<Results[O]> {
    const timeoutMs = opts?.timeoutMs ?? this.#timeoutMs;
    try {
      if (fields) checkFinite(op, fields);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#send<Results[O]>(this.#nextId++, op, fields ?? {}, timeoutMs, false);
  }

  /**
   * Sends a request that is answered only when refused (a `heartbeat` with `reply: false`):
   * resolves once it is handed to the socket. When the HAM refuses one, the next `post`
   * rejects with that error (each refusal is reported once; the
   * `DEFAULTS.unansweredRequestsTracked` most recent requests are recognized).
   */
  async post(op: "heartbeat", fields: Requests["heartbeat"] & { reply: false }): Promise<void> {
    if (this.#refusal) {
      const refused = this.#refusal;
      this.#refusal = null;
      throw refused;
    }
    if (this.#reconnecting) await this.#reconnecting;
    if (this.#ended) throw this.#endedError("heartbeat");
    const id = this.#nextId++;
    this.#unanswered.add(id);
    if (this.#unanswered.size > DEFAULTS.unansweredRequestsTracked) {
      this.#unanswered.delete(this.#unanswered.values().next().value!);
    }
    const conn = this.#conn;
    const bytes = encoder.encode(JSON.stringify({ ...fields, id, op }) + "\n");
    await this.#queueWrite(conn, bytes);
  }

  /**
   * Opens a subscription (the `subscribe` request with `fields`): every push that carries
   * its id goes to `onPush`, including those the HAM sends before it answers (what is
   * already past). With reconnection on, a lost connection's subscriptions are opened
   * again on the new one from the sequence number after the last event received, so
   * nothing is lost or repeated across a takeover. A subscription that ends (an `ended`
   * push) is not opened again.
   */
  async subscribe(
    fields: Requests["subscribe"],
    onPush: (push: Push) => void,
  ): Promise<SubscriptionHandle> {
    checkFinite("subscribe", fields);
    const sub: Sub = { fields, onPush, next: null };
    const id = this.#nextId++;
    this.#subs.set(id, sub);
    let since: number;
    try {
      ({ since } = await this.#send<Results["subscribe"]>(
        id,
        "subscribe",
        fields,
        this.#timeoutMs,
        false,
      ));
    } catch (err) {
      this.#subs.delete(id);
      throw err;
    }
    sub.next ??= since;
    return { since, close: (next) => this.#unsubscribe(sub, next) };
  }

  /** Forgets `sub`; answers the id it has on the connection, or null when it had none. */
  #dropSub(sub: Sub): number | null {
    for (const [id, s] of this.#subs) {
      if (s === sub) {
        this.#subs.delete(id);
        return id;
      }
    }
    return null;
  }

  /**
   * Forgets `sub` and asks the HAM to end it, without waiting: the answer (or an error: a
   * HAM that does not know `unsubscribe` ends it with the connection) changes nothing. Not
   * sent for a subscription the HAM ended, nor once the client has ended.
   */
  #unsubscribe(sub: Sub, next: number | undefined): void {
    const id = this.#dropSub(sub);
    if (id === null || this.#ended) return;
    const fields: Requests["unsubscribe"] = next === undefined ? { sub: id } : { sub: id, next };
    this.#send(this.#nextId++, "unsubscribe", fields, this.#timeoutMs, false).catch(() => {});
  }

  /** Opens the subscriptions again on a new connection, where the old one stopped. */
  async #resubscribe(): Promise<void> {
    const subs = [...new Set(this.#subs.values())].map((sub) => ({ id: this.#nextId++, sub }));
    this.#subs = new Map(subs.map(({ id, sub }) => [id, sub]));
    for (const { id, sub } of subs) {
      if (this.#subs.get(id) !== sub) continue; // Closed meanwhile.
      const fields = { ...sub.fields, since: sub.next ?? sub.fields.since ?? null };
      await this.#send(id, "subscribe", fields, this.#timeoutMs, true);
    }
  }

  /**
   * The lines the HAM pushes without a request (the value of their `push` field), from
   * now on, until the client ends (a reconnection does not end them). Each call returns an
   * independent iterator.
   */
  pushes(): AsyncIterableIterator<Push> {
    let controller!: ReadableStreamDefaultController<Push>;
    const stream = new ReadableStream<Push>({
      start: (c) => void (controller = c),
      cancel: () => void this.#pushed.delete(controller),
    });
    if (this.#ended) controller.close();
    else this.#pushed.add(controller);
    return stream.values();
  }

  /** Closes the connection; requests still waiting fail with ECONNRESET. */
  close(): void {
    this.#end(
      new HamError("ECONNRESET", `Closed the connection to the HAM at ${this.#where}`),
    );
  }

  /** Closes the connection and waits until it has ended. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    await this.closed;
  }

  /**
   * The time left for the `hello` of another node's HAM: the connection and its answer are
   * under `nodeConnectTimeoutMs` from `started` (a peer that completes the TLS handshake and
   * never answers is unreachable, not slow), and never more than the request timeout.
   */
  #remoteHelloMs(started: number): number {
    const left = DEFAULTS.nodeConnectTimeoutMs - (performance.now() - started);
    const ms = Math.max(1, Math.ceil(left));
    return this.#timeoutMs > 0 ? Math.min(ms, this.#timeoutMs) : ms;
  }

  async #hello(timeoutMs = this.#timeoutMs): Promise<void> {
    const fields: Requests["hello"] = {
      version: PROTOCOL_VERSION,
      client: this.#name,
      pid: Deno.pid,
    };
    const hello = await this.#send<HelloResult>(0, "hello", fields, timeoutMs, true).catch(
      (err) => {
        if (!(this.remote && err instanceof HamError && err.code === "ETIMEDOUT")) throw err;
        throw new HamError(
          "EHOSTUNREACH",
          `Cannot reach ${this.#where}: no answer to "hello" in ${timeoutMs} ms`,
          { cause: err },
        );
      },
    );
    if (hello?.version !== PROTOCOL_VERSION || typeof hello.hamPid !== "number") {
      throw new HamError(
        "EPROTO",
        `Cannot talk to the HAM at ${this.#where}: it speaks protocol ${hello?.version}, not ${PROTOCOL_VERSION}`,
      );
    }
    this.#server = hello;
  }

  /** `direct`: write now even while reconnecting (the handshake and re-attaching). */
  #send<T>(id: number, op: Op, fields: object, timeoutMs: number, direct: boolean): Promise<T> {
    if (this.#ended) return Promise.reject(this.#endedError(op));
    const { promise, resolve, reject } = Promise.withResolvers<T>();
    const cancel = timeoutMs > 0
      ? this.#startTimer(timeoutMs, () => {
        this.#pending.delete(id);
        reject(new HamError("ETIMEDOUT", `Timed out after ${timeoutMs} ms waiting for "${op}"`));
      })
      : undefined;
    const pending: Pending = {
      op,
      resolve: resolve as (v: unknown) => void,
      reject,
      cancel,
      sent: false,
    };
    this.#pending.set(id, pending);
    const bytes = encoder.encode(JSON.stringify({ ...fields, id, op }) + "\n");
    const write = () => {
      if (this.#pending.get(id) !== pending) return; // Timed out or failed meanwhile.
      pending.sent = true;
      const conn = this.#conn;
      this.#queueWrite(conn, bytes);
    };
    if (this.#reconnecting && !direct) this.#reconnecting.then((ok) => ok && write());
    else write();
    return promise;
  }

  /**
   * The error of a request made once the connection has ended: EBADF, no valid connection
   * (QNX's code for it), with why it ended. A request it was lost under got ECONNRESET.
   */
  #endedError(op: string): HamError {
    const ended = this.#ended!;
    return new HamError(
      "EBADF",
      `Cannot send "${op}" to the HAM at ${this.#where}: the connection has ended (${ended.code}: ${ended.message})`,
      { cause: ended },
    );
  }

  /** Writes `bytes` to `conn` after the writes before it, with the others queued meanwhile. */
  #queueWrite(conn: ByteConn, bytes: Uint8Array): Promise<void> {
    if (this.#batch?.conn === conn) {
      this.#batch.parts.push(bytes);
      return this.#batch.written;
    }
    const batch = { conn, parts: [bytes], written: Promise.resolve() };
    this.#batch = batch;
    batch.written = this.#writing = this.#writing.then(() => {
      if (this.#batch === batch) this.#batch = null;
      const { parts } = batch;
      let all = parts[0];
      if (parts.length > 1) {
        all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
        let off = 0;
        for (const p of parts) {
          all.set(p, off);
          off += p.length;
        }
      }
      return this.#writeAll(conn, all);
    }).catch((err) => {
      this.#lost(conn, new HamError("ECONNRESET", `Lost the connection to the HAM: ${err}`));
    });
    return batch.written;
  }

  async #writeAll(conn: ByteConn, bytes: Uint8Array): Promise<void> {
    for (let off = 0; off < bytes.length && !this.#ended && conn === this.#conn;) {
      off += await conn.write(bytes.subarray(off));
    }
  }

  async #readLoop(conn: ByteConn): Promise<void> {
    const decoder = new TextDecoder();
    let failure = new HamError(
      "ECONNRESET",
      `Lost the connection to the HAM at ${this.#where}`,
    );
    try {
      // conn.read, not conn.readable: web streams cost a short-lived `hamctl` ~9 ms of CPU.
      const buffer = new Uint8Array(READ_BUFFER_BYTES);
      // A long line (a full status at 10,000 entities is ~4 MiB) comes in many reads: its
      // pieces are kept apart and joined once, not concatenated and split at every read.
      const pieces: string[] = [];
      for (let n = await conn.read(buffer); n !== null; n = await conn.read(buffer)) {
        const text = decoder.decode(buffer.subarray(0, n), { stream: true });
        let start = 0;
        for (let nl = text.indexOf("\n"); nl >= 0; nl = text.indexOf("\n", start)) {
          pieces.push(text.slice(start, nl));
          const line = pieces.length === 1 ? pieces[0] : pieces.join("");
          pieces.length = 0;
          start = nl + 1;
          if (line.trim() !== "") this.#onLine(line);
        }
        if (start < text.length) pieces.push(text.slice(start));
      }
    } catch (err) {
      if (err instanceof HamError) failure = err;
    }
    this.#lost(conn, failure);
  }

  /**
   * A connection ended (EOF, an error, a protocol violation): what was sent on it fails;
   * then the client ends, or reconnects when that is on and the HAM did not say it stops.
   */
  #lost(conn: ByteConn, reason: HamError): void {
    if (this.#ended || conn !== this.#conn) return;
    // What the HAM gave this connection (heartbeat slots) is not to be used any more.
    this.#generation++;
    if (!this.#reconnect || this.#stopping || reason.code !== "ECONNRESET") {
      return this.#end(reason);
    }
    try {
      conn.close();
    } catch { /* already closed by the peer */ }
    for (const [id, p] of this.#pending) {
      if (!p.sent) continue;
      this.#pending.delete(id);
      p.cancel?.();
      p.reject(reason);
    }
    this.#reconnecting ??= this.#reestablish(reason).then((ok) => {
      this.#reconnecting = null;
      return ok;
    });
  }

  async #reestablish(reason: HamError): Promise<boolean> {
    // Monotonic: a step of the wall clock neither ends the reconnection early nor stretches it.
    const deadline = performance.now() + (this.#reconnect?.totalMs ?? DEFAULTS.reconnectWithinMs);
    for (let delay = 5; !this.#ended && this.#reconnect && performance.now() < deadline;) {
      let conn: ByteConn | null = null;
      try {
        conn = await this.#dial();
        if (this.#ended) {
          conn.close();
          break;
        }
        this.#conn = conn;
        this.#loop = this.#readLoop(conn);
        await this.#hello(this.remote ? this.#remoteHelloMs(performance.now()) : this.#timeoutMs);
        const direct: Requester = (op, ...[fields, opts]) =>
          this.#send(this.#nextId++, op, fields ?? {}, opts?.timeoutMs ?? this.#timeoutMs, true);
        await this.#reconnect?.onReconnect?.(direct);
        await this.#resubscribe();
        return true;
      } catch (err) {
        if (err instanceof HamError && err.code === "EPROTO") reason = err;
        try {
          conn?.close(); // Its read loop then ends, failing what was sent on it.
        } catch { /* already closed */ }
        await sleep(delay);
        delay = Math.min(delay * 2, 250);
      }
    }
    this.#end(
      new HamError(
        "ECONNRESET",
        `Lost the connection to the HAM at ${this.#where} and could not reconnect: ` +
          reason.message,
      ),
    );
    return false;
  }

  #onLine(line: string): void {
    let msg: unknown;
    try {
      msg = JSON.parse(line);
    } catch {
      throw new HamError("EPROTO", `Cannot parse a line from the HAM: ${line.slice(0, 80)}`);
    }
    if (typeof msg !== "object" || msg === null) {
      throw new HamError("EPROTO", `Unexpected line from the HAM: ${line.slice(0, 80)}`);
    }
    const o = msg as Record<string, unknown>;
    if ("push" in o) {
      const push = o.push as Push;
      if (push?.type === "stopping") this.#stopping = true;
      const sub = typeof (push as { sub?: unknown })?.sub === "number"
        ? this.#subs.get((push as { sub: number }).sub)
        : undefined;
      if (sub && push.type === "event") sub.next = push.event.seq + 1;
      if (sub && push.type === "skipped") sub.next = Math.max(sub.next ?? 0, push.to + 1);
      if (sub && push.type === "ended") this.#dropSub(sub);
      sub?.onPush(push);
      for (const c of this.#pushed) c.enqueue(push);
      return;
    }
    const pending = typeof o.id === "number" ? this.#pending.get(o.id) : undefined;
    if (!pending) {
      // The HAM closing this connection says why with an error for id 0 (output unread).
      if (o.id === 0 && o.ok === false) throw lineError(o.error, "the connection");
      if (this.#unanswered.delete(o.id as number) && o.ok === false) {
        this.#refusal = lineError(o.error, `"heartbeat"`);
      }
      return; // an answer that came after its time limit
    }
    this.#pending.delete(o.id as number);
    pending.cancel?.();
    if (o.ok === true) return pending.resolve(o.result);
    pending.reject(lineError(o.error, `"${pending.op}"`));
  }

  #end(reason: HamError): void {
    if (this.#ended) return;
    this.#ended = reason;
    this.#generation++;
    try {
      this.#conn.close();
    } catch { /* already closed by the peer */ }
    for (const p of this.#pending.values()) {
      p.cancel?.();
      p.reject(reason);
    }
    this.#pending.clear();
    this.#subs.clear();
    for (const c of this.#pushed) c.close();
    this.#pushed.clear();
    this.#closed.resolve(this.#loop);
  }
}

/** The error an answer carries, as a HamError (EIO for a code this client does not know). */
function lineError(raw: unknown, what: string): HamError {
  const error = (raw ?? {}) as { code?: unknown; message?: unknown };
  const message = typeof error.message === "string" ? error.message : `${what} failed`;
  return isErrorCode(error.code)
    ? new HamError(error.code, message)
    : new HamError("EIO", `${String(error.code)}: ${message}`);
}
