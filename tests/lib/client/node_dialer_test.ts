import assert from "node:assert/strict";
import { HamError } from "../../../lib/core/errors.ts";
import { dialNode } from "../../../lib/client/node_dialer.ts";
import { fullBacklog } from "../../support/full_backlog.ts";
import { listenTls } from "../../../lib/daemon/tls_server.ts";
import { type Certs, freePort, makeCerts } from "../../support/tls_certs.ts";
import { within } from "../../support/within.ts";

const opensslMissing = !["/usr/bin/openssl", "/usr/local/bin/openssl"].some((p) => {
  try {
    return Deno.statSync(p).isFile;
  } catch {
    return false;
  }
});
const opts = { ignore: opensslMissing };

/** Test certificates with an "admin" client, removed at the end, and its PEM texts. */
async function credentials(): Promise<
  AsyncDisposable & { certs: Certs; pems: { ca: string; cert: string; key: string } }
> {
  const certs = await makeCerts(["admin"]);
  const read = (p: string) => Deno.readTextFileSync(p);
  return {
    certs,
    pems: {
      ca: read(certs.ca),
      cert: read(certs.clients.admin.cert),
      key: read(certs.clients.admin.key),
    },
    [Symbol.asyncDispose]: () => Deno.remove(certs.dir, { recursive: true }),
  };
}

const entry = (address: string) => ({ name: "n2", address, ca: "", cert: "", key: "" });
const code = (c: string) => (e: unknown) => e instanceof HamError && e.code === c;

/** Copies what `from` sends to `to` until either ends, then closes both. */
async function pipe(from: Deno.Conn, to: Deno.Conn): Promise<void> {
  try {
    await from.readable.pipeTo(to.writable);
  } catch { /* the other end closed */ }
  for (const c of [from, to]) {
    try {
      c.close();
    } catch { /* closed */ }
  }
}

Deno.test("dialNode() closes a connection that completes after it gave up", opts, async () => {
  await using c = await credentials();
  const read = (p: string) => Deno.readTextFileSync(p);
  const port = freePort();
  const server = await listenTls({
    hostname: "127.0.0.1",
    port,
    cert: read(c.certs.serverCert),
    key: read(c.certs.serverKey),
    ca: read(c.certs.ca),
    roleOf: () => "read",
  });
  try {
    // A node whose host answers nothing for now: the dial gives up with EHOSTUNREACH.
    await using silent = await fullBacklog();
    await assert.rejects(
      dialNode(entry(`127.0.0.1:${silent.port}`), c.pems, 300),
      code("EHOSTUNREACH"),
    );
    // Then it answers: the kernel retries the dial's SYN (after 1 s), and it connects, to a
    // HAM that completes the handshake.
    for (let i = 0; i < silent.fillers; i++) await silent.accept();
    const late = await within(silent.accept(), "the dial's connection, connected late", 10_000);
    const ham = await Deno.connect({ hostname: "127.0.0.1", port });
    const piped = Promise.all([pipe(late, ham), pipe(ham, late)]);
    const t = await within(server.accept(), "the handshake of the late connection");
    // The dialer no longer wants it: it closes it rather than leave it open for good.
    const buf = new Uint8Array(1024);
    await within(t.read(buf), "the late connection to be closed by the dialer", 3_000);
    t.close();
    await piped;
  } finally {
    server.close();
  }
});

Deno.test("dialNode() throws EINVAL for a port out of range", opts, async () => {
  await using c = await credentials();
  for (const address of ["127.0.0.1:70000", "127.0.0.1:0", "[::1]:65536"]) {
    await assert.rejects(dialNode(entry(address), c.pems, 300), code("EINVAL"), address);
  }
});

Deno.test("dialNode() throws EINVAL for our own unusable certificate or key", opts, async () => {
  await using c = await credentials();
  // Something listens: what fails is ours, not the node's.
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const address = `127.0.0.1:${listener.addr.port}`;
  const cases = {
    "a key that is not PEM": { ...c.pems, key: "garbage" },
    "a certificate that is not PEM": { ...c.pems, cert: "garbage" },
    "a key of another certificate": {
      ...c.pems,
      key: Deno.readTextFileSync(c.certs.serverKey),
    },
  };
  for (const [what, pems] of Object.entries(cases)) {
    await assert.rejects(dialNode(entry(address), pems, 300), code("EINVAL"), what);
  }
});
