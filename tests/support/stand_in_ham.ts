/**
 * A stand-in HAM for the Guardian's unit tests: it holds the state directory's lock and
 * answers one client's hello on the socket, and the test decides when it pushes a line,
 * closes the connection, or releases the lock (as a dying HAM would).
 *
 * @module
 */

import { PROTOCOL_VERSION } from "../../lib/core/protocol.ts";
import { socketPath } from "../../lib/os/state_dir.ts";
import { type StateLock, takeLock } from "../../lib/store/state_lock.ts";

/** What the test does with the stand-in. */
export interface StandInHam {
  /** The held lock. */
  lock: StateLock;
  /** Pushes `{"push": value}` on the accepted connection. */
  push(value: unknown): Promise<void>;
  /** Closes the accepted connection. */
  close(): Promise<void>;
  /** Releases the lock and stops listening. */
  release(): void;
}

/** Takes the lock of `dir` and listens on its socket; the first client gets its hello answered. */
export async function standInHam(dir: string): Promise<StandInHam> {
  const lock = await takeLock(dir);
  const listener = Deno.listen({ transport: "unix", path: socketPath(dir) });
  const enc = new TextEncoder();
  const accepted = (async () => {
    const conn = await listener.accept();
    const buf = new Uint8Array(4096);
    let line = "";
    while (!line.includes("\n")) {
      const n = await conn.read(buf);
      if (n === null) break;
      line += new TextDecoder().decode(buf.subarray(0, n));
    }
    const hello = {
      id: 0,
      ok: true,
      result: { version: PROTOCOL_VERSION, hamPid: 1, guardianPid: null },
    };
    await conn.write(enc.encode(JSON.stringify(hello) + "\n"));
    return conn;
  })();
  return {
    lock,
    async push(value: unknown) {
      await (await accepted).write(enc.encode(JSON.stringify({ push: value }) + "\n"));
    },
    async close() {
      (await accepted).close();
    },
    release() {
      lock.close();
      listener.close();
    },
  };
}
