/**
 * An in-process line-echo server for unit tests of the client recovery library, that a
 * test can make "die" (close the listener and every connection, as the kernel does when
 * a server process dies) and start again on the same address.
 *
 * @module
 */

import type { ServerAddress } from "../../lib/ha/server_address.ts";
import { echoLines } from "./echo_server.ts";

/** A line-echo server in this process; `await using echo = LocalEcho.unix(path)`. */
export class LocalEcho implements AsyncDisposable {
  /** Where it listens. */
  readonly address: ServerAddress;
  /** Connections accepted over every life of the server. */
  accepted = 0;
  #listener: Deno.Listener | null = null;
  #conns = new Set<Deno.Conn>();
  #accepting: Promise<void> = Promise.resolve();
  #serving: Promise<void>[] = [];

  private constructor(address: ServerAddress) {
    this.address = address;
  }

  /** Starts echoing on a Unix socket at `path`. */
  static unix(path: string): LocalEcho {
    const echo = new LocalEcho({ transport: "unix", path });
    echo.start();
    return echo;
  }

  /** Starts echoing on 127.0.0.1 on a port the kernel chooses. */
  static tcp(): LocalEcho {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    const echo = new LocalEcho({ transport: "tcp", hostname: "127.0.0.1", port });
    echo.#serve(listener);
    return echo;
  }

  /** True while it listens. */
  get up(): boolean {
    return this.#listener !== null;
  }

  /** Starts listening again on the same address (after {@linkcode die}). */
  start(): void {
    const a = this.address;
    this.#serve(a.transport === "unix" ? Deno.listen(a) : Deno.listen({ ...a, transport: "tcp" }));
  }

  #serve(listener: Deno.Listener): void {
    this.#listener = listener;
    this.#accepting = (async () => {
      try {
        for await (const conn of listener) {
          this.accepted++;
          this.#conns.add(conn);
          this.#serving.push(echoLines(conn).finally(() => this.#conns.delete(conn)));
        }
      } catch { /* closed */ }
    })();
  }

  /** Stops listening and closes every connection, as a dying server process would. */
  async die(): Promise<void> {
    this.#listener?.close();
    this.#listener = null;
    await this.#accepting; // no connection is accepted after this
    for (const c of this.#conns) {
      try {
        c.close();
      } catch { /* closed */ }
    }
    await Promise.all(this.#serving);
    this.#serving = [];
  }

  /** Stops the server. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.die();
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The bytes of `text` followed by a newline. */
export function line(text: string): Uint8Array {
  return encoder.encode(`${text}\n`);
}

/** Reads one line (up to its newline) with `read`, or answers null at EOF before any byte. */
export async function readLine(
  read: (p: Uint8Array) => Promise<number | null>,
): Promise<string | null> {
  let text = "";
  const buf = new Uint8Array(1);
  for (;;) {
    const n = await read(buf);
    if (n === null) return text === "" ? null : text;
    const ch = decoder.decode(buf.subarray(0, n));
    if (ch === "\n") return text;
    text += ch;
  }
}
