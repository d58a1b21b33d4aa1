/**
 * Remote HAMs: a HAM serving over mutual TLS (`ham --listen`) driven through
 * `hamctl --node NAME` and `connect({ node })`, and each refusal with its own code.
 */

import { deepEqual as assertEquals, match as assertMatch, ok as assert } from "node:assert/strict";
import { connect } from "../../lib/client/ham.ts";
import type { HamEvent } from "../../lib/core/protocol.ts";
import { HamError } from "../../lib/core/errors.ts";
import type { EntityView } from "../../lib/core/status_view.ts";
import { DEFAULTS } from "../../lib/core/defaults.ts";
import {
  alive,
  BIN,
  type CtlResult,
  deadline,
  HamProcess,
  type HamProcessOptions,
  until,
} from "../support/ham_process.ts";
import { type Certs, freePort, makeCerts } from "../support/tls_certs.ts";
import { nodeForwarder } from "../../lib/daemon/node_forwarder.ts";
import * as nodeTls from "node:tls";
import type { AddressInfo, Socket } from "node:net";

const opensslMissing = !["/usr/bin/openssl", "/usr/local/bin/openssl"].some((p) => {
  try {
    return Deno.statSync(p).isFile;
  } catch {
    return false;
  }
});
if (opensslMissing) console.log("remote tests skipped: openssl is not installed");
const opts = { ignore: opensslMissing };

interface Remote extends AsyncDisposable {
  ham: HamProcess;
  certs: Certs;
  nodes: string;
  port: number;
  /** `hamctl --nodes FILE --node NODE ARGS...` from a directory with no HAM. */
  ctl(node: string, ...args: string[]): Promise<CtlResult>;
}

/**
 * A HAM listening over mutual TLS (with `how`: more options of its process; `more`: more
 * arguments of `ham`, given the certificates' directory).
 */
async function startRemote(
  how: Omit<HamProcessOptions, "args"> = {},
  more: (certsDir: string) => Promise<string[]> = () => Promise.resolve([]),
): Promise<Remote> {
  const certs = await makeCerts(["admin", "viewer", "stranger"]);
  const port = freePort();
  const ham = await HamProcess.start({
    ...how,
    args: [
      ...await more(certs.dir),
      "--listen",
      `127.0.0.1:${port}`,
      "--tls-cert",
      certs.serverCert,
      "--tls-key",
      certs.serverKey,
      "--tls-ca",
      certs.ca,
      "--tls-role",
      "admin=admin",
      "--tls-role",
      "viewer=read",
    ],
  });
  const entry = (client: string, ca = certs.ca, address = `127.0.0.1:${port}`) => ({
    address,
    ca,
    cert: certs.clients[client].cert,
    key: certs.clients[client].key,
  });
  const nodes = `${certs.dir}/nodes.json`;
  await Deno.writeTextFile(
    nodes,
    JSON.stringify({
      n2: entry("admin"),
      "n2-viewer": entry("viewer"),
      "n2-stranger": entry("stranger"),
      "n2-foreign": entry("foreign"),
      "n2-untrusted": entry("admin", certs.foreignCa),
      "n2-down": entry("admin", certs.ca, `127.0.0.1:${freePort()}`),
    }),
  );
  const local = await Deno.makeTempDir({ prefix: "ham-test-local-" });
  return {
    ham,
    certs,
    nodes,
    port,
    ctl: async (node, ...args) => {
      const out = await new Deno.Command(`${BIN}/hamctl`, {
        args: ["--state-dir", local, "--nodes", nodes, "--node", node, ...args],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const dec = new TextDecoder();
      return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
    },
    async [Symbol.asyncDispose]() {
      await ham[Symbol.asyncDispose]();
      await Deno.remove(certs.dir, { recursive: true });
      await Deno.remove(local, { recursive: true });
    },
  };
}

function ok(r: CtlResult, what: string): string {
  assertEquals(r.code, 0, `${what}: ${r.stderr}`);
  return r.stdout;
}

Deno.test(
  "hamctl --node drives every _node operation on another node's HAM over mutual TLS",
  opts,
  async () => {
    await using remote = await startRemote();
    const ctl = (...args: string[]) => remote.ctl("n2", ...args);
    ok(await ctl("ping"), "ping");
    // The same node through a YAML nodes file.
    const yamlFile = `${remote.certs.dir}/nodes.yaml`;
    const n2 = JSON.parse(await Deno.readTextFile(remote.nodes)).n2;
    await Deno.writeTextFile(
      yamlFile,
      `n2:\n  address: ${n2.address}\n  ca: ${n2.ca}\n  cert: ${n2.cert}\n  key: ${n2.key}\n`,
    );
    // From the sources: the one-file bundle of hamctl cannot load the yaml package.
    const viaYaml = await new Deno.Command(`${BIN}/hamctl`, {
      args: ["--nodes", yamlFile, "--node", "n2", "ping"],
      env: { HAM_NO_BUNDLE: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(viaYaml.code, 0, new TextDecoder().decode(viaYaml.stderr));
    ok(await ctl("attach", "web", "--", "/bin/sleep", "1000"), "attach");
    ok(await ctl("condition", "web/death", "death", "--rearm"), "condition");
    ok(await ctl("action", "web/death/restart", "restart", "--rearm"), "action");
    ok(await ctl("action", "web/death/tell", "notify", "--channel", "ops"), "notify action");
    ok(await ctl("action-fail", "web/death/tell", "note", "log", "--message", "x"), "action-fail");
    ok(await ctl("entity", "later"), "entity");
    ok(await ctl("detach", "later"), "detach");
    const status = JSON.parse(ok(await ctl("status", "web", "--json"), "status"));
    await using local = await remote.ham.client();
    const web = (await local.request("status", { path: "web" })) as EntityView;
    assert(web.pid !== null && status.pid === web.pid, JSON.stringify(status));
    assertEquals(status, web);
    ok(await ctl("stop", "--wait"), "stop");
    await remote.ham.child.status;
    // A stopped HAM leaves its workers running (ham_stop): end this one here.
    Deno.kill(web.pid!, "SIGKILL");
    await until(() => Promise.resolve(alive(web.pid!) ? null : true), "the worker to end");
  },
);

Deno.test("connect({ node }) gives the typed client of another node's HAM", opts, async () => {
  await using remote = await startRemote();
  await using ham = await connect({ node: "n2", nodes: remote.nodes, client: "test" });
  const web = await ham.attach("web", { argv: ["/bin/sleep", "1000"] });
  const death = await web.condition("death", "death", { flags: ["rearm"] });
  await death.restart("restart", { flags: ["rearm"] });
  const events = await ham.subscribe({ entity: "web" });
  Deno.kill(web.pid!, "SIGKILL");
  for await (const ev of events) if (ev.type === "restart") break;
  const view = await ham.status("web") as EntityView;
  assert(view.pid !== null && view.pid !== web.pid);
});

Deno.test("a remote HAM refuses each bad credential with its own code", opts, async () => {
  await using remote = await startRemote();
  const viewer = await remote.ctl("n2-viewer", "status", "--json");
  assertEquals(viewer.code, 0, viewer.stderr);
  const refused = await remote.ctl("n2-viewer", "attach", "x", "--", "/bin/true");
  assertEquals(refused.code, 1);
  assertMatch(refused.stderr, /EPERM: Cannot "attach": it needs role admin/);
  const cases: Array<[string, RegExp, number]> = [
    ["n2-stranger", /^hamctl: EACCES: Refused "stranger": it has no role here/, 1],
    ["n2-foreign", /^hamctl: EKEYREJECTED: Refused the certificate of "admin"/, 1],
    ["n2-untrusted", /^hamctl: EKEYREJECTED: Cannot trust node "n2-untrusted"/, 1],
    ["n2-down", /^hamctl: EHOSTUNREACH: Cannot reach node "n2-down"/, 3],
    ["n9", /^hamctl: ENOENT: Cannot find node "n9"/, 5],
  ];
  for (const [node, message, code] of cases) {
    const r = await remote.ctl(node, "ping");
    assertMatch(r.stderr, message, node);
    assertEquals(r.code, code, node);
  }
  // Without a client certificate at all: the handshake completes and hello is refused.
  const conn = await Deno.connectTls({
    hostname: "127.0.0.1",
    port: remote.port,
    caCerts: [await Deno.readTextFile(remote.certs.ca)],
  });
  await conn.write(new TextEncoder().encode('{"id":0,"op":"hello","version":1,"client":"x"}\n'));
  const buf = new Uint8Array(4096);
  const n = await conn.read(buf);
  conn.close();
  const answer = JSON.parse(new TextDecoder().decode(buf.subarray(0, n ?? 0)));
  assertEquals(answer.error.code, "EACCES");
  const err = await connect({ node: "n2-stranger", nodes: remote.nodes }).catch((e) => e);
  assert(err instanceof HamError && err.code === "EACCES", String(err));
});

Deno.test(
  "a remote HAM gives a certificate the role of the policy's cn: grant when it is higher",
  opts,
  async () => {
    // "stranger" has no --tls-role, "viewer" has read: the policy grants them more.
    await using remote = await startRemote({}, async (dir) => {
      const policy = `${dir}/policy`;
      await Deno.writeTextFile(policy, "report cn:stranger\nadmin cn:viewer\n", { mode: 0o600 });
      return ["--policy", policy];
    });
    ok(await remote.ctl("n2-stranger", "status"), "status with the report role");
    ok(await remote.ctl("n2-stranger", "notify", "ops"), "notify with the report role");
    const refused = await remote.ctl("n2-stranger", "attach", "x", "--", "/bin/true");
    assertEquals(refused.code, 1, refused.stderr);
    assertMatch(refused.stderr, /EPERM: .*"attach".*admin/);
    ok(await remote.ctl("n2-viewer", "entity", "placeholder"), "entity with the admin role");
    const policy = JSON.parse(ok(await remote.ctl("n2-viewer", "policy", "--json"), "policy"));
    assertEquals(policy.role, "admin");
  },
);

Deno.test(
  "notify and signal actions naming a node are delivered by that node's HAM; a failure runs the fail list",
  opts,
  async () => {
    await using remote = await startRemote();
    const b = remote.ham;
    // Node A knows node B as "n2" (and its other entries) through the same nodes file.
    await using a = await HamProcess.start({ args: ["--nodes", remote.nodes] });
    // On B: a subscriber of channel "ops", and an entity whose process A will signal.
    await using onB = await connect({ stateDir: b.stateDir, client: "test" });
    const ops = await onB.subscribe({ channel: "ops" });
    const db = await onB.attach("db", { argv: ["/bin/sleep", "1000"] });
    const db2 = await onB.attach("db2", { argv: ["/bin/sleep", "1000"] });
    const bEvents = await onB.subscribe({});
    // web's death on A: notify B's "ops", SIGTERM B's "db", then two that cannot be
    // forwarded (nothing listens; a certificate with no role there), each with a fail list.
    await a.ok("attach", "web", "--keep-on-death", "--", "/bin/sleep", "1000");
    await a.ok("condition", "web/death", "death");
    await a.ok(
      "action",
      "web/death/far",
      "notify",
      "--channel",
      "ops",
      "--code",
      "7",
      "--to-node",
      "n2",
    );
    await a.ok(
      "action",
      "web/death/stop-db",
      "signal",
      "--signal",
      "TERM",
      "--to-node",
      "n2",
      "--to-entity",
      "db",
    );
    await a.ok("action", "web/death/down", "notify", "--channel", "ops", "--to-node", "n2-down");
    await a.ok(
      "action-fail",
      "web/death/down",
      "tell",
      "notify",
      "--channel",
      "fallback",
      "--code",
      "1",
    );
    // The same through the library: a notify to a node whose HAM refuses our credentials.
    await using lib = await connect({ stateDir: a.stateDir, client: "test" });
    const refused = await lib.conditionHandle("web/death").then((c) =>
      c.notifyNode("refused", "n2-stranger", "ops", 0, 0)
    );
    await refused.failNotify("tell", "fallback", 2, 0);
    // The library's fail forms naming a node: a notification, and a signal, to node n2.
    await refused.failNotifyNode("far", "n2", "ops", 9, 0);
    await refused.failSignalNode("stop-db2", "n2", "db2", "KILL");
    // And to a node whose certificate our CA did not sign.
    await a.ok(
      "action",
      "web/death/untrusted",
      "notify",
      "--channel",
      "ops",
      "--to-node",
      "n2-untrusted",
    );
    await a.ok(
      "action-fail",
      "web/death/untrusted",
      "tell",
      "notify",
      "--channel",
      "fallback",
      "--code",
      "3",
    );
    const text = await a.ok("status", "web/death/far");
    assertMatch(text, /Notify Node +: n2/);

    // The actions naming nodes survive a takeover (the Guardian's copy of the state, and
    // its HAM forwards with the same nodes file).
    await a.waitTakeover(await a.killHam());
    // On A: a subscriber of the channel the fail lists notify.
    await using onA = await connect({ stateDir: a.stateDir, client: "test" });
    const fallback = await onA.subscribe({ channel: "fallback" });
    const web = (await a.status()).entities.find((e) => e.name === "web")!;
    Deno.kill(web.pid!, "SIGKILL");
    const got = await deadline(ops[Symbol.asyncIterator]().next(), 20_000, "ops on B");
    const ev = got.value!;
    assertEquals(
      [ev.type, ev.entity, ev.condition, ev.action, ev.detail],
      ["notify", "web", "web/death", "far", { channel: "ops", code: 7, value: 0, from: "admin" }],
    );
    const deaths = await deadline(
      (async () => {
        const deaths = new Map<string, HamEvent>();
        for await (const e of bEvents) {
          if (e.type === "death") deaths.set(e.entity, e);
          if (deaths.size === 2) return deaths;
        }
      })(),
      20_000,
      "the deaths of db and db2 on B",
    );
    const death = (
      name: string,
    ) => [deaths?.get(name)?.detail?.pid, deaths?.get(name)?.detail?.signal];
    assertEquals(death("db"), [db.pid, "SIGTERM"]);
    assertEquals(death("db2"), [db2.pid, "SIGKILL"]);
    // The fail list's notification to n2 came after the action's own.
    const second = await deadline(ops[Symbol.asyncIterator]().next(), 20_000, "ops on B again");
    assertEquals([second.value?.action, second.value?.detail?.code], ["refused", 9]);
    // Both unforwardable actions failed, each with its own code, and ran their fail lists.
    const codes = await deadline(
      (async () => {
        const codes: number[] = [];
        for await (const e of fallback) {
          codes.push(e.detail?.code as number);
          if (codes.length === 3) return codes;
        }
        return codes;
      })(),
      20_000,
      "both fail lists on A",
    );
    assertEquals(codes.sort(), [1, 2, 3]);
    const log = a.log();
    assertMatch(
      log,
      /Action "web\/death\/down" failed: cannot forward it to node "n2-down": EHOSTUNREACH/,
    );
    assertMatch(
      log,
      /Action "web\/death\/refused" failed: cannot forward it to node "n2-stranger": EACCES/,
    );
    assertMatch(
      log,
      /Action "web\/death\/untrusted" failed: cannot forward it to node "n2-untrusted": EKEYREJECTED/,
    );
    // hamctl notify: the same delivery by hand, with the report role there (read is not enough).
    ok(await remote.ctl("n2", "notify", "ops", "--code", "5"), "notify");
    const byHand = await deadline(ops[Symbol.asyncIterator]().next(), 20_000, "ops by hand");
    assertEquals([byHand.value?.detail?.code, byHand.value?.detail?.from], [5, "admin"]);
    const viewer = await remote.ctl("n2-viewer", "notify", "ops");
    assertEquals(viewer.code, 1, viewer.stderr);
    assertMatch(viewer.stderr, /EPERM: .*"notify".*report/);
    // A failed action is removed (no keep-on-fail); the forwarded ones stay.
    const after = await a.ok("status", "web/death", "--json");
    assertEquals(
      after.actions.map((x: { path: string }) => x.path),
      ["web/death/far", "web/death/stop-db"],
    );
  },
);

/** Resolves once the peer has closed `conn` (EOF or a reset). */
async function closedByPeer(conn: Deno.Conn): Promise<void> {
  const buf = new Uint8Array(1024);
  try {
    while (await conn.read(buf) !== null) { /* what a TLS server says to a non-TLS peer */ }
  } catch { /* reset */ }
}

Deno.test(
  "a remote HAM closes TCP connections that never handshake, past its cap and after a timeout",
  opts,
  async () => {
    // 256 descriptors: the cap is a quarter (64). 300 connections without a handshake used
    // to take them all (node:tls waits 120 s for one), and local clients got ENOMEM.
    await using remote = await startRemote({
      guardian: false,
      wrapper: ["prlimit", "--nofile=256:256", "--"],
    });
    const hamPid = await remote.ham.hamPid();
    const raw: Deno.Conn[] = [];
    try {
      for (let i = 0; i < 300; i++) {
        raw.push(await Deno.connect({ hostname: "127.0.0.1", port: remote.port }));
        if (i % 100 === 99) await remote.ham.ok("ping");
      }
      await remote.ham.ok("ping");
      // Those past the cap are closed at once, the others when their handshake is late.
      await deadline(
        Promise.all(raw.map(closedByPeer)),
        DEFAULTS.tlsHandshakeTimeoutMs + 10_000,
        "the HAM to close 300 connections that never began a TLS handshake",
      );
      await remote.ham.ok("ping");
      // A client with a certificate is served as before.
      ok(await remote.ctl("n2", "ping"), "ping over mutual TLS");
      assertEquals(await remote.ham.hamPid(), hamPid);
      assertMatch(remote.ham.log(), /Refusing TLS connections: 64 are open \(the cap/);
    } finally {
      for (const c of raw) {
        try {
          c.close();
        } catch { /* closed */ }
      }
    }
  },
);

Deno.test(
  "a node that completes the TLS handshake and never answers is EHOSTUNREACH within the connect timeout",
  opts,
  async () => {
    const certs = await makeCerts(["admin"]);
    const local = await Deno.makeTempDir({ prefix: "ham-test-local-" });
    const sockets = new Set<Socket>();
    const server = nodeTls.createServer({
      cert: await Deno.readTextFile(certs.serverCert),
      key: await Deno.readTextFile(certs.serverKey),
      ca: await Deno.readTextFile(certs.ca),
      requestCert: true,
      rejectUnauthorized: false,
    }, (socket) => {
      // Handshaken, then silent: never a byte of answer.
      sockets.add(socket);
      socket.on("error", () => {});
      socket.on("close", () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      const nodes = `${certs.dir}/nodes.json`;
      await Deno.writeTextFile(
        nodes,
        JSON.stringify({
          stall: {
            address: `127.0.0.1:${port}`,
            ca: certs.ca,
            cert: certs.clients.admin.cert,
            key: certs.clients.admin.key,
          },
        }),
      );
      const child = new Deno.Command(`${BIN}/hamctl`, {
        args: ["--state-dir", local, "--nodes", nodes, "--node", "stall", "status"],
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      const out = await deadline(
        child.output(),
        DEFAULTS.nodeConnectTimeoutMs + 5_000,
        "hamctl --node stall to give up",
      ).catch((err) => {
        child.kill("SIGKILL");
        throw err;
      });
      const stderr = new TextDecoder().decode(out.stderr);
      assertEquals(out.code, 3, stderr);
      assertMatch(stderr, /^hamctl: EHOSTUNREACH: Cannot reach node "stall".*"hello"/);
      // The node forwarder: one deadline for the connection, hello and the request.
      const forward = nodeForwarder({ stateDir: local, nodes, timeoutMs: 1_000 });
      const sent = performance.now();
      const err = await deadline(
        forward("stall", {
          op: "notify",
          channel: "ops",
          code: 0,
          value: 0,
          entity: null,
          condition: null,
          action: null,
        }).then(() => null, (e) => e),
        5_000,
        "the forwarder to give up",
      );
      const ms = performance.now() - sent;
      assert(err instanceof HamError && err.code === "EHOSTUNREACH", String(err));
      assert(ms < 2_000, `the forwarder gave up after ${ms.toFixed(0)} ms`);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
      await Deno.remove(certs.dir, { recursive: true });
      await Deno.remove(local, { recursive: true });
    }
  },
);

Deno.test(
  "the node forwarder dials again, within its deadline, a node whose HAM does not listen yet",
  opts,
  async () => {
    // The node's HAM restarting (or its Guardian taking over): the port refuses for a while.
    const certs = await makeCerts(["admin"]);
    const local = await Deno.makeTempDir({ prefix: "ham-test-local-" });
    const port = freePort();
    try {
      const nodes = `${certs.dir}/nodes.json`;
      await Deno.writeTextFile(
        nodes,
        JSON.stringify({
          n2: {
            address: `127.0.0.1:${port}`,
            ca: certs.ca,
            cert: certs.clients.admin.cert,
            key: certs.clients.admin.key,
          },
        }),
      );
      const forward = nodeForwarder({ stateDir: local, nodes, timeoutMs: 60_000 });
      const notify = {
        op: "notify",
        channel: "ops",
        code: 3,
        value: 0,
        entity: null,
        condition: null,
        action: null,
      } as const;
      // Nothing was sent on a refused dial: sending once the HAM listens sends it once.
      const sent = forward("n2", notify).then(() => null, (e) => e);
      await using ham = await HamProcess.start({
        guardian: false,
        args: [
          "--listen",
          `127.0.0.1:${port}`,
          "--tls-cert",
          certs.serverCert,
          "--tls-key",
          certs.serverKey,
          "--tls-ca",
          certs.ca,
          "--tls-role",
          "admin=admin",
        ],
      });
      assertEquals(await deadline(sent, 60_000, "the forwarded notify"), null);
      await using onB = await connect({ stateDir: ham.stateDir, client: "test" });
      const backlog = await onB.subscribe({ channel: "ops" });
      const got = await deadline(backlog[Symbol.asyncIterator]().next(), 20_000, "ops on B");
      assertEquals([got.value?.detail?.code, got.value?.detail?.from], [3, "admin"]);
      const more = await onB.client.request("events", { channel: "ops" } as never);
      assertEquals((more as { events: unknown[] }).events.length, 1, "delivered once");
    } finally {
      await Deno.remove(certs.dir, { recursive: true });
      await Deno.remove(local, { recursive: true });
    }
  },
);
