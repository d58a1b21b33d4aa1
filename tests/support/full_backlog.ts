/**
 * A TCP listener that never accepts, with its accept queue full: the kernel drops each new
 * SYN (the client retries it after 1 s, 3 s, ...), so a connect to it hangs the way a
 * connect to a host that is down does, until `acceptOne()` makes room.
 *
 * @module
 */

/** A listener whose queue of connections to accept is full. */
export interface FullBacklog extends AsyncDisposable {
  /** Its loopback port. */
  port: number;
  /** The connections that filled the queue (accepted first, in order). */
  fillers: number;
  /** Accepts the oldest queued connection (one of the fillers first), making room for one. */
  accept(): Promise<Deno.Conn>;
}

/** Fills the queue of a new loopback listener with connections nobody accepts. */
export async function fullBacklog(): Promise<FullBacklog> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  const fillers: Deno.Conn[] = [];
  const accepted: Deno.Conn[] = [];
  const closeAll = () => {
    for (const c of [...fillers, ...accepted]) {
      try {
        c.close();
      } catch { /* closed */ }
    }
    listener.close();
  };
  try {
    // A connect that does not complete at once found the queue full (its SYN was dropped).
    for (;;) {
      const conn = await Deno.connect({
        hostname: "127.0.0.1",
        port,
        signal: AbortSignal.timeout(250),
      }).catch((err) => {
        if (err instanceof DOMException && err.name === "TimeoutError") return null;
        throw err;
      });
      if (conn === null) break;
      fillers.push(conn);
      if (fillers.length > 65_536) throw new Error("The accept queue never filled up");
    }
  } catch (err) {
    closeAll();
    throw err;
  }
  return {
    port,
    fillers: fillers.length,
    accept: async () => {
      const conn = await listener.accept();
      accepted.push(conn);
      return conn;
    },
    [Symbol.asyncDispose]: () => Promise.resolve(closeAll()),
  };
}
