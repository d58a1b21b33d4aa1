/**
 * A line-echo server for client-recovery tests, run as a real process (under a real HAM):
 * every complete line a client sends is written back, each line with one write.
 *
 * Run lines:
 *
 *     bin/deno run --allow-net --allow-read --allow-write tests/support/echo_server.ts SOCKET
 *     bin/deno run --allow-net --allow-read --allow-write tests/support/echo_server.ts --tcp PORTFILE
 *
 * With a Unix SOCKET path it removes a stale socket file left by a killed predecessor,
 * then listens there. With `--tcp` it listens on 127.0.0.1 on a port the kernel chooses
 * and writes `PORT PID` to PORTFILE atomically (temp file + rename) once it listens.
 *
 * @module
 */

// The example's echo loop: one for examples and tests.
import { echoLines } from "../../examples/workers/echo_server.ts";

export { echoLines };

/** Listens as the arguments say and serves until killed. */
export async function main(args: string[]): Promise<void> {
  let listener: Deno.Listener;
  if (args[0] === "--tcp" && args[1]) {
    listener = Deno.listen({ transport: "tcp", hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    const tmp = `${args[1]}.${Deno.pid}.tmp`;
    await Deno.writeTextFile(tmp, `${port} ${Deno.pid}\n`);
    await Deno.rename(tmp, args[1]);
  } else if (args[0]) {
    await Deno.remove(args[0]).catch((err) => {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    });
    listener = Deno.listen({ transport: "unix", path: args[0] });
  } else {
    console.error("usage: echo_server.ts SOCKET | --tcp PORTFILE");
    Deno.exit(2);
  }
  for await (const conn of listener) echoLines(conn);
}

if (import.meta.main) await main(Deno.args);
