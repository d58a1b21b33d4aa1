import assert from "node:assert/strict";
import { HaConn, haConnect, lineReply, reconnect } from "../../../lib/ha/ha_conn.ts";
import { HA_RECOVERY_SUSPEND } from "../../../lib/ha/recovery_core.ts";
import { line, LocalEcho, readLine } from "../../support/local_echo.ts";
import { within } from "../../support/within.ts";

/** A temporary directory for sockets, removed at the end. */
async function tempDir(): Promise<AsyncDisposable & { path: string }> {
  const path = await Deno.makeTempDir({ prefix: "ha-conn-" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

/** The handle of these tests: what recovery saw and what to replay. */
interface H {
  recoveries: number;
  pending: Uint8Array | null;
  echo: LocalEcho;
}

/** Restarts the dead in-process server, reconnects and replays the pending request. */
async function restartAndReconnect(failed: HaConn<H>, h: H): Promise<HaConn<H>> {
  if (!h.echo.up) h.echo.start();
  await reconnect(failed);
  h.recoveries++;
  if (h.pending) await failed.writeAll(h.pending);
  return failed;
}

Deno.test("HaConn.write() recovers and re-issues a write that meets a dead server", async () => {
  await using dir = await tempDir();
  await using echo = LocalEcho.unix(`${dir.path}/s.sock`);
  const h: H = { recoveries: 0, pending: null, echo };
  using conn = await haConnect(echo.address, restartAndReconnect, h, { eofIsDeath: true });
  await conn.writeAll(line("a"));
  assert.equal(await readLine((p) => conn.read(p)), "a");
  await echo.die();
  assert.equal(await conn.write(line("b")), 2);
  assert.equal(await readLine((p) => conn.read(p)), "b");
  assert.equal(h.recoveries, 1);
  assert.equal(echo.accepted, 2);
});

Deno.test("HaConn.read() recovers at EOF when eofIsDeath is set and re-issues the read", async () => {
  await using dir = await tempDir();
  await using echo = LocalEcho.unix(`${dir.path}/s.sock`);
  const h: H = { recoveries: 0, pending: null, echo };
  using conn = await haConnect(echo.address, restartAndReconnect, h, { eofIsDeath: true });
  h.pending = line("lost");
  await conn.writeAll(h.pending);
  assert.equal(await readLine((p) => conn.read(p)), "lost");
  await echo.die();
  assert.equal(await readLine((p) => conn.read(p)), "lost", "the recovery replayed it");
  assert.equal(h.recoveries, 1);
});

Deno.test("HaConn.read() answers null at EOF when eofIsDeath is not set", async () => {
  await using dir = await tempDir();
  await using echo = LocalEcho.unix(`${dir.path}/s.sock`);
  const h: H = { recoveries: 0, pending: null, echo };
  using conn = await haConnect(echo.address, restartAndReconnect, h);
  await echo.die();
  assert.equal(await conn.read(new Uint8Array(8)), null);
  assert.equal(h.recoveries, 0);
});

Deno.test("HaConn.read() re-issues on the new connection a read pending when reconnect() replaced it", async () => {
  await using dir = await tempDir();
  await using echo = LocalEcho.unix(`${dir.path}/s.sock`);
  const h: H = { recoveries: 0, pending: null, echo };
  using conn = await haConnect(echo.address, restartAndReconnect, h);
  const old = conn.raw;
  const pending = readLine((p) => conn.read(p));
  await conn.reconnect();
  assert.notEqual(conn.raw, old);
  await conn.writeAll(line("after"));
  assert.equal(await within(pending, "the re-issued read"), "after");
  assert.equal(h.recoveries, 0);
});

Deno.test("HaConn.readable and writable keep flowing across a recovery", async () => {
  await using dir = await tempDir();
  await using echo = LocalEcho.unix(`${dir.path}/s.sock`);
  const h: H = { recoveries: 0, pending: null, echo };
  using conn = await haConnect(echo.address, restartAndReconnect, h, { eofIsDeath: true });
  const writer = conn.writable.getWriter();
  const reader = conn.readable.getReader();
  const next = async () => new TextDecoder().decode((await reader.read()).value);
  await writer.write(line("one"));
  assert.equal(await next(), "one\n");
  await echo.die();
  await writer.write(line("two"));
  assert.equal(await next(), "two\n");
  assert.equal(h.recoveries, 1);
  await writer.close(); // closeWrite: the server sees EOF and closes, the readable ends
  conn.control(HA_RECOVERY_SUSPEND);
  assert.equal((await reader.read()).done, true);
});

Deno.test("HaConn.dup() shares the connection and closing one leaves the other working", async () => {
  await using dir = await tempDir();
  await using echo = LocalEcho.unix(`${dir.path}/s.sock`);
  const h: H = { recoveries: 0, pending: null, echo };
  const a = await haConnect(echo.address, restartAndReconnect, h, { eofIsDeath: true });
  const b = a.dup();
  assert.equal(b.raw, a.raw);
  await echo.die();
  await b.writeAll(line("x"));
  assert.equal(a.raw, b.raw, "the recovered connection is under both");
  a.close();
  assert.equal(await readLine((p) => b.read(p)), "x");
  assert.equal(h.recoveries, 1);
  b.close();
  await assert.rejects(b.read(new Uint8Array(1)), Deno.errors.BadResource);
});

Deno.test("haConnect() waits for a server that does not listen yet when waitMs is set", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/late.sock`;
  const connecting = haConnect({ transport: "unix", path }, () => false, null, { waitMs: 5000 });
  await new Promise((r) => setTimeout(r, 30)); // let the first attempts find nothing there
  await using echo = LocalEcho.unix(path);
  using conn = await within(connecting, "the connect to a late server");
  await conn.writeAll(line("hi"));
  assert.equal(await readLine((p) => conn.read(p)), "hi");
  assert.equal(echo.accepted, 1);
});

Deno.test("haConnect() throws at once when nothing listens and waitMs is 0", async () => {
  await using dir = await tempDir();
  await assert.rejects(
    haConnect({ transport: "unix", path: `${dir.path}/none.sock` }, () => false, null),
    Deno.errors.NotFound,
  );
});

Deno.test("reconnect() connects to a new address and keeps it for later reconnects", async () => {
  await using first = LocalEcho.tcp();
  await using second = LocalEcho.tcp();
  using conn = await haConnect(first.address, () => false, null);
  assert.equal(await reconnect(conn, { address: second.address }), conn);
  assert.deepEqual(conn.address, second.address);
  await conn.reconnect();
  assert.equal(second.accepted, 2);
  assert.equal((conn.remoteAddr as Deno.NetAddr).port, (second.address as Deno.NetAddr).port);
});

Deno.test("HaConn.read() does not recover an error that is not a dead-server error", async () => {
  const err = new Deno.errors.PermissionDenied("not allowed");
  const fake = { read: () => Promise.reject(err), close() {} } as unknown as Deno.Conn;
  let calls = 0;
  using conn = HaConn.wrap(fake, { transport: "unix", path: "/nowhere" }, () => {
    calls++;
    return true;
  }, null);
  await assert.rejects(conn.read(new Uint8Array(1)), (e) => e === err);
  assert.equal(calls, 0);
});

Deno.test("HaConn is usable as a Deno.Conn and keeps unref() across a reconnect", async () => {
  await using dir = await tempDir();
  await using echo = LocalEcho.unix(`${dir.path}/s.sock`);
  using conn = await haConnect(echo.address, () => false, null);
  const plain: Deno.Conn = conn;
  conn.unref();
  await conn.reconnect();
  conn.ref();
  await plain.write(line("as a conn"));
  assert.equal(await readLine((p) => plain.read(p)), "as a conn");
});

Deno.test("HaConn.sendReceive() re-sends the request when the reply ends half-way", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/s.sock`;
  const listener = Deno.listen({ transport: "unix", path });
  const seen: string[] = [];
  const serving = (async () => {
    const buf = new Uint8Array(256);
    for (let i = 0; i < 2; i++) {
      const c = await listener.accept();
      const n = await c.read(buf);
      seen.push(new TextDecoder().decode(buf.subarray(0, n ?? 0)));
      // The first server dies in the middle of its reply.
      await c.write(new TextEncoder().encode(i === 0 ? "ans" : "answer\n"));
      c.close();
    }
  })();
  let recoveries = 0;
  using conn = await haConnect({ transport: "unix", path }, async (failed) => {
    recoveries++;
    return await reconnect(failed);
  }, null);
  const reply = await within(conn.sendReceive(line("ask"), lineReply()), "the reply");
  assert.equal(reply, "answer");
  assert.deepEqual(seen, ["ask\n", "ask\n"]);
  assert.equal(recoveries, 1);
  await serving;
  listener.close();
});

Deno.test("lineReply() refuses a reply longer than its limit without recovering", async () => {
  const chunks = ["abcd", "efgh"];
  const read = (p: Uint8Array) => {
    const bytes = new TextEncoder().encode(chunks.shift() ?? "");
    p.set(bytes);
    return Promise.resolve(bytes.length);
  };
  await assert.rejects(lineReply(6)(read), Deno.errors.InvalidData);
});
