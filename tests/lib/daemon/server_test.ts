import { equal, match, ok } from "node:assert/strict";
import { HamClient } from "../../../lib/client/client.ts";
import { HamError } from "../../../lib/core/errors.ts";
import { PROTOCOL_VERSION } from "../../../lib/core/protocol.ts";
import { type Connection, ControlServer, type ServerLimits } from "../../../lib/daemon/server.ts";
import { deadline } from "../../support/ham_process.ts";

const encoder = new TextEncoder();
const HELLO = JSON.stringify({ id: 0, op: "hello", version: PROTOCOL_VERSION, client: "t" }) +
  "\n";

/** A server on a temporary socket whose handler answers ping, and pushes on `raise`. */
async function server(limits: Partial<ServerLimits>) {
  const dir = await Deno.makeTempDir();
  const logs: string[] = [];
  const conns: Connection[] = [];
  const srv = await ControlServer.listen(
    `${dir}/ham.sock`,
    (req, conn) => {
      conns.push(conn);
      if (req.op === "raise") {
        // A push flood: far more than the connection's cap, as fast as it can go.
        const event = {
          seq: 1,
          at: 0,
          type: "log",
          entity: "x".repeat(64 * 1024),
        } as const;
        for (let i = 0; i < 64; i++) conn.send({ push: { type: "event", sub: 1, event } });
      }
      return Promise.resolve({ pong: true });
    },
    () => ({ hamPid: Deno.pid, guardianPid: null }),
    null,
    { limits, log: (level, msg) => logs.push(`${level}: ${msg}`) },
  );
  return {
    dir,
    srv,
    logs,
    conns,
    connect: () => HamClient.connect({ stateDir: dir, client: "t", timeoutMs: 5000 }),
    raw: () => Deno.connect({ transport: "unix", path: `${dir}/ham.sock` }),
    async [Symbol.asyncDispose]() {
      await srv.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

async function readAll(conn: Deno.Conn): Promise<string> {
  let text = "";
  const buf = new Uint8Array(65536);
  for (;;) {
    const n = await conn.read(buf).catch(() => null);
    if (n === null) return text;
    text += new TextDecoder().decode(buf.subarray(0, n));
  }
}

Deno.test("ControlServer stops reading a client that does not read its answers", async () => {
  await using s = await server({ pauseReadingBytes: 16 * 1024, maxOutputBytes: 64 * 1024 });
  const flooder = await s.raw();
  await flooder.write(encoder.encode(HELLO.replace('"client":"t"', '"client":"flood"')));
  // Requests as fast as the socket takes them, never reading an answer.
  const line = encoder.encode(JSON.stringify({ id: 1, op: "ping" }) + "\n");
  const batch = new Uint8Array(line.length * 1000);
  for (let i = 0; i < 1000; i++) batch.set(line, i * line.length);
  let sent = 0;
  const writing = (async () => {
    for (;;) {
      await flooder.write(batch);
      sent += batch.length;
    }
  })().catch(() => {});
  // Other clients are served meanwhile.
  await using other = await s.connect();
  for (let i = 0; i < 20; i++) equal((await other.request("ping")).pong, true);
  const c = s.conns.find((c) => c.client === "flood")!;
  ok(c !== undefined, "the flooder was served");
  ok(c.queuedBytes <= 64 * 1024, `the backlog stays under the cap (${c.queuedBytes})`);
  ok(sent < 64 * 1024 * 1024, `the flooder is held back by the socket (${sent} bytes sent)`);
  flooder.close();
  await writing;
});

Deno.test("ControlServer closes a connection whose unread output passes the cap", async () => {
  await using s = await server({ maxOutputBytes: 256 * 1024 });
  const conn = await s.raw();
  await conn.write(encoder.encode(HELLO));
  await conn.write(
    encoder.encode(JSON.stringify({ id: 1, op: "raise", entity: "e", rtype: 1 }) + "\n"),
  );
  // Read nothing until the server has given up on this connection.
  await deadline(
    (async () => {
      while (!s.logs.some((l) => /more than 262144 bytes of answers unread/.test(l))) {
        await new Promise((r) => setTimeout(r, 10));
      }
    })(),
    5000,
    "the overflow",
  );
  const text = await deadline(readAll(conn), 5000, "the server to close");
  conn.close();
  ok(text.length < 2 * 256 * 1024, `bounded: ${text.length} bytes were queued`);
  match(text, /"code":"ENOMEM","message":"Closing the connection: more than 262144 bytes/);
});

Deno.test("ControlServer refuses a connection that never says hello, after the timeout", async () => {
  await using s = await server({ helloTimeoutMs: 100 });
  const conn = await s.raw();
  const text = await deadline(readAll(conn), 5000, "the refusal");
  conn.close();
  match(text, /"id":0,"ok":false,"error":\{"code":"ETIMEDOUT","message":"No hello within 100 ms"/);
});

Deno.test("ControlServer refuses connections past maxConnections, and serves again below", async () => {
  await using s = await server({ maxConnections: 3 });
  const clients = [await s.connect(), await s.connect(), await s.connect()];
  const refused = await s.connect().then(() => null, (err) => err);
  ok(refused instanceof HamError, String(refused));
  equal(refused.code, "ENOMEM");
  match(refused.message, /Too many connections: 3 are open, the limit is 3/);
  await clients.pop()!.close();
  await deadline(
    (async () => {
      while (s.srv.connections.size >= 3) await new Promise((r) => setTimeout(r, 5));
    })(),
    5000,
    "the close to be seen",
  );
  const again = await s.connect();
  equal((await again.request("ping")).pong, true);
  await again.close();
  for (const c of clients) await c.close();
  equal(s.logs.filter((l) => /Refusing connections/.test(l)).length, 1, "logged once");
  ok(s.logs.some((l) => /Accepting connections again \(1 refused over the cap\)/.test(l)));
});

Deno.test("Connection.signal aborts when the connection closes", async () => {
  await using s = await server({});
  const c = await s.connect();
  await c.request("ping");
  const conn = s.conns[0];
  equal(conn.signal.aborted, false);
  await c.close();
  await deadline(
    new Promise((r) => conn.signal.addEventListener("abort", r)),
    5000,
    "the abort",
  );
});

Deno.test(
  "ControlServer answers pipelined requests in order, and a heartbeat with reply false not at all",
  async () => {
    await using s = await server({});
    const conn = await s.raw();
    const lines = [
      HELLO,
      ...[1, 2, 3].map((id) => JSON.stringify({ id, op: "ping" }) + "\n"),
      JSON.stringify({ id: 4, op: "heartbeat", entity: "w", reply: false }) + "\n",
      JSON.stringify({ id: 5, op: "heartbeat", entity: "w" }) + "\n",
      JSON.stringify({ id: 6, op: "ping" }) + "\n",
    ];
    // One write: the answers to one read go out together (corked), in request order.
    await conn.write(encoder.encode(lines.join("")));
    let text = "";
    const buf = new Uint8Array(65536);
    while (text.split("\n").length < 7) {
      const n = await deadline(conn.read(buf), 5000, "the answers");
      if (n === null) break;
      text += new TextDecoder().decode(buf.subarray(0, n));
    }
    conn.close();
    const ids = text.trim().split("\n").map((l) => JSON.parse(l).id);
    equal(ids.join(","), "0,1,2,3,5,6");
  },
);

Deno.test("ControlServer refuses with EPROTO a request that is not valid UTF-8, and serves on", async () => {
  await using s = await server({});
  const conn = await s.raw();
  try {
    const bad = new Uint8Array([...encoder.encode('{"id":5,"op":"ping","x":"a'), 0xff, 0xfe]);
    await conn.write(encoder.encode(HELLO));
    // Not valid UTF-8: refused, not run on a guess (U+FFFD in place of the bytes).
    await conn.write(new Uint8Array([...bad, ...encoder.encode('"}\n')]));
    // A U+FFFD written as such is valid UTF-8: served.
    await conn.write(encoder.encode('{"id":6,"op":"ping","x":"\uFFFD"}\n'));
    await conn.closeWrite();
    const answers = (await readAll(conn)).trim().split("\n").map((l) => JSON.parse(l));
    equal(answers.length, 3);
    equal(answers[1].id, 5);
    equal(answers[1].ok, false);
    equal(answers[1].error.code, "EPROTO");
    match(answers[1].error.message, /not valid UTF-8/);
    equal(answers[2].id, 6);
    equal(answers[2].ok, true);
  } finally {
    conn.close();
  }
});
