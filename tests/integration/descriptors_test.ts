/**
 * Descriptor exhaustion: a HAM under a hard `ulimit -n` keeps its accept loop, refuses new
 * connections cleanly while out of descriptors (logging it once), watches a pid by polling
 * `/proc` instead of failing the attach, and accepts again as soon as descriptors free.
 */

import { equal, match, ok } from "node:assert/strict";
import { HamClient } from "../../lib/client/client.ts";
import { HamError } from "../../lib/core/errors.ts";
import { HamProcess, until } from "../support/ham_process.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test("ham refuses connections while out of descriptors and accepts again", opts, async () => {
  await using ham = await HamProcess.start({ wrapper: ["prlimit", "--nofile=96:96", "--"] });
  const connect = () => HamClient.connect({ stateDir: ham.stateDir, client: "t", timeoutMs: 5000 });
  await using held = await connect();
  const open: HamClient[] = [];
  let refused: HamError | null = null;
  while (refused === null && open.length < 200) {
    await connect().then((c) => open.push(c), (err) => (refused = err));
  }
  ok(refused !== null, `refused after ${open.length} connections`);
  const refusal = refused as HamError;
  equal(refusal.code, "ENOMEM", refusal.message);
  match(refusal.message, /out of file descriptors/);
  // More attempts while exhausted are refused too, and the episode is logged once.
  for (let i = 0; i < 5; i++) {
    equal(await connect().then(() => "ok", (err) => err.code), "ENOMEM");
  }

  // Attaching a pid while out of descriptors: watched by polling /proc, not ESRCH.
  const sleeper = new Deno.Command("/bin/sleep", {
    args: ["1000"],
    env: { HAM_STATE_DIR: ham.stateDir },
  }).spawn();
  await held.request("attach", {
    entity: "w",
    argv: null,
    pid: sleeper.pid,
    cwd: null,
    env: null,
    flags: 0,
    heartbeat: null,
  });
  const { next } = await held.request("events", {
    since: 0,
    entity: null,
    limit: 1,
  });
  const since = (await held.request("events", {
    since: next,
    entity: null,
    limit: 100_000,
  })).next;
  sleeper.kill("SIGKILL");
  await sleeper.status;
  await held.request("wait", { entity: "w", for: "dead", since, timeoutMs: 10_000 }, {
    timeoutMs: 12_000,
  });

  for (const c of open.splice(0)) await c.close();
  const again = await until(() => connect().catch(() => null), "a connection to be accepted");
  equal((await again.request("ping")).pong, true);
  await again.close();
  const log = ham.log();
  equal(log.match(/Out of file descriptors: refusing new connections/g)?.length, 1, log);
  match(log, /Accepting connections again \(\d+ refused while out of file descriptors\)/);
});
