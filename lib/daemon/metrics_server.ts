/**
 * The HTTP endpoint of `ham --metrics-listen HOST:PORT`: `GET /metrics` answers the
 * Prometheus text, anything else a short error, and every connection is closed after its
 * one answer. The listener and its accept loop are the HAM's own (`Deno.listen`), not
 * `Deno.serve`, whose connections had no cap and no idle timeout (20,000 idle ones took every
 * descriptor, and its accept loop then failed the whole process with `EMFILE`).
 *
 * What a client can cost is bounded ({@linkcode MetricsLimits}): at most
 * `maxMetricsConnections` are open; a new one past it takes the place of the oldest that has
 * not sent its request yet (idle connections cannot starve a scrape), or is closed at once
 * when every one is being answered. A request head has `metricsRequestTimeoutMs` to arrive
 * whole and at most `maxMetricsRequestBytes`; an answer has `metricsAnswerTimeoutMs` to be
 * written. Out of descriptors, accepting waits and tries again (backing off); it never
 * throws out of here.
 *
 * @module
 */

import { DEFAULTS } from "../core/defaults.ts";
import { outOfDescriptors } from "../os/fd_reserve.ts";
import type { ServerLog } from "./server.ts";

/** Limits of the metrics endpoint; each defaults to its row of `DEFAULTS`. */
export interface MetricsLimits {
  /** Connections open at once. */
  maxConnections: number;
  /** Time from the accept to the end of the request head, ms; then the connection is closed. */
  requestTimeoutMs: number;
  /** Largest request head, bytes; a bigger one is answered 431 and closed. */
  maxRequestBytes: number;
  /** Time to write an answer, ms; then the connection is closed. */
  answerTimeoutMs: number;
}

/** The limits in the defaults table. */
export function defaultMetricsLimits(): MetricsLimits {
  return {
    maxConnections: DEFAULTS.maxMetricsConnections,
    requestTimeoutMs: DEFAULTS.metricsRequestTimeoutMs,
    maxRequestBytes: DEFAULTS.maxMetricsRequestBytes,
    answerTimeoutMs: DEFAULTS.metricsAnswerTimeoutMs,
  };
}

/** Options of {@linkcode MetricsServer.listen}. */
export interface MetricsServerOptions {
  /** @default defaultMetricsLimits() */
  limits?: Partial<MetricsLimits>;
  /** @default none */
  log?: ServerLog;
}

/** The content type of the Prometheus text format, version 0.0.4. */
export const METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
/** The content type of the short error answers (what `Deno.serve` gave a string body). */
const TEXT = "text/plain;charset=UTF-8";
/** Longest wait between two accepts while out of descriptors, ms. */
const MAX_BACKOFF_MS = 1000;

const REASONS: Record<number, string> = {
  200: "OK",
  400: "Bad Request",
  404: "Not Found",
  405: "Method Not Allowed",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
};

/** One accepted connection: reading its request head, then writing its answer. */
interface Exchange {
  conn: Deno.Conn;
  answering: boolean;
  timer: ReturnType<typeof setTimeout> | undefined;
  closed: boolean;
}

/** The listening metrics endpoint. */
export class MetricsServer {
  /** The address listened on (its port, when 0 was asked for). */
  readonly addr: Deno.NetAddr;
  readonly limits: MetricsLimits;
  #listener: Deno.Listener;
  #render: () => string;
  #log: ServerLog;
  #open = new Set<Exchange>();
  #closing = false;
  #accepting: Promise<void>;
  /** Ends the wait between accepts while out of descriptors (at close). */
  #wake: (() => void) | null = null;
  /** Connections closed over the cap in this episode (null: not in one). */
  #overCap: { evicted: number; refused: number } | null = null;

  private constructor(listener: Deno.Listener, render: () => string, opts: MetricsServerOptions) {
    this.#listener = listener;
    this.addr = listener.addr as Deno.NetAddr;
    this.#render = render;
    this.limits = { ...defaultMetricsLimits(), ...opts.limits };
    this.#log = opts.log ?? (() => {});
    this.#accepting = this.#accept();
  }

  /**
   * Listens on `addr` and serves `render()`'s text at `/metrics`.
   *
   * @throws what `Deno.listen` throws (`AddrInUse`, `PermissionDenied`, ...).
   */
  static listen(
    addr: { hostname: string; port: number },
    render: () => string,
    opts: MetricsServerOptions = {},
  ): MetricsServer {
    const listener = Deno.listen({ hostname: addr.hostname, port: addr.port });
    return new MetricsServer(listener, render, opts);
  }

  /** Connections open now. */
  get connections(): number {
    return this.#open.size;
  }

  async #accept(): Promise<void> {
    let backoff = 0;
    while (!this.#closing) {
      let conn: Deno.Conn;
      try {
        conn = await this.#listener.accept();
      } catch (err) {
        if (this.#closing) return;
        if (outOfDescriptors(err)) {
          if (backoff === 0) {
            this.#log("warn", "Out of file descriptors: metrics connections wait in the backlog");
          }
          backoff = Math.min(Math.max(backoff * 2, 10), MAX_BACKOFF_MS);
        } else {
          this.#log("warn", `Cannot accept a metrics connection: ${(err as Error).message}`);
          backoff = 100;
        }
        await new Promise<void>((r) => {
          const timer = setTimeout(r, backoff);
          this.#wake = () => (clearTimeout(timer), r());
        });
        this.#wake = null;
        continue;
      }
      if (backoff > 0) this.#log("info", "Accepting metrics connections again");
      backoff = 0;
      this.#admit(conn);
    }
  }

  /** Serves `conn`, making room for it past the cap (or closing it when there is none). */
  #admit(conn: Deno.Conn): void {
    if (this.#open.size >= this.limits.maxConnections) {
      if (this.#overCap === null) {
        this.#overCap = { evicted: 0, refused: 0 };
        this.#log(
          "warn",
          `Metrics: ${this.#open.size} connections are open (maxMetricsConnections): closing ` +
            `the oldest idle one for each new one`,
        );
      }
      let idle: Exchange | null = null;
      for (const x of this.#open) {
        if (!x.answering) {
          idle = x;
          break;
        }
      }
      if (idle === null) {
        this.#overCap.refused++;
        closeQuietly(conn);
        return;
      }
      this.#overCap.evicted++;
      this.#end(idle);
    }
    const x: Exchange = { conn, answering: false, timer: undefined, closed: false };
    this.#open.add(x);
    x.timer = setTimeout(() => this.#end(x), this.limits.requestTimeoutMs);
    this.#serve(x).catch(() => {}).finally(() => this.#end(x));
  }

  async #serve(x: Exchange): Promise<void> {
    const head = await readHead(x.conn, this.limits.maxRequestBytes);
    if (x.closed || head === null) return;
    clearTimeout(x.timer);
    x.answering = true;
    x.timer = setTimeout(() => this.#end(x), this.limits.answerTimeoutMs);
    const answer = head === "too big"
      ? errorAnswer(431, "Request head too large\n")
      : this.#answer(head);
    let off = 0;
    while (off < answer.length && !x.closed) off += await x.conn.write(answer.subarray(off));
  }

  /** The whole answer (head and body) to a request head. */
  #answer(head: string): Uint8Array {
    const m = /^([A-Z]+) (\S+) HTTP\/1\.[0-9]\r?$/.exec(head.split("\n", 1)[0]);
    if (m === null) return errorAnswer(400, "Bad request\n");
    let path: string;
    try {
      path = new URL(m[2], "http://metrics.invalid").pathname;
    } catch {
      return errorAnswer(400, "Bad request\n");
    }
    if (path !== "/metrics") return errorAnswer(404, "Not found: try /metrics\n");
    if (m[1] !== "GET" && m[1] !== "HEAD") {
      return errorAnswer(405, "Method not allowed: use GET\n", ["allow: GET, HEAD"]);
    }
    let body: string;
    try {
      body = this.#render();
    } catch {
      return errorAnswer(500, "Internal error\n");
    }
    return httpAnswer(200, METRICS_CONTENT_TYPE, body, [], m[1] === "HEAD");
  }

  /** Closes an exchange once (its timer too), and ends an over-cap episode it was the last of. */
  #end(x: Exchange): void {
    if (x.closed) return;
    x.closed = true;
    clearTimeout(x.timer);
    this.#open.delete(x);
    closeQuietly(x.conn);
    if (this.#overCap !== null && this.#open.size < this.limits.maxConnections / 2) {
      const { evicted, refused } = this.#overCap;
      this.#overCap = null;
      this.#log(
        "info",
        `Metrics connections below the cap again (${evicted} idle ones closed to make room, ` +
          `${refused} refused)`,
      );
    }
  }

  /** Stops listening and closes every connection. */
  async close(): Promise<void> {
    this.#closing = true;
    closeQuietly(this.#listener);
    this.#wake?.();
    for (const x of [...this.#open]) this.#end(x);
    await this.#accepting;
  }
}

/**
 * Reads a request head (up to its blank line, without it): null at EOF or an error before
 * it ended (the connection closed meanwhile: a timeout), `"too big"` past `max` bytes.
 */
async function readHead(conn: Deno.Conn, max: number): Promise<string | "too big" | null> {
  const buf = new Uint8Array(max);
  let len = 0;
  for (;;) {
    if (len === max) return "too big";
    const n = await conn.read(buf.subarray(len)).catch(() => null);
    if (n === null) return null;
    for (let i = len; i < len + n; i++) {
      // The blank line: LF LF, or CR LF CR LF.
      if (buf[i] !== 10) continue;
      if (buf[i - 1] === 10 || (buf[i - 1] === 13 && buf[i - 2] === 10)) {
        return new TextDecoder().decode(buf.subarray(0, i));
      }
    }
    len += n;
  }
}

function errorAnswer(status: number, body: string, headers: string[] = []): Uint8Array {
  return httpAnswer(status, TEXT, body, headers, false);
}

function httpAnswer(
  status: number,
  type: string,
  body: string,
  headers: string[],
  headOnly: boolean,
): Uint8Array {
  const bytes = new TextEncoder().encode(body);
  const head = new TextEncoder().encode(
    [
      `HTTP/1.1 ${status} ${REASONS[status]}`,
      `content-type: ${type}`,
      `content-length: ${bytes.length}`,
      "connection: close",
      ...headers,
      "",
      "",
    ].join("\r\n"),
  );
  if (headOnly) return head;
  const out = new Uint8Array(head.length + bytes.length);
  out.set(head);
  out.set(bytes, head.length);
  return out;
}

function closeQuietly(c: { close(): void }): void {
  try {
    c.close();
  } catch { /* already closed */ }
}
