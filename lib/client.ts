/**
 * The client side of the control protocol: one Unix-socket connection to the HAM,
 * the `hello` handshake, requests multiplexed by id, and pushed lines. `hamctl` and
 * the public library (`mod.ts`) both talk to the HAM through {@linkcode HamClient}.
 *
 * @module
 */

import { HamError, isErrorCode } from "./errors.ts";
import { type Op, PROTOCOL_VERSION } from "./protocol.ts";
import { resolveStateDir, socketPath } from "./state_dir.ts";

/** Options of {@linkcode HamClient.connect}. */
export interface ConnectOptions {
  /** The state directory of the HAM. @default {resolveStateDir()} */
  stateDir?: string;
  /** A short name of the client, shown in the HAM's log. @default {"lib"} */
  client?: string;
  /** Time limit for the handshake and, by default, for each request, in ms; 0 = none. @default {30000} */
  timeoutMs?: number;
}

/** What the HAM answers to `hello`. */
export interface HelloResult {
  /** The protocol version the HAM speaks. */
  version: number;
  /** The HAM's pid. */
  hamPid: number;
  /** Its Guardian's pid, or null when there is none. */
  guardianPid: number | null;
}

/** The fields of a request, apart from `id` and `op` (paths as `"entity/condition"` strings). */
export type RequestFields = Record<string, unknown>;

/** Options of one request. */
export interface RequestOptions {
  /** Time limit in ms; 0 = none. @default {the connection's `timeoutMs`} */
  timeoutMs?: number;
}

interface Pending {
  op: string;
  resolve: (value: unknown) => void;
  reject: (err: HamError) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
}

const encoder = new TextEncoder();

/**
 * A connection to the HAM. Requests may be issued concurrently: each gets an id and the
 * answers are matched by id, in whatever order they come.
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
  /** The socket this client is connected to. */
  readonly socketPath: string;
  /** Resolves when the connection has ended, whichever side ended it. */
  readonly closed: Promise<void>;
  #conn: Deno.UnixConn;
  #timeoutMs: number;
  #nextId = 1;
  #pending = new Map<number, Pending>();
  #pushed = new Set<ReadableStreamDefaultController<unknown>>();
  #writing: Promise<void> = Promise.resolve();
  #ended: HamError | null = null;
  #server: HelloResult | null = null;

  private constructor(conn: Deno.UnixConn, path: string, timeoutMs: number) {
    this.#conn = conn;
    this.socketPath = path;
    this.#timeoutMs = timeoutMs;
    this.closed = this.#readLoop();
  }

  /**
   * Connects to the HAM of a state directory and performs the `hello` handshake.
   * Throws EBADF when no HAM is listening, EPROTO on a protocol version mismatch.
   */
  static async connect(opts: ConnectOptions = {}): Promise<HamClient> {
    const path = socketPath(resolveStateDir(opts.stateDir));
    let conn: Deno.UnixConn;
    try {
      conn = await Deno.connect({ transport: "unix", path });
    } catch (err) {
      const why =
        err instanceof Deno.errors.NotFound || err instanceof Deno.errors.ConnectionRefused
          ? "not running"
          : err instanceof Error
          ? err.message
          : String(err);
      throw new HamError("EBADF", `Cannot connect to the HAM at "${path}": ${why}`, { cause: err });
    }
    const client = new HamClient(conn, path, opts.timeoutMs ?? 30_000);
    try {
      const fields = { version: PROTOCOL_VERSION, client: opts.client ?? "lib", pid: Deno.pid };
      const hello = await client.#send<HelloResult>(0, "hello", fields, client.#timeoutMs);
      if (hello?.version !== PROTOCOL_VERSION || typeof hello.hamPid !== "number") {
        throw new HamError(
          "EPROTO",
          `Cannot talk to the HAM at "${path}": it speaks protocol ${hello?.version}, not ${PROTOCOL_VERSION}`,
        );
      }
      client.#server = hello;
      return client;
    } catch (err) {
      client.close();
      await client.closed;
      if (err instanceof HamError && err.code === "ECONNRESET") {
        throw new HamError("EBADF", `Cannot connect to the HAM at "${path}": ${err.message}`, {
          cause: err,
        });
      }
      throw err;
    }
  }

  /** The HAM's answer to `hello`: protocol version and the pids of the HAM and its Guardian. */
  get server(): HelloResult {
    return this.#server!;
  }

  /**
   * Sends one request and resolves with its result. An error answer is thrown as a
   * {@linkcode HamError} with the code the HAM sent; a lost connection as ECONNRESET; no
   * answer in time as ETIMEDOUT.
   */
  request<T = unknown>(op: Op, fields: RequestFields = {}, opts: RequestOptions = {}): Promise<T> {
    return this.#send<T>(this.#nextId++, op, fields, opts.timeoutMs ?? this.#timeoutMs);
  }

  /**
   * The lines the HAM pushes without a request (the value of their `push` field), from
   * now on, until the connection ends. Each call returns an independent iterator.
   */
  pushes(): AsyncIterableIterator<unknown> {
    let controller!: ReadableStreamDefaultController<unknown>;
    const stream = new ReadableStream<unknown>({
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
      new HamError("ECONNRESET", `Closed the connection to the HAM at "${this.socketPath}"`),
    );
  }

  /** Closes the connection and waits until it has ended. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
    await this.closed;
  }

  #send<T>(id: number, op: string, fields: RequestFields, timeoutMs: number): Promise<T> {
    if (this.#ended) return Promise.reject(this.#ended);
    const { promise, resolve, reject } = Promise.withResolvers<T>();
    const timer = timeoutMs > 0
      ? setTimeout(() => {
        this.#pending.delete(id);
        reject(new HamError("ETIMEDOUT", `Timed out after ${timeoutMs} ms waiting for "${op}"`));
      }, timeoutMs)
      : undefined;
    this.#pending.set(id, { op, resolve: resolve as (v: unknown) => void, reject, timer });
    const bytes = encoder.encode(JSON.stringify({ ...fields, id, op }) + "\n");
    this.#writing = this.#writing.then(() => this.#writeAll(bytes)).catch((err) => {
      this.#end(new HamError("ECONNRESET", `Lost the connection to the HAM: ${err}`));
    });
    return promise;
  }

  async #writeAll(bytes: Uint8Array): Promise<void> {
    for (let off = 0; off < bytes.length && !this.#ended;) {
      off += await this.#conn.write(bytes.subarray(off));
    }
  }

  async #readLoop(): Promise<void> {
    const decoder = new TextDecoder();
    let partial = "";
    let failure = new HamError(
      "ECONNRESET",
      `Lost the connection to the HAM at "${this.socketPath}"`,
    );
    try {
      for await (const chunk of this.#conn.readable) {
        const lines = (partial + decoder.decode(chunk, { stream: true })).split("\n");
        partial = lines.pop()!;
        for (const line of lines) if (line.trim() !== "") this.#onLine(line);
      }
    } catch (err) {
      if (err instanceof HamError) failure = err;
    }
    this.#end(failure);
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
      for (const c of this.#pushed) c.enqueue(o.push);
      return;
    }
    const pending = typeof o.id === "number" ? this.#pending.get(o.id) : undefined;
    if (!pending) return; // an answer that came after its time limit
    this.#pending.delete(o.id as number);
    clearTimeout(pending.timer);
    if (o.ok === true) return pending.resolve(o.result);
    const error = (o.error ?? {}) as { code?: unknown; message?: unknown };
    const message = typeof error.message === "string" ? error.message : `"${pending.op}" failed`;
    pending.reject(
      isErrorCode(error.code)
        ? new HamError(error.code, message)
        : new HamError("EIO", `${String(error.code)}: ${message}`),
    );
  }

  #end(reason: HamError): void {
    if (this.#ended) return;
    this.#ended = reason;
    try {
      this.#conn.close();
    } catch { /* already closed by the peer */ }
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      p.reject(reason);
    }
    this.#pending.clear();
    for (const c of this.#pushed) c.close();
    this.#pushed.clear();
  }
}
