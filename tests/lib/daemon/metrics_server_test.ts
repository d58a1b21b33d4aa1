import { equal, match, ok } from "node:assert/strict";
import {
  METRICS_CONTENT_TYPE,
  type MetricsLimits,
  MetricsServer,
} from "../../../lib/daemon/metrics_server.ts";
import { deadline, until } from "../../support/ham_process.ts";

const BODY = "# TYPE ham_entities gauge\nham_entities 3\n";

/** A metrics server on a free port of 127.0.0.1 that serves {@linkcode BODY}. */
function server(limits: Partial<MetricsLimits> = {}) {
  const logs: string[] = [];
  const srv = MetricsServer.listen({ hostname: "127.0.0.1", port: 0 }, () => BODY, {
    limits,
    log: (level, msg) => logs.push(`${level}: ${msg}`),
  });
  return {
    srv,
    logs,
    connect: () => Deno.connect({ hostname: "127.0.0.1", port: srv.addr.port }),
    async [Symbol.asyncDispose]() {
      await srv.close();
    },
  };
}

/** Everything the server sends until it closes (a reset ends it too). */
async function readAll(conn: Deno.Conn): Promise<string> {
  let text = "";
  const buf = new Uint8Array(4096);
  for (;;) {
    const n = await conn.read(buf).catch(() => null);
    if (n === null) return text;
    text += new TextDecoder().decode(buf.subarray(0, n));
  }
}

/** Sends `request` on a new connection; the whole answer, read until the server closes. */
async function exchange(s: ReturnType<typeof server>, request: string): Promise<string> {
  const conn = await s.connect();
  try {
    await conn.write(new TextEncoder().encode(request));
    return await deadline(readAll(conn), 5000, `the answer to ${JSON.stringify(request)}`);
  } finally {
    conn.close();
  }
}

Deno.test("MetricsServer answers GET /metrics with the Prometheus text, then closes", async () => {
  await using s = server();
  const answer = await exchange(s, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  match(answer, /^HTTP\/1\.1 200 OK\r\n/);
  match(answer, new RegExp(`\r\ncontent-type: ${METRICS_CONTENT_TYPE.replace(".", "\\.")}\r\n`));
  match(answer, new RegExp(`\r\ncontent-length: ${BODY.length}\r\n`));
  match(answer, /\r\nconnection: close\r\n/);
  ok(answer.endsWith(`\r\n\r\n${BODY}`));
  // HTTP/1.0, a query string, bare LFs: the same text.
  ok((await exchange(s, "GET /metrics?x=1 HTTP/1.0\n\n")).endsWith(`\r\n\r\n${BODY}`));
  // HEAD: the head alone.
  const head = await exchange(s, "HEAD /metrics HTTP/1.1\r\n\r\n");
  match(head, /^HTTP\/1\.1 200 OK\r\n/);
  ok(head.endsWith("\r\n\r\n"));
  equal(s.srv.connections, 0);
});

Deno.test("MetricsServer answers 404 off /metrics, 405 for other methods, 400 for junk", async () => {
  await using s = server();
  const notFound = await exchange(s, "GET / HTTP/1.1\r\n\r\n");
  match(notFound, /^HTTP\/1\.1 404 Not Found\r\n/);
  match(notFound, /\r\ncontent-type: text\/plain;charset=UTF-8\r\n/);
  ok(notFound.endsWith("\r\n\r\nNot found: try /metrics\n"));
  match(await exchange(s, "POST /metrics HTTP/1.1\r\n\r\n"), /^HTTP\/1\.1 405 .*\r\nallow: GET/s);
  match(await exchange(s, "hello\r\n\r\n"), /^HTTP\/1\.1 400 /);
});

Deno.test("MetricsServer closes a connection whose request head is late or too big", async () => {
  await using s = server({ requestTimeoutMs: 300, maxRequestBytes: 1024 });
  const idle = await s.connect();
  const since = performance.now();
  equal(await deadline(readAll(idle), 5000, "the idle connection to be closed"), "");
  idle.close();
  const waited = performance.now() - since;
  ok(waited >= 250, `closed after ${waited.toFixed(0)} ms, before the timeout`);
  // A head sent a byte at a time is late too: the time runs from the accept.
  const slow = await s.connect();
  const dribble = (async () => {
    for (const b of new TextEncoder().encode("GET /metrics HTTP/1.1\r\nX: " + "y".repeat(100))) {
      if (await slow.write(new Uint8Array([b])).catch(() => null) === null) return;
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  equal(await deadline(readAll(slow), 5000, "the slow connection to be closed"), "");
  slow.close();
  await dribble;
  const big = await exchange(s, "GET /metrics HTTP/1.1\r\nX: " + "y".repeat(2000) + "\r\n\r\n");
  match(big, /^HTTP\/1\.1 431 /);
});

Deno.test("MetricsServer past its cap closes the oldest idle connection to answer a scrape", async () => {
  await using s = server({ maxConnections: 4, requestTimeoutMs: 60_000 });
  const idle: Deno.Conn[] = [];
  try {
    for (let i = 0; i < 20; i++) idle.push(await s.connect());
    // 16 of them were closed to make room, in the order they came.
    await deadline(
      Promise.all(idle.slice(0, 16).map(readAll)),
      5000,
      "the oldest idle connections to be closed",
    );
    ok(s.srv.connections <= 4);
    // A scrape is answered although the cap is full of idle connections.
    ok((await exchange(s, "GET /metrics HTTP/1.1\r\n\r\n")).endsWith(BODY));
    equal(s.logs.filter((l) => /maxMetricsConnections/.test(l)).length, 1, s.logs.join("\n"));
  } finally {
    for (const c of idle) c.close();
  }
});

Deno.test("MetricsServer.close() closes the idle connections and ends its accept loop", async () => {
  const s = server();
  const idle = await s.connect();
  await until(() => Promise.resolve(s.srv.connections > 0 || null), "the accept", 5000);
  await deadline(s.srv.close(), 5000, "close()");
  equal(await deadline(readAll(idle), 5000, "the connection to be closed"), "");
  idle.close();
});
