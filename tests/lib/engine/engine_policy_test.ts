/** Restart-storm protection in the engine, on a fake clock. */

import * as assert from "node:assert/strict";
import { Engine } from "../../../lib/engine/engine.ts";
import { memoryLogger } from "../../../lib/os/logger.ts";
import type { RestartPolicy } from "../../../lib/core/model.ts";
import { POLICY_DEFAULTS } from "../../../lib/core/restart_policy.ts";
import { FakeClock } from "../../support/fake_clock.ts";
import { FakeProcesses } from "../../support/fake_processes.ts";
import { MemoryStore } from "../../support/memory_store.ts";
import { P, Tree } from "../../support/tree.ts";

const flush = () => new Promise<void>((r) => setTimeout(r, 0));

async function setup(policy: Partial<RestartPolicy>, keep = true) {
  const clock = new FakeClock(1_000_000);
  const procs = new FakeProcesses(clock);
  const store = new MemoryStore();
  const engine = new Engine({ store, processes: procs, clock, log: memoryLogger(0) });
  await engine.attach({
    entity: "web",
    argv: ["web-server"],
    pid: null,
    cwd: null,
    env: null,
    flags: keep ? 0x2 : 0,
    heartbeat: null,
  });
  new Tree(store)
    .condition("web/death", "death", 1)
    .action("web/death/restart", {
      kind: "restart",
      argv: null,
      policy: { ...POLICY_DEFAULTS, ...policy },
    }, 1 | 0x8)
    .condition("web/limit", "restart-limit", 1)
    .action("web/limit/page", P.exec("page-operator"), 1);
  return { clock, procs, store, engine };
}

async function crash(h: Awaited<ReturnType<typeof setup>>): Promise<void> {
  const pid = h.store.state.entities.get("web")!.pid!;
  h.procs.kill(pid, { code: 1, signal: null });
  for (let i = 0; i < 5; i++) await flush();
}

Deno.test("Engine holds a storm of crashes to the configured intensity and raises restart-limit", async () => {
  const h = await setup({ intensity: 3, windowMs: 60_000, backoffMs: 0 });
  for (let i = 0; i < 3; i++) await crash(h);
  assert.equal(h.store.state.entities.get("web")!.restarts, 3);
  await crash(h);
  await h.engine.idle();
  const web = h.store.state.entities.get("web")!;
  assert.equal(web.restarts, 3, "the 4th crash within the window is not restarted");
  assert.equal(web.pid, null);
  assert.match(web.restartBlocked ?? "", /3 restarts within 60000 ms \(limit 3\): given up/);
  assert.deepEqual(h.procs.runs, ["page-operator"], "restart-limit actions ran");
});

Deno.test("Engine waits the backoff before a restart within the window", async () => {
  const h = await setup({ backoffMs: 100, maxBackoffMs: 1000 });
  await crash(h); // first in a quiet window: at once
  assert.equal(h.store.state.entities.get("web")!.restarts, 1);
  await crash(h);
  const web = h.store.state.entities.get("web")!;
  assert.equal(web.pid, null, "held back by the backoff");
  assert.equal(web.backoffMs, 100);
  await h.clock.advance(99);
  assert.equal(h.store.state.entities.get("web")!.pid, null);
  await h.clock.advance(1);
  await flush();
  assert.notEqual(h.store.state.entities.get("web")!.pid, null);
  assert.equal(h.store.state.entities.get("web")!.backoffMs, 0);
  h.engine.stop();
});

Deno.test("Engine retries once after the cool-down when the limit is hit", async () => {
  const h = await setup({ intensity: 1, windowMs: 60_000, cooldownMs: 5000 });
  await crash(h);
  assert.equal(h.store.state.entities.get("web")!.restarts, 1);
  await crash(h);
  assert.match(
    h.store.state.entities.get("web")!.restartBlocked ?? "",
    /retrying once after 5000 ms/,
  );
  await h.clock.advance(5000);
  for (let i = 0; i < 5; i++) await flush();
  const web = h.store.state.entities.get("web")!;
  assert.equal(web.restarts, 2);
  assert.equal(web.restartBlocked, null);
  h.engine.stop();
});

Deno.test("Engine holds a restart action without a policy to the default one (5 in 10 s)", async () => {
  const clock = new FakeClock(1_000_000);
  const procs = new FakeProcesses(clock);
  const store = new MemoryStore();
  const engine = new Engine({ store, processes: procs, clock, log: memoryLogger(0) });
  await engine.attach({
    entity: "web",
    argv: ["web-server"],
    pid: null,
    cwd: null,
    env: null,
    flags: 0x2,
    heartbeat: null,
    kind: "attached",
  });
  new Tree(store)
    .condition("web/death", "death", 1)
    .action("web/death/restart", P.restart(), 1 | 0x8)
    .condition("web/limit", "restart-limit", 1)
    .action("web/limit/page", P.exec("page-operator"), 1);
  const h = { clock, procs, store, engine };
  // A command that exits at once: each restart within the window waits 100, 200, 400, 800 ms.
  for (let i = 0; i < 10 && store.state.entities.get("web")?.pid; i++) {
    await crash(h);
    await clock.advance(1_000);
    await flush();
  }
  await engine.idle();
  const web = store.state.entities.get("web")!;
  assert.equal(web.restarts, 5, "restarted 5 times, not 10");
  assert.match(web.restartBlocked ?? "", /5 restarts within 10000 ms \(limit 5\): given up/);
  assert.deepEqual(procs.runs, ["page-operator"], "restart-limit fired");
  engine.stop();
});

Deno.test("Engine runs another entity's lists on the shared lane while a restart backs off", async () => {
  const h = await setup({ backoffMs: 10_000, maxBackoffMs: 10_000 });
  // The entity's own second death condition follows its restart, as on QNX's FIFO lane.
  new Tree(h.store).condition("web/death2", "death", 1).action(
    "web/death2/after",
    P.exec("after"),
    1,
  );
  await h.engine.attach({
    entity: "db",
    argv: ["db-server"],
    pid: null,
    cwd: null,
    env: null,
    flags: 0,
    heartbeat: null,
  });
  new Tree(h.store).condition("db/death", "death").action("db/death/page", P.exec("page-db"));
  await crash(h); // first in a quiet window: at once
  await h.engine.idle();
  const ran = h.procs.runs.length;
  await crash(h); // backs off 10 s, on the shared "other" lane
  assert.equal(h.store.state.entities.get("web")!.pid, null, "held back by the backoff");
  h.procs.kill(h.store.state.entities.get("db")!.pid!, { code: 1, signal: null });
  for (let i = 0; i < 5; i++) await flush();
  assert.deepEqual(
    h.procs.runs.slice(ran),
    ["page-db"],
    "db's list did not wait for web's backoff",
  );
  await h.clock.advance(10_000);
  await h.engine.idle();
  assert.notEqual(h.store.state.entities.get("web")!.pid, null);
  assert.deepEqual(
    h.procs.runs.slice(ran),
    ["page-db", "after"],
    "web's next list ran after its restart",
  );
  h.engine.stop();
});

Deno.test("Engine keeps restarts out of the window after the wall clock is set back", async () => {
  const h = await setup({ intensity: 3, windowMs: 10_000, backoffMs: 0 });
  for (let i = 0; i < 3; i++) await crash(h);
  assert.equal(h.store.state.entities.get("web")!.restarts, 3);
  // Long after the window, the wall clock is set back an hour: the three restarts are
  // still old (they were not an hour in the future), so the next crash is restarted.
  await h.clock.advance(60_000);
  h.clock.jump(-3_600_000);
  await crash(h);
  await h.engine.idle();
  const web = h.store.state.entities.get("web")!;
  assert.equal(web.restarts, 4, "restarted: nothing within the window");
  assert.equal(web.restartBlocked, null);
  assert.deepEqual(h.procs.runs, [], "restart-limit did not fire");
  h.engine.stop();
});

Deno.test("Engine keeps recent restarts in the window after the wall clock is set forward", async () => {
  const h = await setup({ intensity: 3, windowMs: 10_000, backoffMs: 0 });
  for (let i = 0; i < 3; i++) await crash(h);
  // Set forward an hour a moment later: the three restarts are still within 10 s.
  await h.clock.advance(1_000);
  h.clock.jump(3_600_000);
  await crash(h);
  await h.engine.idle();
  const web = h.store.state.entities.get("web")!;
  assert.equal(web.restarts, 3, "the 4th crash within the window is not restarted");
  assert.match(web.restartBlocked ?? "", /3 restarts within 10000 ms \(limit 3\): given up/);
  assert.deepEqual(h.procs.runs, ["page-operator"]);
});

Deno.test("Engine backs off from restarts counted on the monotonic clock across a wall-clock step", async () => {
  const h = await setup({ backoffMs: 100, maxBackoffMs: 1000, windowMs: 10_000 });
  await crash(h); // first in a quiet window: at once
  // Set forward an hour: the restart a moment ago still counts, so the next one waits.
  h.clock.jump(3_600_000);
  await crash(h);
  const web = h.store.state.entities.get("web")!;
  assert.equal(web.pid, null, "held back by the backoff");
  assert.equal(web.backoffMs, 100);
  await h.clock.advance(100);
  await flush();
  assert.notEqual(h.store.state.entities.get("web")!.pid, null);
  h.engine.stop();
});

Deno.test("Engine's hamctl restart is refused at the limit whichever way the wall clock was set", async () => {
  for (const step of [3_600_000, -3_600_000]) {
    const h = await setup({ intensity: 2, windowMs: 10_000, backoffMs: 0 });
    for (let i = 0; i < 2; i++) await crash(h);
    h.clock.jump(step);
    assert.throws(
      () => h.engine.restartEntity("web", 1_000),
      (e: unknown) => (e as { code?: string }).code === "EBUSY",
      `set ${step > 0 ? "forward" : "back"}: still at the limit`,
    );
    // Once the window has passed on the monotonic clock, it is allowed.
    await h.clock.advance(10_000);
    assert.deepEqual(h.engine.restartEntity("web", 1_000).entity, "web");
    await h.engine.idle();
    h.engine.stop();
  }
});
