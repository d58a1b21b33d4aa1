/**
 * What an entity's process leaves behind, with fake processes, a fake clock and an
 * in-memory store: ended (SIGTERM, SIGKILL after the grace, the restart waiting) with kill
 * mode `control-group`, kept and listed with `process`, the daemon of a followed command
 * spared, nothing touched on detach, and the kept list picked up again after a takeover.
 */

import * as assert from "node:assert/strict";
import { DEFAULTS } from "../../../lib/core/defaults.ts";
import type { EventBody } from "../../../lib/core/protocol.ts";
import type { KillMode } from "../../../lib/core/model.ts";
import { type AttachSpec, Engine } from "../../../lib/engine/engine.ts";
import { memoryLogger } from "../../../lib/os/logger.ts";
import { FakeClock, flush } from "../../support/fake_clock.ts";
import { FakeProcesses } from "../../support/fake_processes.ts";
import { MemoryStore } from "../../support/memory_store.ts";
import { P, Tree } from "../../support/tree.ts";

const GRACE = DEFAULTS.leftoverStopTimeoutMs;

function setup(store = new MemoryStore()) {
  const clock = new FakeClock(0);
  const procs = new FakeProcesses(clock);
  const events: EventBody[] = [];
  const engine = new Engine({
    store,
    processes: procs,
    clock,
    log: memoryLogger(0),
    emit: (ev) => events.push(ev),
  });
  return { clock, procs, store, engine, events, tree: new Tree(store) };
}

type H = ReturnType<typeof setup>;

async function settle(h: H): Promise<void> {
  await flush();
  await h.engine.idle();
  await flush();
}

function spec(entity: string, killMode?: KillMode): AttachSpec {
  return {
    entity,
    argv: [`${entity}-server`],
    pid: null,
    cwd: null,
    env: null,
    flags: 0,
    heartbeat: null,
    ...(killMode ? { killMode } : {}),
  };
}

/** Attaches `web` with a restart on death and two children its process will leave behind. */
async function webWithChildren(h: H, killMode?: KillMode) {
  const { pid } = await h.engine.attach(spec("web", killMode));
  h.tree.condition("web/died", "death").action("web/died/again", P.restart());
  const spawnId = h.procs.callsOf("spawn")[0].opts.spawnId;
  h.procs.addLeftovers(spawnId, [2001, 2002]);
  return pid;
}

Deno.test("Leftovers.ended() sends SIGTERM to what a dead process left, and its restart waits for them", async () => {
  const h = setup();
  const pid = await webWithChildren(h);
  h.procs.kill(pid, { code: 3, signal: null });
  await settle(h);
  assert.deepEqual(h.procs.effects, [
    "spawn web-server",
    "signal 2001 15",
    "signal 2002 15",
    "spawn web-server",
  ]);
  const [query] = h.procs.callsOf("leftovers").map((c) => c.query);
  assert.deepEqual([query.group, query.since, query.spare], [pid, `st-${pid}`, null]);
  assert.equal(query.spawnId, h.procs.callsOf("spawn")[0].opts.spawnId);
  const ev = h.events.find((e) => e.type === "leftovers");
  assert.deepEqual(ev?.detail, { pids: [2001, 2002], action: "ended" });
  assert.deepEqual(h.store.recordsOf("leftovers"), []);
});

Deno.test("Leftovers.ended() sends SIGKILL after the grace when a leftover ignores SIGTERM", async () => {
  const h = setup();
  h.procs.fatalSignals.delete(15);
  const pid = await webWithChildren(h);
  h.procs.kill(pid, { code: 3, signal: null });
  await flush();
  await flush();
  assert.deepEqual(h.procs.effects.slice(1), ["signal 2001 15", "signal 2002 15"]);
  await h.clock.advance(GRACE - 1);
  assert.equal(h.procs.callsOf("spawn").length, 1, "no restart within the grace");
  await h.clock.advance(1);
  await settle(h);
  assert.deepEqual(h.procs.effects.slice(3), [
    "signal 2001 9",
    "signal 2002 9",
    "spawn web-server",
  ]);
  assert.equal(h.procs.isAlive(2001), false);
});

Deno.test("Leftovers.ended() keeps and lists them when the kill mode is process, dropping each that ends", async () => {
  const h = setup();
  const pid = await webWithChildren(h, "process");
  h.procs.kill(pid, { code: 3, signal: null });
  await settle(h);
  assert.deepEqual(h.procs.callsOf("signal"), [], "nothing signalled");
  assert.deepEqual(h.procs.callsOf("spawn").length, 2, "restarted at once");
  const web = h.store.state.entities.get("web")!;
  assert.equal(web.killMode, "process");
  assert.deepEqual(web.leftovers.map((l) => l.pid), [2001, 2002]);
  h.procs.kill(2001, { code: 0, signal: null });
  await settle(h);
  assert.deepEqual(h.store.state.entities.get("web")!.leftovers, [
    { pid: 2002, startTime: "st-2002" },
  ]);
});

Deno.test("Leftovers.ended() spares the daemon when the HAM follows one, ending the rest", async () => {
  const h = setup();
  const { pid } = await h.engine.attach({ ...spec("web"), flags: 0 });
  const spawnId = h.procs.callsOf("spawn")[0].opts.spawnId;
  h.procs.addLeftovers(spawnId, [7777, 2001]);
  h.procs.daemonPid = 7777;
  h.procs.kill(pid, { code: 0, signal: null });
  await settle(h);
  assert.equal(h.store.state.entities.get("web")!.pid, 7777);
  const [query] = h.procs.callsOf("leftovers").map((c) => c.query);
  assert.equal(query.spare, 7777);
  assert.deepEqual(h.procs.effects.slice(1), ["signal 2001 15"]);
  assert.equal(h.procs.isAlive(7777), true);
});

Deno.test("Leftovers.ended() looks for nothing when the process was attached by pid", async () => {
  const h = setup();
  h.procs.addProcess(4242, { argv: ["inetd"] });
  await h.engine.attach({ ...spec("inetd"), argv: null, pid: 4242 });
  h.procs.kill(4242, { code: 1, signal: null });
  await settle(h);
  assert.deepEqual(h.procs.callsOf("leftovers"), []);
});

Deno.test("Leftovers.forget() ends nothing when the entity is detached", async () => {
  const h = setup();
  const pid = await webWithChildren(h, "process");
  h.procs.kill(pid, { code: 3, signal: null });
  await settle(h);
  await h.engine.detach("web");
  h.procs.kill(2001, { code: 0, signal: null });
  await settle(h);
  assert.deepEqual(h.procs.callsOf("signal"), []);
  assert.equal(h.store.state.entities.has("web"), false);
  assert.equal(h.procs.isAlive(2002), true);
});

Deno.test("Leftovers.resume() watches the kept ones again when a HAM takes over", async () => {
  const store = new MemoryStore();
  store.commit([
    {
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
      killMode: "process",
      at: 1,
    },
    {
      t: "leftovers",
      entity: "web",
      procs: [{ pid: 2001, startTime: "st-2001" }, { pid: 2002, startTime: "st-2002" }],
    },
  ]);
  const h = setup(store);
  h.procs.addProcess(500);
  h.procs.addProcess(2002);
  h.engine.resume();
  await settle(h);
  assert.deepEqual(store.state.entities.get("web")!.leftovers.map((l) => l.pid), [2002]);
  h.procs.kill(2002, { code: 0, signal: null });
  await settle(h);
  assert.deepEqual(store.state.entities.get("web")!.leftovers, []);
});

Deno.test("Leftovers.resume() ends by marker only what a death left when a HAM takes over mid-way", async () => {
  const store = new MemoryStore();
  store.commit([
    {
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
    },
    { t: "death", entity: "web", pid: 500, code: 3, signal: null, at: 2 },
  ]);
  const h = setup(store);
  h.procs.fatalSignals.delete(15);
  h.procs.addLeftovers("old", [2001]);
  h.tree.condition("web/died", "death").action("web/died/again", P.restart());
  h.engine.resume();
  await flush();
  const [query] = h.procs.callsOf("leftovers").map((c) => c.query);
  assert.deepEqual([query.spawnId, query.group, query.since, query.local], [
    "old",
    null,
    null,
    false,
  ]);
  assert.deepEqual(h.procs.effects, ["signal 2001 15"]);
  await h.clock.advance(GRACE);
  await settle(h);
  assert.deepEqual(h.procs.effects, ["signal 2001 15", "signal 2001 9", "spawn web-server"]);
});

Deno.test("Engine.attach() waits for the old process's leftovers when it fills a kept dead entity", async () => {
  const h = setup();
  h.procs.fatalSignals.delete(15);
  const { pid } = await h.engine.attach({ ...spec("web"), flags: 2 }); // keep-on-death
  h.procs.addLeftovers(h.procs.callsOf("spawn")[0].opts.spawnId, [2001]);
  h.procs.kill(pid, { code: 3, signal: null });
  await flush();
  await flush();
  const attached = h.engine.attach(spec("web"));
  await flush();
  assert.equal(h.procs.callsOf("spawn").length, 1, "not before the leftover is gone");
  await h.clock.advance(GRACE);
  await attached;
  assert.deepEqual(h.procs.effects, [
    "spawn web-server",
    "signal 2001 15",
    "signal 2001 9",
    "spawn web-server",
  ]);
});

Deno.test("Leftovers.ended() lists at most maxLeftovers when a process leaves more", async () => {
  const h = setup();
  const pid = await webWithChildren(h, "process");
  const spawnId = h.procs.callsOf("spawn")[0].opts.spawnId;
  const many = Array.from({ length: DEFAULTS.maxLeftovers + 10 }, (_, i) => 3000 + i);
  h.procs.addLeftovers(spawnId, many);
  h.procs.kill(pid, { code: 3, signal: null });
  await settle(h);
  const listed = h.store.state.entities.get("web")!.leftovers;
  assert.equal(listed.length, DEFAULTS.maxLeftovers);
  assert.deepEqual(h.procs.callsOf("signal"), [], "the unlisted ones are kept too");
});

Deno.test("Leftovers are looked for once the death's condition fired, and before its restart", async () => {
  const h = setup();
  const pid = await webWithChildren(h);
  const order: string[] = [];
  const look = h.procs.leftovers.bind(h.procs);
  h.procs.leftovers = (query) => {
    order.push("look for leftovers");
    return look(query);
  };
  const spawn = h.procs.spawn.bind(h.procs);
  h.procs.spawn = (argv, opts) => {
    order.push("spawn");
    return spawn(argv, opts);
  };
  const seen = h.events.length;
  h.procs.kill(pid, { code: 3, signal: null });
  await settle(h);
  const events = h.events.slice(seen).map((e) => e.type);
  // The death is reported, and its condition fired, before any look at what it left.
  assert.deepEqual(events.slice(0, 2), ["death", "condition"]);
  assert.equal(order[0], "look for leftovers");
  assert.equal(order.indexOf("spawn"), order.lastIndexOf("spawn"));
  assert.ok(order.indexOf("look for leftovers") < order.indexOf("spawn"), order.join(", "));
  const leftovers = events.indexOf("leftovers");
  assert.ok(leftovers > events.indexOf("condition"), events.join(", "));
  assert.ok(leftovers < events.indexOf("restart"), events.join(", "));
});
