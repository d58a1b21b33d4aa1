import assert from "node:assert/strict";
import { crc32 } from "node:zlib";
import { createState, type HamState } from "../../../lib/core/model.ts";
import type { HamRecord, RecordBody } from "../../../lib/core/records.ts";
import { applyRecord, touchedEntities } from "../../../lib/core/reducer.ts";
import { loadImage, StateTables } from "../../../lib/store/state_tables.ts";
import { Rng } from "../../support/fault_model.ts";
import { randomName, randomString } from "../../support/random_strings.ts";

/** Records whose every string is random (well-formed, as the protocol lets through). */
function randomRecords(rng: Rng): RecordBody[] {
  const out: RecordBody[] = [];
  for (let i = 0; i < 20; i++) {
    const entity = randomName(rng, 80);
    const condition = randomName(rng, 80);
    const action = randomName(rng, 80);
    out.push({
      t: "attach",
      entity,
      kind: "attached",
      pid: 1000 + i,
      startTime: `${rng.int(1e9)}`,
      argv: [randomString(rng, 40), randomString(rng, 40)],
      cwd: `/${randomString(rng, 20)}`,
      env: { [randomString(rng, 10) || "K"]: randomString(rng, 30) },
      spawnId: randomString(rng, 12),
      spawned: true,
      flags: 0,
      heartbeat: null,
      ...(rng.int(2) ? { killMode: "process" as const } : {}),
      at: 1_700_000_000_000 + i,
    });
    if (rng.int(2)) {
      const procs = Array.from({ length: rng.int(4) }, (_, k) => ({
        pid: 5000 + k,
        startTime: `${rng.int(1e9)}`,
      }));
      out.push({ t: "leftovers", entity, procs });
    }
    if (rng.int(3) === 0) {
      // An operator's restart under way (the process it replaces, or none).
      const pid = rng.int(2) ? 1000 + i : null;
      out.push({ t: "restart-request", entity, pid, spawnId: randomString(rng, 12) });
    }
    out.push({ t: "cond-add", entity, condition, type: "death", flags: 0, match: null });
    out.push({
      t: "action-add",
      entity,
      condition,
      action,
      flags: 0,
      params: rng.int(2)
        ? { kind: "log", message: randomString(rng, 200), prefix: true, verbosity: 1 }
        : { kind: "notify", channel: randomString(rng, 30) || "c", code: 1, value: 2 },
    });
  }
  return out;
}

Deno.test("a state image round-trips exactly what the reducer holds, for random strings", () => {
  for (let seed = 1; seed <= 30; seed++) {
    const rng = new Rng(seed);
    const state: HamState = createState();
    const tables = StateTables.of(state);
    let seq = 0;
    for (const body of randomRecords(rng)) {
      const record = { seq: ++seq, ...body } as HamRecord;
      applyRecord(state, record);
      tables.touch(touchedEntities(record));
    }
    assert.deepEqual(loadImage(tables.image(state)).state, state, `seed ${seed}`);
  }
});

Deno.test("a state image keeps notify and signal actions that name another node", () => {
  const state: HamState = createState();
  const tables = StateTables.of(state);
  const bodies: RecordBody[] = [
    { t: "entity", entity: "web", flags: 0, at: 1 },
    { t: "cond-add", entity: "web", condition: "death", type: "death", flags: 0, match: null },
    {
      t: "action-add",
      entity: "web",
      condition: "death",
      action: "far",
      flags: 0,
      params: { kind: "notify", channel: "ops", code: -3, value: 4, node: "n2" },
    },
    {
      t: "action-add",
      entity: "web",
      condition: "death",
      action: "hup",
      flags: 0,
      params: { kind: "signal", pid: null, signal: 1, node: "n2", entity: "db" },
    },
    {
      t: "fail-add",
      entity: "web",
      condition: "death",
      action: "far",
      name: "local",
      params: { kind: "notify", channel: "ops", code: 0, value: 0 },
    },
  ];
  let seq = 0;
  for (const body of bodies) {
    const record = { seq: ++seq, ...body } as HamRecord;
    applyRecord(state, record);
    tables.touch(touchedEntities(record));
  }
  const loaded = loadImage(tables.image(state)).state;
  assert.deepEqual(loaded, state);
  const actions = loaded.entities.get("web")!.conditions.get("death")!.actions;
  assert.deepEqual(actions.map((a) => a.params), [
    { kind: "notify", channel: "ops", code: -3, value: 4, node: "n2" },
    { kind: "signal", pid: null, signal: 1, node: "n2", entity: "db" },
  ]);
  assert.deepEqual(actions[0].fails[0].params, {
    kind: "notify",
    channel: "ops",
    code: 0,
    value: 0,
  });
});

Deno.test("a state image keeps an execute action's time limit, and none when it gives none", () => {
  const state: HamState = createState();
  const tables = StateTables.of(state);
  const bodies: RecordBody[] = [
    { t: "entity", entity: "web", flags: 0, at: 1 },
    { t: "cond-add", entity: "web", condition: "death", type: "death", flags: 0, match: null },
    ...[["bounded", 30_000], ["unbounded", 0], ["default", undefined]].map(([action, t]) => ({
      t: "action-add" as const,
      entity: "web",
      condition: "death",
      action: action as string,
      flags: 0,
      params: {
        kind: "execute" as const,
        argv: ["/bin/x", "y"],
        ...(t === undefined ? {} : { timeoutMs: t as number }),
      },
    })),
    {
      t: "fail-add",
      entity: "web",
      condition: "death",
      action: "default",
      name: "f",
      params: { kind: "execute", argv: ["/bin/f"], timeoutMs: 5 },
    },
  ];
  let seq = 0;
  for (const body of bodies) {
    const record = { seq: ++seq, ...body } as HamRecord;
    applyRecord(state, record);
    tables.touch(touchedEntities(record));
  }
  const loaded = loadImage(tables.image(state)).state;
  assert.deepEqual(loaded, state);
  const actions = loaded.entities.get("web")!.conditions.get("death")!.actions;
  assert.deepEqual(actions.map((a) => a.params), [
    { kind: "execute", argv: ["/bin/x", "y"], timeoutMs: 30_000 },
    { kind: "execute", argv: ["/bin/x", "y"], timeoutMs: 0 },
    { kind: "execute", argv: ["/bin/x", "y"] },
  ]);
  assert.deepEqual(actions[2].fails[0].params, { kind: "execute", argv: ["/bin/f"], timeoutMs: 5 });
});

Deno.test("loadImage() reads an entity row written before kill modes as kill mode control-group", () => {
  const state = createState();
  applyRecord(state, {
    seq: 1,
    t: "attach",
    entity: "old",
    kind: "attached",
    pid: 10,
    startTime: "1",
    argv: ["x"],
    cwd: null,
    env: null,
    spawnId: "s",
    spawned: true,
    flags: 0,
    heartbeat: null,
    killMode: "process",
    at: 1,
  });
  applyRecord(state, {
    seq: 2,
    t: "leftovers",
    entity: "old",
    procs: [{ pid: 11, startTime: "2" }],
  });
  const image = StateTables.of(state).image(state);
  assert.deepEqual(loadImage(image).state.entities.get("old")!.leftovers, [{
    pid: 11,
    startTime: "2",
  }]);
  // The same image without the row's trailing fields (kill mode u8, leftovers u32 + 1 × (f64 +
  // str), no restart request u8).
  const trailing = 1 + 4 + 8 + 4 + 1 + 1;
  const view = new DataView(image.buffer, image.byteOffset, image.byteLength);
  const rows = view.getUint32(12, true);
  const at = 32 + (rows - 1) * 12; // the last row's index entry: the entity "old"
  const len = view.getUint32(at + 4, true) - trailing;
  const old = new Uint8Array(image.length - trailing);
  old.set(image.subarray(0, old.length));
  const oldView = new DataView(old.buffer);
  oldView.setUint32(at + 4, len, true);
  const rowsAt = 32 + rows * 12;
  const off = rowsAt + oldView.getUint32(at, true);
  oldView.setUint32(at + 8, crc32(old.subarray(off, off + len)), true);
  oldView.setUint32(16, oldView.getUint32(16, true) - trailing, true);
  oldView.setUint32(20, crc32(old.subarray(24, rowsAt), crc32(old.subarray(0, 20))), true);
  const e = loadImage(old).state.entities.get("old")!;
  assert.equal(e.killMode, "control-group");
  assert.deepEqual(e.leftovers, []);
  assert.equal(e.restartRequest, undefined);
});
