import assert from "node:assert/strict";
import {
  HCONDKEEPONEMPTY,
  HENTITYKEEPONDEATH,
  HREARMAFTERRESTART,
} from "../../../lib/core/flags.ts";
import { createState, type Entity, newEntity } from "../../../lib/core/model.ts";
import { GLOBAL_ENTITY } from "../../../lib/core/names.ts";
import type { HamRecord, RecordBody } from "../../../lib/core/records.ts";
import { applyRecord, pruneAtRestart } from "../../../lib/core/reducer.ts";
import { MemoryStore } from "../../support/memory_store.ts";
import { P } from "../../support/tree.ts";

const R = HREARMAFTERRESTART;

function apply(...bodies: RecordBody[]): MemoryStore {
  const store = new MemoryStore();
  void store.commit(bodies);
  return store;
}

function attachBody(
  entity: string,
  pid: number,
  extra: Partial<RecordBody & { t: "attach" }> = {},
) {
  return {
    t: "attach",
    entity,
    kind: "attached",
    pid,
    startTime: `st-${pid}`,
    argv: [`${entity}-server`],
    cwd: "/srv",
    env: { A: "1" },
    spawnId: "sid-1",
    spawned: true,
    flags: 0,
    heartbeat: null,
    at: 100,
    ...extra,
  } as RecordBody;
}

function condBody(entity: string, condition: string, flags = 0): RecordBody {
  return { t: "cond-add", entity, condition, type: "death", flags, match: null };
}

function actionBody(entity: string, condition: string, action: string, flags = 0): RecordBody {
  return { t: "action-add", entity, condition, action, flags, params: P.exec(action) };
}

/** A tree: web/{c1: a1 a2, c2: b1} with the given flags. */
function tree(c1Flags = 0, c2Flags = 0): RecordBody[] {
  return [
    attachBody("web", 10),
    condBody("web", "c1", c1Flags),
    actionBody("web", "c1", "a1"),
    actionBody("web", "c1", "a2"),
    condBody("web", "c2", c2Flags),
    actionBody("web", "c2", "b1"),
  ];
}

function web(store: MemoryStore): Entity {
  return store.state.entities.get("web")!;
}

function shape(e: Entity): Array<[string, string[]]> {
  return [...e.conditions.values()].map((c) => [c.name, c.actions.map((a) => a.name)]);
}

// ---------------------------------------------------------------------------

Deno.test("applyRecord() sets seq from every record when records are applied, even ignored ones", () => {
  const state = createState();
  applyRecord(state, { t: "verbosity", value: 3, seq: 5 });
  applyRecord(state, { t: "cond-remove", entity: "nope", condition: "x", seq: 6 });
  assert.equal(state.seq, 6);
});

Deno.test("applyRecord() creates a placeholder when an entity record names a new entity", () => {
  const s = apply({ t: "entity", entity: "db", flags: HENTITYKEEPONDEATH, at: 7 });
  const e = s.state.entities.get("db")!;
  assert.deepEqual([e.kind, e.flags, e.created, e.pid], [
    "placeholder",
    HENTITYKEEPONDEATH,
    7,
    null,
  ]);
});

Deno.test("applyRecord() ignores an entity record when the entity exists", () => {
  const s = apply(attachBody("web", 10), { t: "entity", entity: "web", flags: 2, at: 7 });
  assert.deepEqual([web(s).kind, web(s).flags, web(s).pid], ["attached", 0, 10]);
});

Deno.test("applyRecord() creates an entity with every field when an attach names a new entity", () => {
  const s = apply(attachBody("web", 10, { heartbeat: { periodMs: 10, low: 1, high: 2 } }));
  const e = web(s);
  assert.deepEqual(
    [e.kind, e.pid, e.startTime, e.argv, e.cwd, e.env, e.spawnId, e.spawned, e.created],
    ["attached", 10, "st-10", ["web-server"], "/srv", { A: "1" }, "sid-1", true, 100],
  );
  assert.deepEqual([e.hbMissed, e.hbHealth, e.lastBeat], [0, "healthy", 100]);
});

Deno.test("applyRecord() fills a placeholder and keeps its conditions when an attach names it", () => {
  const s = apply(
    { t: "entity", entity: "web", flags: 0, at: 1 },
    condBody("web", "c"),
    attachBody("web", 10, { flags: HENTITYKEEPONDEATH }),
  );
  assert.deepEqual([web(s).kind, web(s).pid, web(s).flags, web(s).created], [
    "attached",
    10,
    HENTITYKEEPONDEATH,
    1,
  ]);
  assert.deepEqual(shape(web(s)), [["c", []]]);
});

Deno.test("applyRecord() clears lastBeat when an attach has no heartbeat", () => {
  const s = apply(attachBody("web", 10));
  assert.equal(web(s).lastBeat, null);
});

Deno.test("applyRecord() removes an entity when a remove names it, but never the global entity", () => {
  const s = apply(attachBody("web", 10), { t: "remove", entity: "web" }, {
    t: "remove",
    entity: GLOBAL_ENTITY,
  }, { t: "remove", entity: "nope" });
  assert.deepEqual([...s.state.entities.keys()], [GLOBAL_ENTITY]);
});

Deno.test("applyRecord() adds conditions and actions in order when cond-add and action-add apply", () => {
  const s = apply(...tree());
  assert.deepEqual(shape(web(s)), [["c1", ["a1", "a2"]], ["c2", ["b1"]]]);
  const a = web(s).conditions.get("c1")!.actions[0];
  assert.deepEqual([a.enabled, a.runs, a.failures, a.fails], [true, 0, 0, []]);
});

Deno.test("applyRecord() ignores a cond-add when the condition exists or the entity is missing", () => {
  const s = apply(
    ...tree(),
    { t: "cond-add", entity: "web", condition: "c1", type: "raise", flags: R, match: null },
    condBody("nope", "c"),
  );
  const c = web(s).conditions.get("c1")!;
  assert.deepEqual([c.type, c.flags, c.actions.length], ["death", 0, 2]);
  assert.equal(s.state.entities.has("nope"), false);
});

Deno.test("applyRecord() ignores an action-add when the action exists or the condition is missing", () => {
  const s = apply(...tree(), actionBody("web", "c1", "a1", R), actionBody("web", "nope", "x"));
  assert.deepEqual(shape(web(s)), [["c1", ["a1", "a2"]], ["c2", ["b1"]]]);
  assert.equal(web(s).conditions.get("c1")!.actions[0].flags, 0);
});

Deno.test("applyRecord() removes a condition with its actions when a cond-remove applies", () => {
  const s = apply(...tree(), { t: "cond-remove", entity: "web", condition: "c1" });
  assert.deepEqual(shape(web(s)), [["c2", ["b1"]]]);
});

Deno.test("applyRecord() leaves an empty condition when a manual action-remove empties it", () => {
  const s = apply(...tree(), {
    t: "action-remove",
    entity: "web",
    condition: "c2",
    action: "b1",
    auto: false,
  });
  assert.deepEqual(shape(web(s)), [["c1", ["a1", "a2"]], ["c2", []]]);
});

Deno.test("applyRecord() removes the emptied condition when an automatic action-remove empties it", () => {
  const s = apply(...tree(), {
    t: "action-remove",
    entity: "web",
    condition: "c2",
    action: "b1",
    auto: true,
  });
  assert.deepEqual(shape(web(s)), [["c1", ["a1", "a2"]]]);
});

Deno.test("applyRecord() keeps the emptied condition when it is keep-on-empty", () => {
  const s = apply(...tree(0, HCONDKEEPONEMPTY), {
    t: "action-remove",
    entity: "web",
    condition: "c2",
    action: "b1",
    auto: true,
  });
  assert.deepEqual(shape(web(s)), [["c1", ["a1", "a2"]], ["c2", []]]);
});

Deno.test("applyRecord() keeps the condition when an automatic action-remove leaves actions in it", () => {
  const s = apply(...tree(), {
    t: "action-remove",
    entity: "web",
    condition: "c1",
    action: "a1",
    auto: true,
  });
  assert.deepEqual(shape(web(s)), [["c1", ["a2"]], ["c2", ["b1"]]]);
});

Deno.test("applyRecord() ignores an automatic action-remove when the condition is gone", () => {
  const s = apply(...tree(), {
    t: "action-remove",
    entity: "web",
    condition: "nope",
    action: "a1",
    auto: true,
  });
  assert.deepEqual(shape(web(s)), [["c1", ["a1", "a2"]], ["c2", ["b1"]]]);
});

Deno.test("applyRecord() adds and removes action-fail items when fail-add and fail-remove apply", () => {
  const s = apply(
    ...tree(),
    { t: "fail-add", entity: "web", condition: "c1", action: "a1", name: "f1", params: P.log("x") },
    { t: "fail-add", entity: "web", condition: "c1", action: "a1", name: "f2", params: P.log("y") },
    { t: "fail-add", entity: "web", condition: "c1", action: "a1", name: "f1", params: P.log("z") },
    {
      t: "fail-add",
      entity: "web",
      condition: "c1",
      action: "nope",
      name: "f",
      params: P.log("z"),
    },
  );
  const a1 = () => web(s).conditions.get("c1")!.actions[0];
  assert.deepEqual(a1().fails.map((f) => [f.name, (f.params as { message: string }).message]), [
    ["f1", "x"],
    ["f2", "y"],
  ]);
  void s.commit([
    { t: "fail-remove", entity: "web", condition: "c1", action: "a1", name: "f1" },
    { t: "fail-remove", entity: "web", condition: "c1", action: "nope", name: "f1" },
  ]);
  assert.deepEqual(a1().fails.map((f) => f.name), ["f2"]);
});

Deno.test("applyRecord() disables only the item when enable is not recursive", () => {
  const s = apply(...tree(), {
    t: "enable",
    path: { entity: "web" },
    enabled: false,
    recurse: false,
  });
  assert.equal(web(s).enabled, false);
  assert.equal(web(s).conditions.get("c1")!.enabled, true);
});

Deno.test("applyRecord() disables the children too when enable is recursive on an entity", () => {
  const s = apply(...tree(), {
    t: "enable",
    path: { entity: "web" },
    enabled: false,
    recurse: true,
  });
  for (const c of web(s).conditions.values()) {
    assert.equal(c.enabled, false);
    for (const a of c.actions) assert.equal(a.enabled, false);
  }
});

Deno.test("applyRecord() disables the actions too when enable is recursive on a condition", () => {
  const s = apply(...tree(), {
    t: "enable",
    path: { entity: "web", condition: "c1" },
    enabled: false,
    recurse: true,
  });
  assert.deepEqual(
    [...web(s).conditions.values()].map((c) => [c.enabled, c.actions.map((a) => a.enabled)]),
    [[false, [false, false]], [true, [true]]],
  );
});

Deno.test("applyRecord() sets the flags when a flags record names an action", () => {
  const s = apply(...tree(), {
    t: "flags",
    path: { entity: "web", condition: "c1", action: "a2" },
    flags: R,
  }, { t: "flags", path: { entity: "web", condition: "nope" }, flags: R });
  assert.deepEqual(web(s).conditions.get("c1")!.actions.map((a) => a.flags), [0, R]);
});

Deno.test("applyRecord() sets the verbosity when a verbosity record applies", () => {
  assert.equal(apply({ t: "verbosity", value: 7 }).state.verbosity, 7);
});

Deno.test("applyRecord() records the death when the pid matches", () => {
  const s = apply(attachBody("web", 10), {
    t: "death",
    entity: "web",
    pid: 10,
    code: null,
    signal: "SIGSEGV",
    at: 200,
  });
  const e = web(s);
  assert.deepEqual([e.pid, e.startTime, e.deaths], [null, null, 1]);
  assert.deepEqual(e.lastExit, { pid: 10, code: null, signal: "SIGSEGV", at: 200 });
});

Deno.test("applyRecord() ignores a death when the pid is not the entity's", () => {
  const s = apply(attachBody("web", 10), {
    t: "death",
    entity: "web",
    pid: 11,
    code: 1,
    signal: null,
    at: 200,
  });
  assert.deepEqual([web(s).pid, web(s).deaths], [10, 0]);
});

Deno.test("applyRecord() records the new process and prunes when a restart applies", () => {
  const s = apply(
    ...tree(R),
    { t: "heartbeat", entity: "web", missed: 5, health: "missed-high", lastBeat: 1 },
    { t: "death", entity: "web", pid: 10, code: 1, signal: null, at: 200 },
    { t: "restart", entity: "web", pid: 11, startTime: "st-11", spawnId: "sid-2", at: 300 },
  );
  const e = web(s);
  assert.deepEqual(
    [e.pid, e.startTime, e.spawnId, e.spawned, e.restarts, e.deaths],
    [11, "st-11", "sid-2", true, 1, 1],
  );
  assert.deepEqual([e.hbMissed, e.hbHealth, e.lastBeat], [0, "healthy", null]);
  // c1 is rearmed but its actions are not: emptied, removed; c2 is not rearmed.
  assert.deepEqual(shape(e), []);
});

Deno.test("applyRecord() turns a placeholder into an attached entity when a restart applies", () => {
  const s = apply(
    { t: "entity", entity: "web", flags: 0, at: 1 },
    { t: "restart", entity: "web", pid: 11, startTime: null, spawnId: "sid", at: 300 },
  );
  assert.deepEqual([web(s).kind, web(s).pid], ["attached", 11]);
});

Deno.test("applyRecord() moves the entity to the new pid when a follow applies", () => {
  const s = apply(attachBody("web", 10), {
    t: "follow",
    entity: "web",
    pid: 77,
    startTime: "st-77",
  });
  assert.deepEqual([web(s).pid, web(s).startTime, web(s).deaths], [77, "st-77", 0]);
});

Deno.test("applyRecord() counts firings and results when fired and result records apply", () => {
  const s = apply(
    ...tree(),
    { t: "fail-add", entity: "web", condition: "c1", action: "a1", name: "f", params: P.log("x") },
    {
      t: "fire",
      event: { type: "death", entity: "web" },
      runs: [{ run: "r1", owner: "web", condition: "c1", lane: "other", list: [] }],
    },
    {
      t: "fire",
      event: { type: "death", entity: "web" },
      runs: [{ run: "r2", owner: "web", condition: "c1", lane: "other", list: [] }],
    },
    { t: "result", entity: "web", condition: "c1", action: "a1", fail: null, ok: true },
    { t: "result", entity: "web", condition: "c1", action: "a1", fail: null, ok: false },
    { t: "result", entity: "web", condition: "c1", action: "a1", fail: "f", ok: false },
    { t: "result", entity: "web", condition: "c1", action: "a1", fail: "nope", ok: false },
    { t: "result", entity: "web", condition: "c1", action: "nope", fail: null, ok: false },
    {
      t: "fire",
      event: { type: "death", entity: "web" },
      runs: [{ run: "r3", owner: "web", condition: "nope", lane: "other", list: [] }],
    },
  );
  const c = web(s).conditions.get("c1")!;
  assert.equal(c.fired, 2);
  assert.deepEqual([c.actions[0].runs, c.actions[0].failures], [2, 1]);
  assert.deepEqual([c.actions[0].fails[0].runs, c.actions[0].fails[0].failures], [1, 1]);
});

Deno.test("applyRecord() stores the published state when a state record applies", () => {
  const s = apply(attachBody("web", 10), { t: "state", entity: "web", to: 4 });
  assert.equal(web(s).state, 4);
});

Deno.test("applyRecord() stores the heartbeat fields when a heartbeat record applies", () => {
  const s = apply(attachBody("web", 10), {
    t: "heartbeat",
    entity: "web",
    missed: 3,
    health: "missed-low",
    lastBeat: 55,
  });
  assert.deepEqual([web(s).hbMissed, web(s).hbHealth, web(s).lastBeat], [3, "missed-low", 55]);
});

Deno.test("applyRecord() counts HAM and Guardian failures when failure records apply", () => {
  const s = apply(
    { t: "failure", role: "ham", at: 5 },
    { t: "failure", role: "guardian", at: 6 },
    { t: "failure", role: "ham", at: 9 },
  );
  assert.deepEqual(
    [s.state.hamFailures, s.state.guardianFailures, s.state.lastTakeover],
    [2, 1, 9],
  );
});

Deno.test("applyRecord() ignores every record when the items it names do not exist", () => {
  const bodies: RecordBody[] = [
    { t: "cond-add", entity: "x", condition: "c", type: "death", flags: 0, match: null },
    { t: "cond-remove", entity: "x", condition: "c" },
    actionBody("x", "c", "a"),
    { t: "action-remove", entity: "x", condition: "c", action: "a", auto: true },
    { t: "fail-add", entity: "x", condition: "c", action: "a", name: "f", params: P.log("m") },
    { t: "fail-remove", entity: "x", condition: "c", action: "a", name: "f" },
    {
      t: "enable",
      path: { entity: "x", condition: "c", action: "a" },
      enabled: false,
      recurse: true,
    },
    { t: "flags", path: { entity: "x" }, flags: 2 },
    { t: "death", entity: "x", pid: 1, code: 0, signal: null, at: 0 },
    { t: "restart", entity: "x", pid: 1, startTime: null, spawnId: null, at: 0 },
    { t: "follow", entity: "x", pid: 1, startTime: null },
    { t: "result", entity: "x", condition: "c", action: "a", fail: null, ok: true },
    { t: "state", entity: "x", to: 1 },
    { t: "heartbeat", entity: "x", missed: 1, health: "healthy", lastBeat: null },
    { t: "remove", entity: "x" },
  ];
  const s = apply(...bodies);
  const fresh = createState();
  fresh.seq = bodies.length;
  assert.deepEqual(s.state, fresh);
});

Deno.test("applyRecord() ignores a record when its type is unknown", () => {
  const state = createState();
  applyRecord(state, { t: "from-the-future", seq: 1 } as unknown as HamRecord);
  const fresh = createState();
  fresh.seq = 1;
  assert.deepEqual(state, fresh);
});

Deno.test("applyRecord() builds equal states when the same records are replayed", () => {
  const s = apply(...tree(R, HCONDKEEPONEMPTY), {
    t: "restart",
    entity: "web",
    pid: 11,
    startTime: null,
    spawnId: null,
    at: 1,
  });
  assert.deepEqual(s.replay(), s.state);
});

// ---------------------------------------------------------------------------
// pruneAtRestart()

function entityWith(
  conds: Array<{ name: string; flags: number; actions: Array<[string, number]> }>,
): Entity {
  const e = newEntity("web", "attached", 0);
  for (const c of conds) {
    e.conditions.set(c.name, {
      name: c.name,
      type: "death",
      flags: c.flags,
      enabled: true,
      match: null,
      fired: 0,
      actions: c.actions.map(([name, flags]) => ({
        name,
        flags,
        enabled: true,
        params: P.exec(name),
        runs: 0,
        failures: 0,
        fails: [],
      })),
    });
  }
  return e;
}

Deno.test("pruneAtRestart() removes a condition and all its actions when the condition is not rearmed", () => {
  const e = entityWith([{ name: "c", flags: HCONDKEEPONEMPTY, actions: [["a", R]] }]);
  pruneAtRestart(e);
  assert.deepEqual(shape(e), []);
});

Deno.test("pruneAtRestart() keeps only rearmed actions when the condition is rearmed", () => {
  const e = entityWith([{
    name: "c",
    flags: R,
    actions: [["a", 0], ["b", R], ["c", 0], ["d", R]],
  }]);
  pruneAtRestart(e);
  assert.deepEqual(shape(e), [["c", ["b", "d"]]]);
});

Deno.test("pruneAtRestart() removes a rearmed condition when pruning empties it", () => {
  const e = entityWith([{ name: "c", flags: R, actions: [["a", 0]] }]);
  pruneAtRestart(e);
  assert.deepEqual(shape(e), []);
});

Deno.test("pruneAtRestart() keeps an emptied condition when it is keep-on-empty", () => {
  const e = entityWith([{ name: "c", flags: R | HCONDKEEPONEMPTY, actions: [["a", 0]] }]);
  pruneAtRestart(e);
  assert.deepEqual(shape(e), [["c", []]]);
});

Deno.test("pruneAtRestart() keeps a rearmed condition when it was already empty", () => {
  const e = entityWith([{ name: "c", flags: R, actions: [] }]);
  pruneAtRestart(e);
  assert.deepEqual(shape(e), [["c", []]]);
});

Deno.test("pruneAtRestart() keeps the order of the survivors when several conditions are pruned", () => {
  const e = entityWith([
    { name: "a", flags: R, actions: [["x", R]] },
    { name: "b", flags: 0, actions: [["x", R]] },
    { name: "c", flags: R, actions: [["x", R]] },
  ]);
  pruneAtRestart(e);
  assert.deepEqual(shape(e).map(([n]) => n), ["a", "c"]);
});
