/**
 * A line server for the request/response cover's tests, run as a real process under a
 * real HAM: it answers each line with `answer: LINE`, except that the first line it ever
 * reads (across restarts: the MARKER file remembers) makes it die with SIGKILL after
 * reading it and before answering, as a server that crashes on a request does.
 *
 * Run line:
 *
 *     bin/deno run --allow-net --allow-read --allow-write tests/support/die_once_server.ts SOCKET MARKER
 *
 * @module
 */

async function serve(conn: Deno.Conn, marker: string): Promise<void> {
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  const buf = new Uint8Array(64 * 1024);
  let text = "";
  try {
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) return;
      text += decoder.decode(buf.subarray(0, n), { stream: true });
      for (let nl = text.indexOf("\n"); nl >= 0; nl = text.indexOf("\n")) {
        const line = text.slice(0, nl);
        text = text.slice(nl + 1);
        try {
          Deno.writeTextFileSync(marker, line, { createNew: true });
          Deno.kill(Deno.pid, "SIGKILL"); // Read, not answered.
        } catch (err) {
          if (!(err instanceof Deno.errors.AlreadyExists)) throw err;
        }
        await conn.write(encoder.encode(`answer: ${line}\n`));
      }
    }
  } catch {
    // The client went away.
  } finally {
    conn.close();
  }
}

if (import.meta.main) {
  const [path, marker] = Deno.args;
  await Deno.remove(path).catch(() => {});
  for await (const conn of Deno.listen({ transport: "unix", path })) serve(conn, marker);
}
