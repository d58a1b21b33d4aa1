/**
 * Descriptor exhaustion with a real HAM under a hard `ulimit -n` of 96: it keeps its accept
 * loop, refuses new connections cleanly while out of descriptors (logging it once), watches
 * a pid attached meanwhile by polling `/proc` instead of failing the attach, accepts again as
 * soon as descriptors free, and stops normally (`hamctl stop`) at the end.
 */

import { equal, match, ok } from "node:assert/strict";
import { HamClient } from "../../lib/client/client.ts";
import { HamError } from "../../lib/core/errors.ts";
import { HamProcess, until } from "../support/ham_process.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

/** The sequence number the next event will get. */
async function eventSeq(c: HamClient): Promise<number> {
  const { next } = await c.request("events", { since: 0, entity: null, limit: 1 });
  return (await c.request("events", { since: next, entity: null, limit: 100_000 })).next;
}
/** Runs the HAM (and so its Guardian) with soft and hard descriptor limits of 96. */
const LOW_LIMIT = ["/bin/sh", "-c", 'ulimit -n 96 && exec "$@"', "sh"];

Deno.test(
  "a HAM out of descriptors refuses connections cleanly, watches pids by /proc, accepts again",
  opts,
  async () => {
    await using ham = await HamProcess.start({ wrapper: LOW_LIMIT });
    const connect = () =>
      HamClient.connect({ stateDir: ham.stateDir, client: "t", timeoutMs: 10_000 });
    const held = await connect();
    const open: HamClient[] = [];
    try {
      let refused: HamError | null = null;
      while (refused === null && open.length < 200) {
        await connect().then((c) => open.push(c), (err) => (refused = err));
      }
      ok(refused !== null, `refused after ${open.length} connections`);
      const refusal = refused as HamError;
      equal(refusal.code, "ENOMEM", refusal.message);
      match(refusal.message, /out of file descriptors/);
      // Later attempts while exhausted are refused the same way, never left hanging.
      for (let i = 0; i < 5; i++) {
        equal(await connect().then(() => "accepted", (err) => err.code), "ENOMEM");
      }

      // Pids attached meanwhile take the last descriptors as pidfds; one attached once none
      // is left is watched by polling /proc instead of failing the attach.
      const sleep = () =>
        new Deno.Command("/bin/sleep", { args: ["1000"], env: { HAM_STATE_DIR: ham.stateDir } })
          .spawn();
      const attach = (entity: string, pid: number) =>
        held.request("attach", {
          entity,
          argv: null,
          pid,
          cwd: null,
          env: null,
          flags: 0,
          heartbeat: null,
        });
      let polled: Deno.ChildProcess | null = null;
      let entity = "";
      for (let i = 0; polled === null && i < 100; i++) {
        const sleeper = sleep();
        await attach(`w${i}`, sleeper.pid);
        if (ham.log().includes(`watching pid ${sleeper.pid} `)) {
          [polled, entity] = [sleeper, `w${i}`];
        }
      }
      ok(polled !== null, "no attach fell back to /proc polling");
      match(ham.log(), new RegExp(`watching pid ${polled.pid} .*by polling /proc`));
      const since = await eventSeq(held);
      polled.kill("SIGKILL");
      await polled.status;
      // The entity is known from its attach: a status taken now may already show it dead.
      const dead = await held.request(
        "wait",
        { entity, for: "dead", since, timeoutMs: 20_000 },
        { timeoutMs: 25_000 },
      );
      equal(dead.reached, "dead");

      // Descriptors free: connections are accepted again.
      for (const c of open.splice(0)) await c.close();
      const again = await until(() => connect().catch(() => null), "a connection accepted");
      equal((await again.request("ping")).pong, true);
      await again.close();
      const log = ham.log();
      equal(log.match(/Out of file descriptors: refusing new connections/g)?.length, 1, log);
      match(log, /Accepting connections again \(\d+ refused while out of file descriptors\)/);
    } finally {
      for (const c of open) await c.close();
      await held.close();
    }
  },
);
