import { equal, ok } from "node:assert/strict";
import { DEFAULTS } from "../../../lib/core/defaults.ts";
import { listenTls, type TlsListenOptions, tlsSocketCap } from "../../../lib/daemon/tls_server.ts";
import { deadline, until } from "../../support/ham_process.ts";
import { freePort, makeCerts } from "../../support/tls_certs.ts";

const opensslMissing = !["/usr/bin/openssl", "/usr/local/bin/openssl"].some((p) => {
  try {
    return Deno.statSync(p).isFile;
  } catch {
    return false;
  }
});
const opts = { ignore: opensslMissing, sanitizeOps: false, sanitizeResources: false };

/** A TLS listener on a free port with test certificates; `client()` dials it as "admin". */
async function listener(more: Partial<TlsListenOptions>) {
  const certs = await makeCerts(["admin"]);
  const read = (p: string) => Deno.readTextFileSync(p);
  const port = freePort();
  const logs: string[] = [];
  const acceptor = await listenTls({
    hostname: "127.0.0.1",
    port,
    cert: read(certs.serverCert),
    key: read(certs.serverKey),
    ca: read(certs.ca),
    roleOf: (id) => id === "admin" ? "admin" : null,
    log: (level, msg) => logs.push(`${level}: ${msg}`),
    ...more,
  });
  return {
    acceptor,
    logs,
    raw: () => Deno.connect({ hostname: "127.0.0.1", port }),
    client: async () => {
      const conn = await Deno.connectTls({
        hostname: "127.0.0.1",
        port,
        caCerts: [read(certs.ca)],
        cert: read(certs.clients.admin.cert),
        key: read(certs.clients.admin.key),
      });
      await conn.handshake();
      return conn;
    },
    async [Symbol.asyncDispose]() {
      acceptor.close();
      await Deno.remove(certs.dir, { recursive: true });
    },
  };
}

/** Resolves once the peer has closed `conn` (EOF or a reset). */
async function closedByPeer(conn: Deno.Conn): Promise<void> {
  const buf = new Uint8Array(1024);
  try {
    while (await conn.read(buf) !== null) { /* a TLS alert, if any */ }
  } catch { /* reset */ }
}

Deno.test("tlsSocketCap() is maxConnections, or a share of a low descriptor limit", () => {
  equal(tlsSocketCap(null), DEFAULTS.maxConnections);
  equal(tlsSocketCap(1_048_576n), DEFAULTS.maxConnections);
  equal(tlsSocketCap(256), Math.floor(256 * DEFAULTS.remoteFdShare));
  equal(tlsSocketCap(1), 1);
});

Deno.test(
  "listenTls() closes connections past maxSockets at once and late handshakes after the timeout",
  opts,
  async () => {
    await using l = await listener({ maxSockets: 4, handshakeTimeoutMs: 2000 });
    const raw: Deno.Conn[] = [];
    try {
      const since = performance.now();
      for (let i = 0; i < 10; i++) raw.push(await l.raw());
      // The six past the cap, at once (long before the handshake timeout).
      await deadline(Promise.all(raw.slice(4).map(closedByPeer)), 1500, "those past the cap");
      // The four within it, once their handshake is late.
      await deadline(Promise.all(raw.slice(0, 4).map(closedByPeer)), 5000, "the late ones");
      const waited = performance.now() - since;
      ok(waited >= 1900, `closed after ${waited.toFixed(0)} ms, before the timeout`);
      equal(l.logs.filter((m) => /Refusing TLS connections: 4 are open/.test(m)).length, 1);
      // A client with a certificate is served (the slots are free again).
      const conn = await deadline(l.client(), 5000, "an mTLS client");
      const t = await deadline(l.acceptor.accept(), 5000, "the accept");
      equal(t.identity, "admin");
      equal(t.role, "admin");
      conn.close();
      t.close();
    } finally {
      for (const c of raw) c.close();
    }
  },
);

Deno.test(
  "listenTls() stops reading a connection while what it sent is unread, and reads on after",
  opts,
  async () => {
    await using l = await listener({ pauseReadingBytes: 64 * 1024 });
    const conn = await deadline(l.client(), 5000, "an mTLS client");
    const t = await deadline(l.acceptor.accept(), 5000, "the accept");
    try {
      // Far more than the kernel's buffers on both ends (tcp_wmem, tcp_rmem) can hold.
      const total = 128 * 1024 * 1024;
      // Each chunk has its own byte, so that a byte read twice or out of order shows.
      const size = 256 * 1024;
      const byteAt = (offset: number) => Math.floor(offset / size) % 251;
      let written = 0;
      const writing = (async () => {
        while (written < total) {
          const chunk = new Uint8Array(size).fill(byteAt(written));
          let off = 0;
          while (off < size) off += await conn.write(chunk.subarray(off));
          written += size;
        }
      })();
      // Nothing is read on the server's side: the writes stall, once the kernel's buffers are
      // full (the server no longer takes the bytes into its own memory).
      let seen = -1;
      let since = performance.now();
      await until(
        async () => {
          await Promise.race([writing, new Promise((r) => setTimeout(r, 100))]);
          if (written !== seen) [seen, since] = [written, performance.now()];
          return written >= total || performance.now() - since >= 1000 || null;
        },
        "the client's writes to stall or finish",
        30_000,
      );
      ok(written < total / 2, `the server took ${written} bytes without reading them`);
      // Reading takes all of it, and the writes finish.
      const buf = new Uint8Array(64 * 1024);
      let read = 0;
      await deadline(
        (async () => {
          while (read < total) {
            const n = await t.read(buf);
            if (n === null) throw new Error(`EOF after ${read} bytes`);
            for (let i = 0; i < n; i++) {
              if (buf[i] !== byteAt(read + i)) throw new Error(`Wrong byte at ${read + i}`);
            }
            read += n;
          }
        })(),
        30_000,
        "reading everything the client wrote",
      );
      await deadline(writing, 5000, "the client's writes to finish");
      equal(read, total);
    } finally {
      conn.close();
      t.close();
    }
  },
);
