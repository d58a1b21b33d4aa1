import assert from "node:assert/strict";
import { HamClient } from "../../../lib/client/client.ts";
import { HamError } from "../../../lib/core/errors.ts";
import { PROTOCOL_VERSION } from "../../../lib/core/protocol.ts";
import { startFakeHam } from "../../support/fake_ham.ts";

async function rejectsWith(p: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof HamError, `expected a HamError, got ${err}`);
    assert.equal(err.code, code);
    if (message) assert.match(err.message, message);
    return true;
  });
}

Deno.test("HamClient.connect() sends hello with the protocol version and pid", async () => {
  await using ham = await startFakeHam(() => {});
  await using client = await HamClient.connect({ stateDir: ham.stateDir, client: "test" });
  assert.deepEqual(ham.requests[0], {
    id: 0,
    op: "hello",
    version: PROTOCOL_VERSION,
    client: "test",
    pid: Deno.pid,
  });
  assert.deepEqual(client.server, { version: PROTOCOL_VERSION, hamPid: 4242, guardianPid: null });
  assert.deepEqual(client.socketPath, `${ham.stateDir}/ham.sock`);
});

Deno.test("HamClient.connect() throws EBADF when no socket exists", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await rejectsWith(
      HamClient.connect({ stateDir: dir }),
      "EBADF",
      new RegExp(`^Cannot connect to the HAM at "${dir}/ham.sock": not running$`),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("HamClient.connect() throws EBADF when nothing listens on a stale socket", async () => {
  const dir = await Deno.makeTempDir();
  try {
    Deno.listen({ transport: "unix", path: `${dir}/ham.sock` }).close();
    await rejectsWith(HamClient.connect({ stateDir: dir }), "EBADF", /not running$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("HamClient.connect() throws EPROTO when the HAM speaks another version", async () => {
  await using ham = await startFakeHam(() => {}, { version: PROTOCOL_VERSION + 1 });
  await rejectsWith(HamClient.connect({ stateDir: ham.stateDir }), "EPROTO", /protocol/);
});

Deno.test("HamClient.request() resolves with the result of an ok answer", async () => {
  await using ham = await startFakeHam((req, conn) => conn.reply(req.id, { pong: true }));
  await using client = await HamClient.connect({ stateDir: ham.stateDir });
  assert.deepEqual(await client.request("ping"), { pong: true });
  assert.deepEqual(ham.requests[1], { id: 1, op: "ping" });
});

Deno.test("HamClient.request() rethrows an error answer with the same code", async () => {
  await using ham = await startFakeHam((req, conn) =>
    conn.fail(req.id, "EEXIST", 'Cannot add condition "web/death": it already exists')
  );
  await using client = await HamClient.connect({ stateDir: ham.stateDir });
  await rejectsWith(
    client.request("condition", { path: "web/death", type: "death" }),
    "EEXIST",
    /^Cannot add condition "web\/death": it already exists$/,
  );
});

Deno.test("HamClient.request() matches concurrent answers by id when they come out of order", async () => {
  const held: { id: number; n: unknown }[] = [];
  await using ham = await startFakeHam(async (req, conn) => {
    held.push({ id: req.id, n: req.to });
    if (held.length < 3) return;
    for (const h of held.reverse()) await conn.reply(h.id, { entity: "x", from: 0, to: h.n });
  });
  await using client = await HamClient.connect({ stateDir: ham.stateDir });
  const answers = await Promise.all(
    [1, 2, 3].map((n) => client.request("state", { entity: "x", to: n })),
  );
  assert.deepEqual(answers.map((a) => a.to), [1, 2, 3]);
  assert.deepEqual(new Set(ham.requests.slice(1).map((r) => r.id)).size, 3);
});

Deno.test("HamClient frames lines split across writes and several lines in one write", async () => {
  await using ham = await startFakeHam(async (req, conn) => {
    if (req.op !== "subscribe") return;
    const a = JSON.stringify({ push: { type: "event", n: 1 } });
    const b = JSON.stringify({ id: req.id, ok: true, result: { since: 7 } });
    const c = JSON.stringify({ push: { type: "event", n: 2 } });
    await conn.raw(a.slice(0, 10));
    await conn.raw(`${a.slice(10)}\n${b.slice(0, 5)}`);
    await conn.raw(`${b.slice(5)}\n${c}\n`);
  });
  await using client = await HamClient.connect({ stateDir: ham.stateDir });
  const pushes = client.pushes();
  assert.deepEqual(await client.request("subscribe", {}), { since: 7 });
  assert.deepEqual((await pushes.next()).value, { type: "event", n: 1 });
  assert.deepEqual((await pushes.next()).value, { type: "event", n: 2 });
});

Deno.test("HamClient reads a line of several MiB, with multi-byte characters, over many reads", async () => {
  const big = "é€".repeat(700_000); // 3.5 MiB of UTF-8, characters cut across reads
  await using ham = await startFakeHam(async (req, conn) => {
    if (req.op !== "status") return;
    const line = JSON.stringify({ id: req.id, ok: true, result: { big } });
    for (let i = 0; i < line.length; i += 50_000) await conn.raw(line.slice(i, i + 50_000));
    await conn.raw(`\n${JSON.stringify({ push: { type: "event", n: 1 } })}\n`);
  });
  await using client = await HamClient.connect({ stateDir: ham.stateDir });
  const pushes = client.pushes();
  assert.deepEqual(await client.request("status", { path: null }), { big });
  assert.deepEqual((await pushes.next()).value, { type: "event", n: 1 });
});

Deno.test("HamClient.pushes() gives each iterator every push and ends with the connection", async () => {
  await using ham = await startFakeHam(async (req, conn) => {
    await conn.push({ type: "stopping" });
    await conn.reply(req.id, { pong: true });
    conn.close();
  });
  const client = await HamClient.connect({ stateDir: ham.stateDir });
  const first = client.pushes();
  const second = client.pushes();
  await client.request("ping");
  const seen: unknown[] = [];
  for await (const p of first) seen.push(p);
  assert.deepEqual(seen, [{ type: "stopping" }]);
  assert.deepEqual((await second.next()).value, { type: "stopping" });
  assert.deepEqual((await second.next()).done, true);
  await client.closed;
});

Deno.test("HamClient.request() rejects with ECONNRESET when the connection is lost", async () => {
  await using ham = await startFakeHam((_req, conn) => conn.close());
  await using client = await HamClient.connect({ stateDir: ham.stateDir });
  await rejectsWith(client.request("status", { path: null }), "ECONNRESET");
});

Deno.test("HamClient.request() rejects with EBADF when the connection has ended before it", async () => {
  await using ham = await startFakeHam((_req, conn) => conn.close());
  await using client = await HamClient.connect({ stateDir: ham.stateDir });
  await rejectsWith(client.request("status", { path: null }), "ECONNRESET");
  await client.closed;
  await rejectsWith(
    client.request("ping"),
    "EBADF",
    /^Cannot send "ping" to the HAM at ".*": the connection has ended \(ECONNRESET: Lost/,
  );
  await rejectsWith(client.post("heartbeat", { entity: "w", reply: false }), "EBADF");
  await using closed = await HamClient.connect({ stateDir: ham.stateDir });
  closed.close();
  await rejectsWith(closed.request("ping"), "EBADF", /has ended \(ECONNRESET: Closed/);
});

Deno.test("HamClient.request() rejects with ETIMEDOUT when no answer comes in time", async () => {
  await using ham = await startFakeHam(() => {});
  await using client = await HamClient.connect({ stateDir: ham.stateDir });
  await rejectsWith(client.request("ping", {}, { timeoutMs: 20 }), "ETIMEDOUT", /"ping"/);
});

Deno.test("HamClient.close() fails pending requests with ECONNRESET", async () => {
  await using ham = await startFakeHam(() => {});
  const client = await HamClient.connect({ stateDir: ham.stateDir });
  const pending = client.request("ping");
  client.close();
  await rejectsWith(pending, "ECONNRESET", /^Closed the connection/);
  await client.closed;
});

Deno.test("HamClient ends the connection with EPROTO on a line that is not JSON", async () => {
  await using ham = await startFakeHam((_req, conn) => conn.raw("not json\n"));
  await using client = await HamClient.connect({ stateDir: ham.stateDir });
  await rejectsWith(client.request("ping"), "EPROTO", /not json/);
});
