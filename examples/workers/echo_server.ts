/**
 * A line-echo server on a Unix socket, for examples/client_recovery.ts: every complete line
 * a client sends is written back, each line with one write. It removes a stale socket file
 * left by a killed predecessor, then listens, and serves until killed.
 *
 * Run: bin/deno run --allow-net --allow-read --allow-write examples/workers/echo_server.ts SOCKET
 *
 * @module
 */

/** Echoes the complete lines read from `conn` until it ends (one write per line). */
export async function echoLines(conn: Deno.Conn): Promise<void> {
  const buf = new Uint8Array(16 * 1024);
  let pending = new Uint8Array(0);
  try {
    for (let n; (n = await conn.read(buf)) !== null;) {
      const data = new Uint8Array(pending.length + n);
      data.set(pending);
      data.set(buf.subarray(0, n), pending.length);
      let start = 0;
      for (let nl; (nl = data.indexOf(10, start)) !== -1; start = nl + 1) {
        const line = data.subarray(start, nl + 1);
        for (let done = 0; done < line.length;) done += await conn.write(line.subarray(done));
      }
      pending = data.slice(start);
    }
  } catch {
    // The client went away: nothing to answer.
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
  }
}

if (import.meta.main) {
  const [path] = Deno.args;
  if (!path) {
    console.error("usage: echo_server.ts SOCKET");
    Deno.exit(2);
  }
  await Deno.remove(path).catch((err) => {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  });
  for await (const conn of Deno.listen({ transport: "unix", path })) echoLines(conn);
}
