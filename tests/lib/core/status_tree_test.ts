import assert from "node:assert/strict";
import { createState, type HamState } from "../../../lib/core/model.ts";
import { GLOBAL_ENTITY } from "../../../lib/core/names.ts";
import type { HamRecord, RecordBody } from "../../../lib/core/records.ts";
import { applyRecord, touchedEntities } from "../../../lib/core/reducer.ts";
import { statusFiles } from "../../../lib/core/status_text.ts";
import { diffFiles, StatusTree } from "../../../lib/core/status_tree.ts";

const HAM = { hamPid: 100, guardianPid: 101, startedAt: Date.UTC(2026, 0, 2, 3, 4, 5) };
const T0 = Date.UTC(2026, 0, 2, 3, 5, 0);

let seq = 0;
/** Applies `r` and returns the entities it touched. */
function apply(state: HamState, r: RecordBody): string[] {
  const rec = { ...r, seq: ++seq } as HamRecord;
  applyRecord(state, rec);
  return touchedEntities(rec);
}

const attach = (entity: string, pid: number, extra: Partial<RecordBody> = {}): RecordBody => ({
  t: "attach",
  entity,
  kind: "attached",
  pid,
  startTime: null,
  argv: ["/bin/sleep", "1000"],
  cwd: null,
  env: null,
  spawnId: null,
  spawned: true,
  flags: 0,
  heartbeat: null,
  at: T0,
  ...extra,
} as RecordBody);

const condition = (entity: string, name: string): RecordBody => ({
  t: "cond-add",
  entity,
  condition: name,
  type: "death",
  flags: 1,
  match: null,
});

const action = (entity: string, cond: string, name: string): RecordBody => ({
  t: "action-add",
  entity,
  condition: cond,
  action: name,
  flags: 1,
  params: { kind: "log", message: `${name} ran`, prefix: true, verbosity: 1 },
});

/** Every kind of change to the tree, one record at a time. */
const STEPS: RecordBody[] = [
  attach("web", 4242),
  { t: "entity", entity: "db", flags: 0, at: T0 },
  condition("web", "death"),
  action("web", "death", "note"),
  action("web", "death", "again"),
  condition("db", "death"),
  action("db", "death", "note"),
  condition(GLOBAL_ENTITY, "any"),
  action(GLOBAL_ENTITY, "any", "tell"),
  { t: "death", entity: "web", pid: 4242, code: null, signal: "SIGKILL", at: T0 + 1000 },
  { t: "restart", entity: "web", pid: 4243, startTime: null, spawnId: null, at: T0 + 1001 },
  {
    t: "fire",
    event: { type: "death", entity: "web" },
    runs: [
      { run: "r1", owner: "web", condition: "death", lane: "other", list: [] },
      { run: "r2", owner: GLOBAL_ENTITY, condition: "any", lane: "other", list: [] },
    ],
  },
  { t: "run-end", run: "r1" },
  { t: "result", entity: "web", condition: "death", action: "note", fail: null, ok: false },
  { t: "action-remove", entity: "web", condition: "death", action: "again", auto: false },
  { t: "verbosity", value: 3 },
  { t: "failure", role: "ham", at: T0 + 2000 },
  attach("hb", 5000, { kind: "self", heartbeat: { periodMs: 200, low: 2, high: 4 } }),
  { t: "heartbeat", entity: "hb", missed: 4, health: "missed-high", lastBeat: T0 + 50 },
  { t: "state", entity: "hb", to: 3 },
  { t: "cond-remove", entity: "db", condition: "death" },
  { t: "cond-remove", entity: GLOBAL_ENTITY, condition: "any" },
  { t: "remove", entity: "web" },
];

Deno.test("statusFiles() repeats the entity's pid in its conditions' and actions' files, as /proc/ham", () => {
  const state = createState();
  for (const r of [attach("web", 4242), condition("web", "death"), action("web", "death", "n")]) {
    apply(state, r);
  }
  apply(state, { t: "entity", entity: "db", flags: 0, at: T0 });
  apply(state, condition("db", "death"));
  apply(state, action("db", "death", "n"));
  const files = statusFiles(state, HAM);
  for (const [file, pid] of [["web/death/.info", "4242"], ["web/death/n", "4242"]]) {
    assert.match(files.get(file)!, new RegExp(`^Path +: .*\nEntity Pid +: ${pid}\n`), file);
  }
  assert.match(files.get("db/death/n")!, /\nEntity Pid +: none\n/);
});

Deno.test("diffFiles() writes new and changed files only", () => {
  const before = new Map([["a/.info", "1"], ["a/c/.info", "2"]]);
  const after = new Map([["a/.info", "1"], ["a/c/.info", "3"], ["b/.info", "4"]]);
  assert.deepEqual(diffFiles(before, after), {
    write: new Map([["a/c/.info", "3"], ["b/.info", "4"]]),
    remove: [],
  });
});

Deno.test("diffFiles() removes an emptied directory whole and a lone file by itself", () => {
  const before = new Map([
    ["a/.info", "1"],
    ["a/c/.info", "2"],
    ["a/c/x", "3"],
    ["a/d/.info", "4"],
    ["a/d/y", "5"],
    ["b/.info", "6"],
  ]);
  const after = new Map([["a/.info", "1"], ["a/d/.info", "4"]]);
  const w = diffFiles(before, after);
  assert.equal(w.write.size, 0);
  assert.deepEqual(w.remove.sort(), ["a/c", "a/d/y", "b"]);
});

Deno.test("StatusTree.update() holds what statusFiles() renders after every kind of change", () => {
  const state = createState();
  const tree = new StatusTree();
  let held = new Map<string, string>();
  for (const r of STEPS) {
    const w = tree.update(state, HAM, apply(state, r));
    // What was held, changed by the writes, is what a full rendering gives.
    for (const rel of w.remove) {
      for (const k of [...held.keys()]) if (k === rel || k.startsWith(`${rel}/`)) held.delete(k);
    }
    for (const [k, v] of w.write) held.set(k, v);
    const full = statusFiles(state, HAM);
    assert.deepEqual(held, full, `after ${r.t}`);
    assert.deepEqual(tree.files(), full, `after ${r.t}`);
    held = new Map(full);
  }
});

Deno.test("StatusTree.update() renders only the entities it is told were touched", () => {
  const state = createState();
  const tree = new StatusTree();
  const touched = [
    ...apply(state, attach("web", 4242)),
    ...apply(state, { t: "entity", entity: "db", flags: 0, at: T0 }),
  ];
  tree.update(state, HAM, touched);
  // db changes, but only web is said to be touched: db's files stay as they were.
  apply(state, { t: "state", entity: "db", to: 7 });
  apply(state, { t: "state", entity: "web", to: 5 });
  const w = tree.update(state, HAM, ["web"]);
  assert.deepEqual([...w.write.keys()], ["web/.info"]);
  assert.match(w.write.get("web/.info")!, /State {13}: 5\n/);
  assert.match(tree.files().get("db/.info")!, /State {13}: 0\n/);
  // An unrelated change (verbosity) writes the top .info alone.
  apply(state, { t: "verbosity", value: 4 });
  assert.deepEqual([...tree.update(state, HAM, []).write.keys()], [".info"]);
  assert.deepEqual(tree.update(state, HAM, []).write.size, 0);
});

Deno.test("StatusTree.update() keeps the top .info counts from running totals", () => {
  const state = createState();
  const tree = new StatusTree();
  for (let i = 0; i < 5; i++) {
    tree.update(state, HAM, apply(state, { t: "entity", entity: `e${i}`, flags: 0, at: T0 }));
    tree.update(state, HAM, apply(state, condition(`e${i}`, "death")));
    tree.update(state, HAM, apply(state, action(`e${i}`, "death", "a")));
  }
  tree.update(state, HAM, apply(state, { t: "remove", entity: "e2" }));
  tree.update(state, HAM, apply(state, { t: "cond-remove", entity: "e3", condition: "death" }));
  const top = tree.files().get(".info")!;
  assert.match(top, /Num Entities {6}: 4\n/);
  assert.match(top, /Num Conditions {4}: 3\n/);
  assert.match(top, /Num Actions {7}: 3\n/);
  assert.equal(top, statusFiles(state, HAM).get(".info"));
});

Deno.test("StatusTree.staleHeartbeats() names entities whose beat or missed count moved", () => {
  const state = createState();
  const tree = new StatusTree();
  const hb = { periodMs: 200, low: 2, high: 4 };
  tree.update(state, HAM, [
    ...apply(state, attach("a", 1, { kind: "self", heartbeat: hb })),
    ...apply(state, attach("b", 2, { kind: "self", heartbeat: hb })),
    ...apply(state, attach("plain", 3)),
  ]);
  assert.equal(tree.heartbeats, 2);
  assert.deepEqual(tree.staleHeartbeats(state), []);
  // Volatile fields move without a record: a beat of a, a missed period of b.
  state.entities.get("a")!.lastBeat = T0 + 400;
  state.entities.get("b")!.hbMissed = 1;
  assert.deepEqual(tree.staleHeartbeats(state).sort(), ["a", "b"]);
  const w = tree.update(state, HAM, tree.staleHeartbeats(state));
  assert.deepEqual([...w.write.keys()].sort(), ["a/.info", "b/.info"]);
  assert.match(w.write.get("a/.info")!, /Last Heartbeat {4}: 2026-01-02T03:05:00.400Z\n/);
  assert.match(w.write.get("b/.info")!, /Missed Heartbeats : 1\n/);
  assert.deepEqual(tree.staleHeartbeats(state), []);
  tree.update(state, HAM, apply(state, { t: "remove", entity: "a" }));
  assert.equal(tree.heartbeats, 1);
});

Deno.test("StatusTree.staleHeartbeats() with a limit puts missed counts first, then takes turns", () => {
  const state = createState();
  const tree = new StatusTree();
  const hb = { periodMs: 100, low: 0, high: 0 };
  const names = ["a", "b", "c", "d", "e"];
  tree.update(
    state,
    HAM,
    names.flatMap((n, i) => apply(state, attach(n, 10 + i, { kind: "self", heartbeat: hb }))),
  );
  const beat = (at: number) => names.forEach((n) => state.entities.get(n)!.lastBeat = at);
  beat(T0 + 100);
  state.entities.get("d")!.hbMissed = 2;
  assert.deepEqual(tree.staleHeartbeats(state, 1), ["d"], "a missed count before a beat");
  assert.deepEqual(tree.staleHeartbeats(state, 3), ["d", "a", "b"]);
  tree.update(state, HAM, tree.staleHeartbeats(state, 3));
  // The rendered ones go to the back of the line: the others come first now.
  assert.deepEqual(tree.staleHeartbeats(state, 3), ["c", "e"]);
  tree.update(state, HAM, ["c", "e"]);
  beat(T0 + 200);
  assert.deepEqual(tree.staleHeartbeats(state, 2), ["d", "a"]);
});
