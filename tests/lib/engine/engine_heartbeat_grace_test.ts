/** Heartbeat accounting after the restart of a self-attached entity, on a fake clock. */

import * as assert from "node:assert/strict";
import { DEFAULTS } from "../../../lib/core/defaults.ts";
import { selfAttachedEngine } from "../../support/self_attached_engine.ts";
import { P, Tree } from "../../support/tree.ts";

const flush = async () => {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setTimeout(r, 0));
};

async function restartedSelf() {
  const { clock, procs, store, engine } = await selfAttachedEngine();
  new Tree(store).condition("app/death", "death", 1).action("app/death/restart", P.restart(), 1)
    .condition("app/low", "hb-missed-low", 1).action("app/low/note", P.exec("low"), 1);
  engine.connectionLost("app", 700);
  await flush();
  const pid = store.state.entities.get("app")!.pid!;
  assert.notEqual(pid, 700, "restarted");
  return { clock, procs, store, engine, pid };
}

Deno.test("Engine gives a restarted self-attached entity a grace before missed heartbeats count", async () => {
  const h = await restartedSelf();
  await h.clock.advance(DEFAULTS.restartHeartbeatGraceMs);
  await flush();
  assert.deepEqual(h.procs.runs, [], "no missed-low while it starts and attaches again");
  await h.clock.advance(20);
  await flush();
  assert.deepEqual(h.procs.runs, ["low"], "after the grace, 2 empty periods fire missed-low");
  h.engine.stop();
});

Deno.test("Engine counts heartbeats at once when the restarted process attaches itself again", async () => {
  const h = await restartedSelf();
  await h.engine.attach({
    entity: "app",
    argv: null,
    pid: h.pid,
    cwd: null,
    env: null,
    flags: 0,
    heartbeat: { periodMs: 10, low: 2, high: 4 },
    kind: "self",
  });
  await h.clock.advance(20);
  await flush();
  assert.deepEqual(h.procs.runs, ["low"], "the re-attach ended the grace");
  h.engine.stop();
});

Deno.test("Engine keeps a restarted self-attached entity's grace when the wall clock is set during it", async () => {
  const h = await restartedSelf();
  // Another entity beats on, so the period-end timer wakes during the grace.
  h.procs.addProcess(800, { argv: ["other"] });
  await h.engine.attach({
    entity: "other",
    argv: null,
    pid: 800,
    cwd: null,
    env: null,
    flags: 0,
    heartbeat: { periodMs: 10, low: 0, high: 0 },
    kind: "attached",
  });
  await h.clock.advance(1_000);
  h.clock.jump(3_600_000); // NTP steps the clock an hour ahead.
  await h.clock.advance(1_000);
  await flush();
  assert.deepEqual(h.procs.runs, [], "3 s of its grace are left");
  await h.clock.advance(DEFAULTS.restartHeartbeatGraceMs);
  await flush();
  assert.deepEqual(h.procs.runs, ["low"], "after it, missed periods count");
  h.engine.stop();
});
