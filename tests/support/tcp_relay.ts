/**
 * A TCP relay on a loopback port to a target port: a link that a test can cut
 * ({@linkcode TcpRelay.cut} closes the listener and every relayed connection, as a
 * network partition would).
 *
 * @module
 */

/** A relay from `port` to `127.0.0.1:target`. */
export class TcpRelay implements AsyncDisposable {
  readonly port: number;
  #listener: Deno.TcpListener;
  #conns = new Set<Deno.Conn>();
  #accepting: Promise<void>;
  #cut = false;

  constructor(target: number) {
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    this.port = (this.#listener.addr as Deno.NetAddr).port;
    this.#accepting = this.#accept(target);
  }

  async #accept(target: number): Promise<void> {
    for await (const inbound of this.#listener) {
      let outbound: Deno.Conn;
      try {
        outbound = await Deno.connect({ hostname: "127.0.0.1", port: target });
      } catch {
        inbound.close();
        continue;
      }
      if (this.#cut) {
        inbound.close();
        outbound.close();
        continue;
      }
      this.#conns.add(inbound).add(outbound);
      const pipe = async (from: Deno.Conn, to: Deno.Conn) => {
        try {
          await from.readable.pipeTo(to.writable);
        } catch { /* cut or closed */ }
        for (const c of [from, to]) {
          this.#conns.delete(c);
          try {
            c.close();
          } catch { /* closed */ }
        }
      };
      pipe(inbound, outbound);
      pipe(outbound, inbound);
    }
  }

  /** Cuts the link: no new connections, and every open one is closed. */
  async cut(): Promise<void> {
    this.#cut = true;
    try {
      this.#listener.close();
    } catch { /* closed */ }
    for (const c of this.#conns) {
      try {
        c.close();
      } catch { /* closed */ }
    }
    this.#conns.clear();
    await this.#accepting.catch(() => {});
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.cut();
  }
}
