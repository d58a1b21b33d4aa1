import { POLICY_DEFAULTS } from "../../../lib/core/restart_policy.ts";
/**
 * The death path (`lib/engine/deaths.ts`): deaths of one entity handled one at a time and
 * each judged on its own, and "journal first, then act" checked by crashing the engine at
 * every one of its step boundaries and letting a new engine take over from what was
 * written at that instant (the event path acts once a death is written, not durable).
 */

import assert from "node:assert/strict";
import { Engine } from "../../../lib/engine/engine.ts";
import type { EventBody } from "../../../lib/core/protocol.ts";
import { HREARMAFTERRESTART } from "../../../lib/core/flags.ts";
import type { ExitStatus } from "../../../lib/core/model.ts";
import { memoryLogger } from "../../../lib/os/logger.ts";
import { FakeClock, flush } from "../../support/fake_clock.ts";
import { FakeProcesses } from "../../support/fake_processes.ts";
import { CrashableStore } from "../../support/fault_store.ts";
import { MemoryStore } from "../../support/memory_store.ts";
import { P, Tree } from "../../support/tree.ts";
import type { Store } from "../../../lib/engine/engine.ts";

const R = HREARMAFTERRESTART;
const EXIT1: ExitStatus = { code: 1, signal: null };

function newEngine(store: Store, procs: FakeProcesses, clock: FakeClock, onStep?: () => void) {
  const events: EventBody[] = [];
  const engine = new Engine({
    store,
    processes: procs,
    clock,
    log: memoryLogger(0),
    emit: (ev) => events.push(ev),
    onStep,
  });
  return { engine, events };
}

async function attachSrv(engine: Engine): Promise<number> {
  const r = await engine.attach({
    entity: "srv",
    argv: ["srv-server"],
    pid: null,
    cwd: null,
    env: null,
    flags: 0,
    heartbeat: null,
  });
  return r.pid;
}

/** Lets everything started finish, moving the fake clock past every wait. */
async function settle(engine: Engine, clock?: FakeClock): Promise<void> {
  for (let i = 0; i < 20; i++) {
    await flush();
    if (!clock || clock.pending === 0) break;
    await clock.advance(1000);
  }
  await engine.idle();
  await flush();
}

/** A restart policy without backoff or limit (the default one has both). */
const UNLIMITED = { ...POLICY_DEFAULTS, backoffMs: 0, intensity: 0 };

Deno.test("Deaths.exited() handles a death that arrives while the previous death's list runs, after it", async () => {
  const clock = new FakeClock(0);
  const procs = new FakeProcesses(clock);
  const store = new MemoryStore();
  const { engine, events } = newEngine(store, procs, clock);
  const first = await attachSrv(engine);
  // The entity: a restart whose command fails once (its process dies at once),
  // then a wait; and a `restart` condition with a log action.
  new Tree(store)
    .condition("srv/death", "death", R)
    // Two restarts at once: relaxed explicitly (the default policy would back off).
    .action("srv/death/restart", { kind: "restart", argv: ["flaky"], policy: UNLIMITED }, R)
    .action("srv/death/settle", P.waitfor(300), R)
    .condition("srv/up", "restart", R)
    .action("srv/up/note", P.log("restarted"), R);
  procs.kill(first, EXIT1);
  await flush();
  const second = store.state.entities.get("srv")!.pid!;
  assert.notEqual(second, first);
  procs.kill(second, EXIT1); // Dies while its death's list waits.
  await flush();
  await clock.advance(300);
  await flush();
  await clock.advance(300);
  await settle(engine);
  const srv = store.state.entities.get("srv");
  assert.ok(srv, "srv was removed although its second death restarted it");
  assert.ok(srv.pid !== null && procs.isAlive(srv.pid));
  assert.deepEqual([srv.deaths, srv.restarts], [2, 2]);
  assert.deepEqual(events.filter((e) => e.type === "remove"), []);
  const restarts = events.filter((e) => e.type === "action" && e.action === "restart");
  assert.deepEqual(restarts.map((e) => e.detail?.ok), [true, true]);
  assert.deepEqual(store.recordsOf("death-done").length, 2);
  assert.equal(srv.deathPending, false);
});

Deno.test("Deaths.exited() removes an entity whose death was not restarted only once no later death waits", async () => {
  const clock = new FakeClock(0);
  const procs = new FakeProcesses(clock);
  const store = new MemoryStore();
  const { engine, events } = newEngine(store, procs, clock);
  const first = await attachSrv(engine);
  new Tree(store)
    .condition("srv/death", "death", R)
    .action("srv/death/restart", P.restart(["flaky"]), R)
    .action("srv/death/settle", P.waitfor(300), R);
  procs.kill(first, EXIT1);
  await flush();
  procs.failSpawn = true; // The second death's restart fails: that death removes srv.
  procs.kill(store.state.entities.get("srv")!.pid!, EXIT1);
  await flush();
  await settle(engine, clock);
  assert.equal(store.state.entities.has("srv"), false);
  assert.equal(events.filter((e) => e.type === "remove").length, 1);
});

Deno.test("Engine.handleExit() runs nothing before the death and its runs are written", async () => {
  const clock = new FakeClock(0);
  const procs = new FakeProcesses(clock);
  const store = new CrashableStore();
  const { engine } = newEngine(store, procs, clock);
  const pid = await attachSrv(engine);
  new Tree(store as unknown as MemoryStore)
    .condition("srv/death", "death", R)
    .action("srv/death/restart", P.restart(), R);
  await flush();
  const spawnsBefore = procs.callsOf("spawn").length;
  procs.kill(pid, EXIT1);
  // The death is applied at once; its write lands in the file on a later macrotask.
  for (let i = 0; i < 100; i++) await Promise.resolve();
  assert.equal(procs.callsOf("spawn").length, spawnsBefore, "restarted before written");
  await settle(engine);
  assert.equal(procs.callsOf("spawn").length, spawnsBefore + 1);
});

Deno.test("Engine.handleExit() restarts without waiting for the death to be durable", async () => {
  const clock = new FakeClock(0);
  const procs = new FakeProcesses(clock);
  const store = new CrashableStore();
  const { engine } = newEngine(store, procs, clock);
  const pid = await attachSrv(engine);
  new Tree(store as unknown as MemoryStore)
    .condition("srv/death", "death", R)
    .action("srv/death/restart", P.restart(), R);
  await flush();
  const spawnsBefore = procs.callsOf("spawn").length;
  const durableBefore = store.durableSeq;
  store.stallSync = true; // An fsync that takes its time.
  procs.kill(pid, EXIT1);
  await flush();
  assert.equal(procs.callsOf("spawn").length, spawnsBefore + 1, "restarted once written");
  assert.equal(store.durableSeq, durableBefore, "nothing durable yet");
  store.releaseSync();
  await settle(engine);
  assert.equal(procs.callsOf("spawn").length, spawnsBefore + 1);
  assert.equal(store.durableSeq, store.state.seq);
});

/**
 * Runs `scenario` on an engine that crashes at its `k`-th step boundary after the setup;
 * a new engine resumes from what was durable then. Returns false when the scenario
 * ended before step `k` (every boundary has been tried).
 */
async function crashAt(
  k: number,
  setup: (store: MemoryStore) => void,
  scenario: (h: { engine: Engine; procs: FakeProcesses; clock: FakeClock }) => Promise<void>,
): Promise<{ crashed: boolean; store: MemoryStore; procs: FakeProcesses }> {
  const clock = new FakeClock(0);
  const procs = new FakeProcesses(clock);
  procs.findsOwnSpawns = true;
  const store = new CrashableStore();
  let counting = false, steps = 0;
  let after: MemoryStore | null = null;
  const old = newEngine(store, procs, clock, () => {
    if (!counting || after) return;
    if (++steps === k) {
      after = store.crash(); // SIGKILL: what is written now is all the next HAM gets.
      old.engine.stop();
    }
  });
  await attachSrv(old.engine);
  setup(store as unknown as MemoryStore);
  await flush();
  counting = true;
  await scenario({ engine: old.engine, procs, clock });
  await settle(old.engine, clock);
  if (!after) return { crashed: false, store: store.crash(), procs };
  const next = newEngine(after, procs, clock);
  next.engine.resume();
  await settle(next.engine, clock);
  return { crashed: true, store: after, procs };
}

function assertOneLiveProcess(store: MemoryStore, procs: FakeProcesses, k: number): void {
  const srv = store.state.entities.get("srv");
  assert.ok(srv, `crash at step ${k}: srv is gone`);
  const live = procs.liveOf("srv");
  assert.deepEqual(live, [srv.pid], `crash at step ${k}: srv at ${srv.pid}, live ${live}`);
}

Deno.test("Engine.resume() leaves exactly one process per entity whichever step the HAM dies at", async () => {
  let k = 1;
  for (;; k++) {
    const r = await crashAt(k, (store) => {
      new Tree(store)
        .condition("srv/death", "death", R)
        .action("srv/death/pre", P.exec("pre"), R)
        .action("srv/death/restart", P.restart(), R)
        .action("srv/death/post", P.exec("post"), R);
    }, async ({ procs }) => {
      procs.kill(procs.liveOf("srv")[0], EXIT1);
      await flush();
    });
    assertOneLiveProcess(r.store, r.procs, k);
    const srv = r.store.state.entities.get("srv")!;
    assert.deepEqual([srv.deaths, srv.restarts], [1, 1], `crash at step ${k}`);
    if (!r.crashed) break;
  }
  assert.ok(k > 8, `only ${k} step boundaries`);
});

Deno.test("Engine.resume() handles queued deaths once each whichever step the HAM dies at", async () => {
  let k = 1;
  for (;; k++) {
    const r = await crashAt(k, (store) => {
      new Tree(store)
        .condition("srv/death", "death", R)
        .action("srv/death/restart", P.restart(), R)
        .action("srv/death/settle", P.waitfor(300), R);
    }, async ({ procs, clock }) => {
      procs.kill(procs.liveOf("srv")[0], EXIT1);
      await flush();
      const again = procs.liveOf("srv");
      if (again.length > 0) procs.kill(again[0], EXIT1);
      await flush();
      await clock.advance(300);
      await flush();
      await clock.advance(300);
      await flush();
    });
    assertOneLiveProcess(r.store, r.procs, k);
    const srv = r.store.state.entities.get("srv")!;
    assert.equal(srv.deathPending, false, `crash at step ${k}`);
    assert.equal(srv.deaths, srv.restarts, `crash at step ${k}`);
    if (!r.crashed) break;
  }
  assert.ok(k > 8, `only ${k} step boundaries`);
});
