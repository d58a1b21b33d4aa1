/**
 * Engine.resume(): what a HAM that takes over (or restarts on its state directory) does
 * with the runs and deaths a previous HAM journaled. The previous HAM is simulated by
 * records committed to the store; the new one is a fresh Engine over the same store.
 */

import * as assert from "node:assert/strict";
import { Engine } from "../../../lib/engine/engine.ts";
import { memoryLogger } from "../../../lib/os/logger.ts";
import type { Action } from "../../../lib/core/model.ts";
import { DEFAULTS } from "../../../lib/core/defaults.ts";
import { HENTITYKEEPONDEATH } from "../../../lib/core/flags.ts";
import type { ProcessLookup } from "../../../lib/engine/process_ops.ts";
import { findLeftovers } from "../../../lib/os/leftovers.ts";
import { ProcScan } from "../../../lib/os/proc_scan.ts";
import { FakeClock } from "../../support/fake_clock.ts";
import { FakeProcReader } from "../../support/fake_proc_reader.ts";
import { FakeProcesses } from "../../support/fake_processes.ts";
import { MemoryStore } from "../../support/memory_store.ts";
import { P, Tree } from "../../support/tree.ts";

const flush = () => new Promise<void>((r) => setTimeout(r, 0));

function newHam(store: MemoryStore) {
  const clock = new FakeClock(1000);
  const procs = new FakeProcesses(clock);
  const engine = new Engine({ store, processes: procs, clock, log: memoryLogger(0) });
  return { clock, procs, engine };
}

async function settle(engine: Engine): Promise<void> {
  await flush();
  await engine.idle();
  await flush();
}

/** A store holding entity "web" (pid 500, command web-server) with one condition. */
function previousHam(condType: "raise" | "death", actions: Array<[string, Action["params"]]>) {
  const store = new MemoryStore();
  store.commit([{
    t: "attach",
    entity: "web",
    kind: "attached",
    pid: 500,
    startTime: "st-500",
    argv: ["web-server"],
    cwd: null,
    env: null,
    spawnId: "old",
    spawned: true,
    flags: 0,
    heartbeat: null,
    at: 1,
  }]);
  const tree = new Tree(store).condition("web/c", condType, 1);
  for (const [name, params] of actions) tree.action(`web/c/${name}`, params, 1);
  const list = store.state.entities.get("web")!.conditions.get("c")!.actions.map((a) => ({ ...a }));
  return { store, list };
}

Deno.test("Engine.resume() continues a run at its first action that had not completed", async () => {
  const { store, list } = previousHam("raise", [
    ["a", P.exec("a")],
    ["b", P.exec("b")],
    ["c", P.exec("c")],
  ]);
  store.commit([
    {
      t: "fire",
      event: { type: "raise", entity: "web", raised: { rtype: 1, rclass: 0, rseverity: 0 } },
      runs: [{ run: "r1", owner: "web", condition: "c", lane: "other", list }],
    },
    {
      t: "result",
      entity: "web",
      condition: "c",
      action: "a",
      fail: null,
      ok: true,
      run: "r1",
      index: 0,
    },
  ]);
  const { procs, engine } = newHam(store);
  procs.addProcess(500);
  engine.resume();
  await settle(engine);
  assert.deepEqual(procs.runs, ["b", "c"], "action a completed before the takeover: not repeated");
  assert.equal(store.state.runs.size, 0);
  assert.equal(store.recordsOf("run-end").length, 1);
  assert.equal(procs.callsOf("spawn").length, 0, "the live entity is not restarted");
});

Deno.test("Engine.resume() fires a death once when no HAM had fired it", async () => {
  const { store } = previousHam("death", [["x", P.exec("x")]]);
  store.commit([{ t: "death", entity: "web", pid: 500, code: 1, signal: null, at: 2 }]);
  const { procs, engine } = newHam(store);
  engine.resume();
  await settle(engine);
  assert.deepEqual(procs.runs, ["x"]);
  assert.equal(store.recordsOf("fire").length, 1);
  assert.equal(store.state.entities.has("web"), false, "not restarted, so removed");
});

Deno.test("Engine.resume() only finishes a death whose runs all completed", async () => {
  const { store, list } = previousHam("death", [["x", P.exec("x")]]);
  store.commit([
    { t: "death", entity: "web", pid: 500, code: 1, signal: null, at: 2 },
    {
      t: "fire",
      event: { type: "death", entity: "web" },
      runs: [{ run: "r2", owner: "web", condition: "c", lane: "other", list }],
    },
    {
      t: "result",
      entity: "web",
      condition: "c",
      action: "x",
      fail: null,
      ok: true,
      run: "r2",
      index: 0,
    },
    { t: "run-end", run: "r2" },
  ]);
  const { procs, engine } = newHam(store);
  engine.resume();
  await settle(engine);
  assert.deepEqual(procs.runs, [], "nothing runs twice");
  assert.equal(store.recordsOf("fire").length, 1);
  assert.equal(store.state.entities.has("web"), false);
});

Deno.test("Engine.resume() adopts the process a previous HAM spawned for an interrupted restart", async () => {
  const { store, list } = previousHam("death", [["restart", P.restart()]]);
  store.commit([
    { t: "death", entity: "web", pid: 500, code: null, signal: "SIGKILL", at: 2 },
    {
      t: "fire",
      event: { type: "death", entity: "web" },
      runs: [{ run: "r3", owner: "web", condition: "c", lane: "other", list }],
    },
  ]);
  const { procs, engine } = newHam(store);
  procs.addProcess(777);
  procs.spawnedById.set("r3:0", 777);
  engine.resume();
  await settle(engine);
  assert.equal(procs.callsOf("spawn").length, 0, "no second process");
  const web = store.state.entities.get("web")!;
  assert.equal(web.pid, 777);
  assert.equal(web.restarts, 1);
  assert.equal(web.deathPending, false);
});

Deno.test("Engine.resume() replaces at its death a process an operator's journaled restart is replacing", async () => {
  const { store } = previousHam("death", [["note", P.exec("note")]]);
  // The previous HAM journaled `hamctl restart web`, sent SIGTERM and died.
  store.commit([{ t: "restart-request", entity: "web", pid: 500, spawnId: "op1" }]);
  const { procs, engine } = newHam(store);
  procs.addProcess(500, { argv: ["web-server"] });
  procs.termIgnored.add("web-server"); // Still stopping.
  engine.resume();
  await settle(engine);
  assert.equal(procs.callsOf("spawn").length, 0, "it still runs: nothing yet");
  procs.kill(500, { code: 0, signal: null });
  await settle(engine);
  assert.deepEqual(procs.runs, [], "the death it asked for fires nothing");
  const spawns = procs.callsOf("spawn");
  assert.equal(spawns.length, 1, "it is restarted, not removed");
  assert.equal(spawns[0].opts.spawnId, "op1");
  const web = store.state.entities.get("web")!;
  assert.equal(web.pid, spawns[0].pid);
  assert.equal(web.restartRequest, undefined, "done");
  await engine.stop();
});

Deno.test("Engine.resume() stops the process an operator's journaled restart is replacing: SIGTERM, SIGKILL after restartStopTimeoutMs", async () => {
  const { store } = previousHam("death", [["note", P.exec("note")]]);
  // The previous HAM journaled `hamctl restart web` and died before it sent anything.
  store.commit([{ t: "restart-request", entity: "web", pid: 500, spawnId: "op4" }]);
  const { clock, procs, engine } = newHam(store);
  procs.addProcess(500, { argv: ["web-server"] });
  procs.termIgnored.add("web-server");
  engine.resume();
  await settle(engine);
  assert.deepEqual(procs.callsOf("signal").map((c) => `${c.pid} ${c.signal}@${c.at}`), [
    "500 15@1000",
  ]);
  await clock.advance(DEFAULTS.restartStopTimeoutMs);
  await settle(engine);
  assert.deepEqual(procs.callsOf("signal").map((c) => `${c.pid} ${c.signal}@${c.at}`), [
    "500 15@1000",
    `500 9@${1000 + DEFAULTS.restartStopTimeoutMs}`,
  ]);
  const spawns = procs.callsOf("spawn");
  assert.equal(spawns.length, 1, "restarted once it ended");
  assert.equal(spawns[0].opts.spawnId, "op4");
  assert.deepEqual(procs.runs, [], "the death it asked for fires nothing");
  await engine.stop();
});

Deno.test("Engine.resume() adopts the process an operator's restart started before it was journaled", async () => {
  const { store } = previousHam("death", [["note", P.exec("note")]]);
  store.commit([
    { t: "restart-request", entity: "web", pid: 500, spawnId: "op2" },
    { t: "death", entity: "web", pid: 500, code: 0, signal: null, at: 2 },
    { t: "death-done", entity: "web" },
  ]);
  const { procs, engine } = newHam(store);
  procs.addProcess(777);
  procs.spawnedById.set("op2", 777);
  engine.resume();
  await settle(engine);
  assert.equal(procs.callsOf("spawn").length, 0, "no second copy");
  assert.equal(store.state.entities.get("web")!.pid, 777);
  assert.deepEqual(procs.runs, []);
});

Deno.test("Engine.resume() starts an entity whose operator's restart had not started it yet", async () => {
  const { store } = previousHam("death", [["note", P.exec("note")]]);
  store.commit([
    { t: "restart-request", entity: "web", pid: 500, spawnId: "op3" },
    { t: "death", entity: "web", pid: 500, code: 0, signal: null, at: 2 },
    { t: "death-done", entity: "web" },
  ]);
  const { procs, engine } = newHam(store);
  engine.resume();
  await settle(engine);
  const spawns = procs.callsOf("spawn");
  assert.equal(spawns.length, 1);
  assert.equal(spawns[0].opts.spawnId, "op3");
  assert.equal(store.state.entities.get("web")!.pid, spawns[0].pid);
});

Deno.test("Engine.resume() spawns when an interrupted restart had not spawned yet", async () => {
  const { store, list } = previousHam("death", [["restart", P.restart()]]);
  store.commit([
    { t: "death", entity: "web", pid: 500, code: null, signal: "SIGKILL", at: 2 },
    {
      t: "fire",
      event: { type: "death", entity: "web" },
      runs: [{ run: "r4", owner: "web", condition: "c", lane: "other", list }],
    },
  ]);
  const { procs, engine } = newHam(store);
  engine.resume();
  await settle(engine);
  const spawns = procs.callsOf("spawn");
  assert.equal(spawns.length, 1);
  assert.equal(
    spawns[0].opts.spawnId,
    "r4:0",
    "the step's marker, so a later takeover can adopt it",
  );
  assert.notEqual(store.state.entities.get("web")!.pid, null);
});

Deno.test("Engine.resume() adopts a restart spawned before the death's runs were journaled", async () => {
  const { store } = previousHam("death", [["restart", P.restart()]]);
  // The previous HAM journaled the death, spawned the restart and died before the rest.
  store.commit([{ t: "death", entity: "web", pid: 500, code: null, signal: "SIGKILL", at: 2 }]);
  const { procs, engine } = newHam(store);
  procs.addProcess(888);
  procs.spawnedById.set("web#1/web/c:0", 888);
  engine.resume();
  await settle(engine);
  assert.equal(procs.callsOf("spawn").length, 0, "the death fired again, and adopted");
  assert.equal(store.state.entities.get("web")!.pid, 888);
  assert.equal(store.state.entities.get("web")!.restarts, 1);
});

Deno.test("Engine.resume() adopts a restart the previous HAM spawned without waiting its backoff again", async () => {
  const policy = {
    backoffMs: 60_000,
    maxBackoffMs: 60_000,
    jitter: 0,
    intensity: 0,
    windowMs: 600_000,
    cooldownMs: 0,
  };
  const { store, list } = previousHam("death", [["restart", {
    kind: "restart",
    argv: null,
    policy,
  }]]);
  // Restarted once already: the next restart waits a minute. The previous HAM waited it,
  // spawned, and died before it recorded the restart.
  store.commit([
    {
      t: "restart",
      entity: "web",
      pid: 500,
      argv: null,
      startTime: "st-500",
      spawnId: "x",
      at: 500,
    },
    { t: "death", entity: "web", pid: 500, code: null, signal: "SIGKILL", at: 600 },
    {
      t: "fire",
      event: { type: "death", entity: "web" },
      runs: [{ run: "r5", owner: "web", condition: "c", lane: "other", list }],
    },
  ]);
  const { procs, engine } = newHam(store);
  procs.addProcess(889);
  procs.spawnedById.set("r5:0", 889);
  engine.resume();
  await settle(engine); // The fake clock stands still: a backoff would never end.
  assert.equal(procs.callsOf("spawn").length, 0);
  assert.equal(store.state.entities.get("web")!.pid, 889);
});

/** Fake processes whose resume scan is a real {@linkcode ProcScan} over a fake `/proc`. */
class ScannedProcesses extends FakeProcesses {
  readonly proc = new FakeProcReader();
  override lookup(): ProcessLookup {
    super.lookup();
    const scan = new ProcScan(this.proc);
    return {
      findSpawned: (spawnId) => scan.findSpawned(spawnId, null),
      leftovers: (query) => findLeftovers(query, 1, scan),
      sawAlive: (pid, startTime) => scan.sawAlive(pid, startTime),
    };
  }
}

Deno.test("Engine.resume() scans /proc once for several pending deaths and still picks the right processes", async () => {
  const store = new MemoryStore();
  const clock = new FakeClock(1000);
  const procs = new ScannedProcesses(clock);
  const names = ["web0", "web1", "web2", "web3"];
  for (const [i, name] of names.entries()) {
    store.commit([{
      t: "attach",
      entity: name,
      kind: "attached",
      pid: 500 + i,
      startTime: `st-${500 + i}`,
      argv: [`${name}-server`],
      cwd: null,
      env: null,
      spawnId: `old${i}`,
      spawned: true,
      flags: 0,
      heartbeat: null,
      at: 1,
    }]);
    new Tree(store).condition(`${name}/c`, "death", 1).action(`${name}/c/restart`, P.restart(), 1);
    // It died; the previous HAM journaled the death, spawned the restart and died.
    store.commit([{
      t: "death",
      entity: name,
      pid: 500 + i,
      code: null,
      signal: "SIGKILL",
      at: 2,
    }]);
    // What it left (one each), and the restart to adopt; other processes around them.
    const leftover = 2000 + i, restarted = 3000 + i;
    procs.addProcess(leftover, { startTime: `${leftover}00` });
    procs.proc.add(leftover, { HAM_SPAWN_ID: `old${i}` });
    procs.addProcess(restarted, { startTime: `${restarted}00` });
    procs.proc.add(restarted, { HAM_SPAWN_ID: `${name}#1/${name}/c:0` });
  }
  for (let pid = 100; pid < 340; pid++) procs.proc.add(pid, { HAM_SPAWN_ID: `other${pid}` });
  const engine = new Engine({ store, processes: procs, clock, log: memoryLogger(0) });
  engine.resume();
  await settle(engine);
  await clock.advance(DEFAULTS.leftoverStopTimeoutMs);
  await settle(engine);
  assert.equal(procs.proc.scans, 1, "one scan of /proc for the whole resume");
  assert.equal(procs.callsOf("lookup").length, 1);
  assert.equal(procs.callsOf("spawn").length, 0, "each restart adopted");
  for (const [i, name] of names.entries()) {
    const e = store.state.entities.get(name)!;
    assert.deepEqual([e.pid, e.restarts, e.deathPending], [3000 + i, 1, false]);
  }
  const ended = procs.callsOf("signal").filter((c) => c.signal === 15).map((c) => c.pid);
  assert.deepEqual(ended.sort(), [2000, 2001, 2002, 2003], "only what the deaths left");
});

Deno.test("Engine.resume() reads no process list when nothing was pending", async () => {
  const { store } = previousHam("death", [["restart", P.restart()]]);
  const clock = new FakeClock(1000);
  const procs = new ScannedProcesses(clock);
  procs.addProcess(500);
  const engine = new Engine({ store, processes: procs, clock, log: memoryLogger(0) });
  engine.resume();
  await settle(engine);
  assert.equal(procs.proc.scans, 0);
  assert.equal(store.state.entities.get("web")!.pid, 500, "watched again");
  await engine.stop();
});

Deno.test("Engine.resume() waits for the command of an interrupted execute step, and a fail list's, instead of starting them again", async () => {
  const { store, list } = previousHam("raise", [
    ["a", P.exec("a")],
    ["hook", P.exec("hook")],
    ["after", P.exec("after")],
  ]);
  // Action a failed; its fail list's command and then the hook ran when the HAM died.
  list[0] = { ...list[0], fails: [{ name: "f", params: P.exec("f"), runs: 0, failures: 0 }] };
  store.commit([
    {
      t: "fire",
      event: { type: "raise", entity: "web", raised: { rtype: 1, rclass: 0, rseverity: 0 } },
      runs: [{ run: "r9", owner: "web", condition: "c", lane: "other", list }],
    },
    {
      t: "result",
      entity: "web",
      condition: "c",
      action: "a",
      fail: null,
      ok: false,
      run: "r9",
      index: 0,
    },
  ]);
  const { clock, procs, engine } = newHam(store);
  procs.addProcess(500);
  // The previous HAM's commands, found by their markers: the hook's, and the fail list's
  // item of the action before it.
  procs.addProcess(7001);
  procs.spawnedById.set("r9:1/execute", 7001);
  procs.addProcess(7003);
  procs.spawnedById.set("r9:0/fail/f", 7003);
  engine.resume();
  await flush();
  assert.deepEqual(procs.callsOf("signal"), [], "neither is ended");
  procs.kill(7003, { code: null, signal: null });
  await flush();
  assert.deepEqual(procs.runs, [], "the hook's command is still waited for");
  procs.kill(7001, { code: null, signal: null });
  await settle(engine);
  // Not started again; its end (status unknown) counts as a success, and the run goes on.
  assert.deepEqual(procs.timedRuns, ["after@1000"]);
  const results = store.recordsOf("result").filter((r) => r.run === "r9");
  assert.deepEqual(results.map((r) => [r.action, r.ok]), [["a", false], ["hook", true], [
    "after",
    true,
  ]]);
  assert.equal(clock.pending, 0);
  await engine.stop();
});

Deno.test("Engine.resume() ends an adopted execute command at what is left of its time limit, SIGKILL after the grace", async () => {
  const { store, list } = previousHam("raise", [
    ["hook", { kind: "execute", argv: ["hook"], timeoutMs: 10_000 }],
  ]);
  store.commit([{
    t: "fire",
    event: { type: "raise", entity: "web", raised: { rtype: 1, rclass: 0, rseverity: 0 } },
    runs: [{ run: "r8", owner: "web", condition: "c", lane: "other", list }],
  }]);
  const { clock, procs, engine } = newHam(store);
  procs.addProcess(500);
  // Started 4 s before the takeover, and deaf to SIGTERM.
  procs.addProcess(7001, { argv: ["hook"], startedAt: clock.now() - 4_000 });
  procs.spawnedById.set("r8:0/execute", 7001);
  procs.termIgnored.add("hook");
  engine.resume();
  await flush();
  await clock.advance(5_999);
  assert.deepEqual(procs.callsOf("signal"), [], "6 s of its 10 s are left");
  await clock.advance(1);
  await clock.advance(DEFAULTS.executeStopTimeoutMs);
  await settle(engine);
  assert.deepEqual(
    procs.callsOf("signal").map((c) => `${c.pid} ${c.signal}@${c.at}`),
    ["7001 15@7000", `7001 9@${7000 + DEFAULTS.executeStopTimeoutMs}`],
  );
  assert.deepEqual(procs.runs, [], "never started again");
  const results = store.recordsOf("result").filter((r) => r.run === "r8");
  assert.deepEqual(results.map((r) => [r.action, r.ok]), [["hook", false]]);
  await engine.stop();
});

Deno.test("Engine.resume() leaves alone what a fail list's command forked once that command has ended", async () => {
  const { store, list } = previousHam("raise", [["a", P.exec("a")], ["after", P.exec("after")]]);
  list[0] = { ...list[0], fails: [{ name: "f", params: P.exec("f"), runs: 0, failures: 0 }] };
  store.commit([
    {
      t: "fire",
      event: { type: "raise", entity: "web", raised: { rtype: 1, rclass: 0, rseverity: 0 } },
      runs: [{ run: "r7", owner: "web", condition: "c", lane: "other", list }],
    },
    {
      t: "result",
      entity: "web",
      condition: "c",
      action: "a",
      fail: null,
      ok: false,
      run: "r7",
      index: 0,
    },
  ]);
  const { clock, procs, engine } = newHam(store);
  procs.addProcess(500);
  // The fail list's command ended; a helper it started in the background runs on, with its
  // marker: not the command, not to be waited for or ended.
  procs.addProcess(7005, { argv: ["helper"] });
  procs.forkedById.set("r7:0/fail/f", 7005);
  engine.resume();
  for (let i = 0; i < 3; i++) await flush();
  assert.deepEqual(procs.timedRuns, ["after@1000"], "the run goes on at once");
  assert.deepEqual(procs.callsOf("signal"), []);
  assert.equal(procs.isAlive(7005), true);
  await settle(engine);
  assert.equal(clock.pending, 0, "nothing waits for the helper");
  await engine.stop();
});

Deno.test("Engine.resume() runs again an interrupted execute whose command ended, and leaves what it forked alone", async () => {
  const { store, list } = previousHam("raise", [["hook", P.exec("hook")]]);
  store.commit([{
    t: "fire",
    event: { type: "raise", entity: "web", raised: { rtype: 1, rclass: 0, rseverity: 0 } },
    runs: [{ run: "r6", owner: "web", condition: "c", lane: "other", list }],
  }]);
  const { procs, engine } = newHam(store);
  procs.addProcess(500);
  procs.addProcess(7006, { argv: ["helper"] });
  procs.forkedById.set("r6:0/execute", 7006);
  engine.resume();
  for (let i = 0; i < 3; i++) await flush();
  // At least once: its command is not running, so the step runs again.
  assert.deepEqual(procs.runs, ["hook"]);
  assert.deepEqual(procs.callsOf("signal"), []);
  assert.equal(procs.isAlive(7006), true);
  await settle(engine);
  const results = store.recordsOf("result").filter((r) => r.run === "r6");
  assert.deepEqual(results.map((r) => [r.action, r.ok]), [["hook", true]]);
  await engine.stop();
});

Deno.test("Engine.restartEntity() leaves no request behind that a later HAM would carry out when the entity was attached anew while its restart waited", async () => {
  const store = new MemoryStore();
  const { clock, procs, engine } = newHam(store);
  const spec = {
    entity: "web",
    argv: ["web-server"],
    pid: null,
    cwd: null,
    env: null,
    flags: HENTITYKEEPONDEATH,
    heartbeat: null,
  };
  const first = (await engine.attach(spec)).pid;
  procs.kill(first, { code: 1, signal: null });
  await settle(engine);
  // Restarted once by the operator, dead again: the next restart waits a backoff.
  engine.restartEntity("web", 1_000);
  await settle(engine);
  procs.kill(store.state.entities.get("web")!.pid!, { code: 1, signal: null });
  await settle(engine);
  engine.restartEntity("web", 1_000);
  await flush();
  assert.ok(clock.pending > 0, "the restart waits its backoff");
  // Meanwhile the operator attaches a process to the dead entity, which then ends (kept).
  procs.addProcess(700);
  await engine.attach({ ...spec, argv: null, pid: 700 });
  await clock.advance(DEFAULTS.restartMaxBackoffMs);
  await settle(engine);
  assert.equal(store.state.entities.get("web")!.pid, 700, "the restart had nothing to do");
  assert.equal(store.state.entities.get("web")!.restartRequest, undefined, "and is done");
  procs.kill(700);
  await settle(engine);
  await engine.stop();
  const spawned = procs.callsOf("spawn").length;
  // A HAM started later on the state directory finds nothing left to restart.
  const later = newHam(store);
  later.engine.resume();
  await settle(later.engine);
  assert.equal(later.procs.callsOf("spawn").length, 0);
  assert.equal(procs.callsOf("spawn").length, spawned);
  await later.engine.stop();
});

Deno.test("Engine.resume() drops an operator's restart whose entity runs another process since", async () => {
  const { store } = previousHam("death", [["note", P.exec("note")]]);
  // Journaled for pid 400; the entity runs pid 500 now (attached anew meanwhile).
  store.commit([{ t: "restart-request", entity: "web", pid: 400, spawnId: "op6" }]);
  const { procs, engine } = newHam(store);
  procs.addProcess(500);
  engine.resume();
  await settle(engine);
  assert.deepEqual(procs.callsOf("signal"), [], "its process is left alone");
  assert.equal(store.state.entities.get("web")!.restartRequest, undefined);
  await engine.stop();
});
