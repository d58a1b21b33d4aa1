/**
 * Cross-node notify: a HAM whose entity's death condition has a notify action naming
 * another node (`--to-node n2`), and that node's HAM serving mutual TLS with a subscriber
 * of the channel. Each round SIGKILLs the worker and times kill → the subscriber on the
 * other node has the notification (one TLS connection and handshake per delivery), then
 * waits for the worker's restart.
 *
 * @module
 */

import { connect } from "../lib/client/ham.ts";
import type { HamEvent } from "../lib/core/protocol.ts";
import { HamProcess } from "../tests/support/ham_process.ts";
import { freePort, makeCerts } from "../tests/support/tls_certs.ts";
import { type Figure, figure } from "./stats.ts";

/** True when `openssl` (which makes the test certificates) is installed. */
function hasOpenssl(): boolean {
  return ["/usr/bin/openssl", "/usr/local/bin/openssl"].some((p) => {
    try {
      return Deno.statSync(p).isFile;
    } catch {
      return false;
    }
  });
}

/** Measures `rounds` forwarded notifications; an empty list without openssl. */
export async function measureCrossNodeNotify(rounds: number): Promise<Figure[]> {
  if (!hasOpenssl()) return [];
  const certs = await makeCerts(["admin"]);
  try {
    const port = freePort();
    await using b = await HamProcess.start({
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
        "admin=report",
      ],
    });
    const nodes = `${certs.dir}/nodes.json`;
    await Deno.writeTextFile(
      nodes,
      JSON.stringify({
        n2: { address: `127.0.0.1:${port}`, ca: certs.ca, ...certs.clients.admin },
      }),
    );
    await using a = await HamProcess.start({ args: ["--nodes", nodes] });
    await using onB = await connect({ stateDir: b.stateDir, client: "bench" });
    const ops = (await onB.subscribe({ channel: "ops" }))[Symbol.asyncIterator]() as AsyncIterator<
      HamEvent
    >;
    await using onA = await connect({ stateDir: a.stateDir, client: "bench" });
    const web = await onA.attach("web", { argv: ["/bin/sleep", "1000"] });
    const death = await web.condition("death", "death", { flags: ["rearm"] });
    await death.notifyNode("far", "n2", "ops", 0, 0, { flags: ["rearm"] });
    await death.restart("restart", { flags: ["rearm"], policy: { intensity: 0, backoffMs: 0 } });
    await using control = await a.client();
    const times: number[] = [];
    let pid = web.pid!;
    for (let round = 0; round < rounds; round++) {
      const killedAt = performance.now();
      Deno.kill(pid, "SIGKILL");
      const got = await ops.next();
      if (got.done) throw new Error("The subscription on node n2 ended");
      times.push(performance.now() - killedAt);
      await control.request("wait", { entity: "web", for: "restarted", pid, timeoutMs: 10_000 });
      pid = (await control.request("status", { path: "web" }) as { pid: number }).pid;
    }
    return [
      figure({
        id: "cross_node.notify",
        label:
          "cross-node notify: SIGKILL → subscriber on the other node has it (a TLS connection per delivery)",
        unit: "ms",
        target: null,
      }, times),
    ];
  } finally {
    await Deno.remove(certs.dir, { recursive: true });
  }
}
