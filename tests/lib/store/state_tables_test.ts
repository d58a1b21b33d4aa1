import assert from "node:assert/strict";
import { ByteReader, ByteWriter } from "../../../lib/store/binary_codec.ts";
import { HCONDKEEPONEMPTY, HREARMAFTERRESTART } from "../../../lib/core/flags.ts";
import { createState, type HamState, newEntity } from "../../../lib/core/model.ts";
import type { HamRecord, RecordBody } from "../../../lib/core/records.ts";
import { applyRecord, touchedEntities } from "../../../lib/core/reducer.ts";
import { loadImage, StateTables } from "../../../lib/store/state_tables.ts";
import { Rng } from "../../support/fault_model.ts";

const NAMES = ["web", "db", "cache", "wörker", "q"];
const CONDS = ["death", "hb", "up"];
const ACTS = ["restart", "run", "note"];

/** A random record of every kind, naming a small set of items so that most apply. */
function randomRecord(rng: Rng, at: number): RecordBody {
  const entity = rng.pick(NAMES);
  const condition = rng.pick(CONDS);
  const action = rng.pick(ACTS);
  const pid = 1000 + rng.int(50);
  switch (rng.int(22)) {
    case 0:
      return { t: "entity", entity, flags: rng.int(4), at };
    case 1:
    case 2:
      return {
        t: "attach",
        entity,
        kind: rng.pick(["attached", "self"] as const),
        pid,
        startTime: rng.int(2) ? `${pid}77` : null,
        argv: rng.int(2) ? ["/bin/sleep", String(rng.int(100)), "ünï"] : null,
        cwd: rng.int(2) ? "/tmp" : null,
        env: rng.int(2) ? { HOME: "/root", "ÉTÉ": "été" } : null,
        spawnId: rng.int(2) ? `s${rng.int(9)}` : null,
        spawned: rng.int(2) === 1,
        flags: rng.int(8),
        heartbeat: rng.int(2) ? { periodMs: 100 * (1 + rng.int(5)), low: 2, high: 4 } : null,
        at,
      };
    case 3:
      return { t: "attach-intent", entity, spawnId: `s${rng.int(9)}` };
    case 4:
      return { t: "attach-abandoned", spawnId: `s${rng.int(9)}` };
    case 5:
      return { t: "remove", entity };
    case 6:
    case 7:
      return {
        t: "cond-add",
        entity,
        condition,
        type: rng.pick(["death", "state", "raise", "hb-missed-high"] as const),
        flags: rng.pick([0, HCONDKEEPONEMPTY, HREARMAFTERRESTART]),
        match: rng.pick([null, { from: 1, to: 2 }, { rtype: 1, rclass: 2, rseverity: 3 }]),
      };
    case 8:
      return { t: "cond-remove", entity, condition };
    case 9:
    case 10:
      return {
        t: "action-add",
        entity,
        condition,
        action,
        flags: rng.pick([0, HREARMAFTERRESTART]),
        params: rng.pick(
          [
            { kind: "restart", argv: null, policy: null },
            {
              kind: "restart",
              argv: ["/bin/true"],
              policy: {
                backoffMs: 100,
                maxBackoffMs: 5000,
                jitter: 0.1,
                intensity: 5,
                windowMs: 1e4,
                cooldownMs: 0,
              },
            },
            { kind: "execute", argv: ["/bin/echo", "hi"] },
            { kind: "waitfor", delayMs: 5, pathname: rng.int(2) ? "/tmp/x" : null },
            { kind: "signal", pid: rng.int(2) ? pid : null, signal: 9 },
            { kind: "log", message: "gone ☠", prefix: true, verbosity: 2 },
            { kind: "heartbeat-healthy" },
            { kind: "notify", channel: "ops", code: 3, value: -1.5 },
          ] as const,
        ),
      };
    case 11:
      return { t: "action-remove", entity, condition, action, auto: rng.int(2) === 1 };
    case 12:
      return {
        t: "fail-add",
        entity,
        condition,
        action,
        name: `f${rng.int(3)}`,
        params: { kind: "execute", argv: ["/bin/false"] },
      };
    case 13:
      return { t: "fail-remove", entity, condition, action, name: `f${rng.int(3)}` };
    case 14:
      return {
        t: "enable",
        path: rng.int(2) ? { entity } : { entity, condition },
        enabled: rng.int(2) === 1,
        recurse: rng.int(2) === 1,
      };
    case 15:
      return { t: "flags", path: { entity, condition, action }, flags: rng.int(16) };
    case 16:
      return { t: "death", entity, pid, code: rng.int(2) ? 1 : null, signal: "SIGKILL", at };
    case 17:
      return {
        t: "fire",
        event: rng.pick([
          { type: "death", entity },
          { type: "state", entity, transition: { from: 1, to: 2 } },
          { type: "raise", entity, raised: { rtype: 1, rclass: 2, rseverity: 3 } },
        ]),
        runs: [{
          run: `${entity}#${at}`,
          owner: rng.pick(NAMES),
          condition,
          lane: rng.pick(["nowait", "independent", "other"] as const),
          list: [],
        }],
      };
    case 18:
      return { t: "restart", entity, pid, startTime: null, spawnId: "r", argv: null, at };
    case 19:
      return { t: "result", entity, condition, action, fail: null, ok: rng.int(2) === 1 };
    case 20:
      return { t: "heartbeat", entity, missed: rng.int(4), health: "missed-low", lastBeat: at };
    default:
      return rng.pick<RecordBody>([
        { t: "state", entity, to: rng.int(5) },
        { t: "verbosity", value: rng.int(8) },
        { t: "failure", role: rng.pick(["ham", "guardian"] as const), at },
        { t: "death-done", entity },
        { t: "follow", entity, pid, startTime: "1" },
        { t: "restart-policy", entity, backoffMs: 200, blocked: rng.int(2) ? "too fast" : null },
      ]);
  }
}

function apply(state: HamState, tables: StateTables, body: RecordBody): void {
  const r = { ...body, seq: state.seq + 1 } as HamRecord;
  applyRecord(state, r);
  tables.touch(touchedEntities(r));
}

Deno.test("StateTables.image() equals the state after every record of a random stream", () => {
  for (const seed of [1, 2, 3]) {
    const rng = new Rng(seed);
    const state = createState();
    const tables = StateTables.of(state);
    for (let i = 0; i < 600; i++) {
      apply(state, tables, randomRecord(rng, i));
      if (i % 7 === 0 || i > 590) {
        assert.deepEqual(loadImage(tables.image(state)).state, state, `seed ${seed} step ${i}`);
      }
    }
  }
});

Deno.test("StateTables re-encodes only the rows of touched entities when an image is taken", () => {
  const rng = new Rng(9);
  const state = createState();
  const tables = StateTables.of(state);
  for (let i = 0; i < 200; i++) apply(state, tables, randomRecord(rng, i));
  tables.image(state);
  const before = tables.usage.heapBytes;
  apply(state, tables, { t: "state", entity: "solo", to: 1 }); // No such entity: no row.
  tables.image(state);
  assert.equal(tables.usage.heapBytes, before);
  apply(state, tables, { t: "entity", entity: "solo", flags: 0, at: 1 });
  apply(state, tables, { t: "state", entity: "solo", to: 3 });
  tables.image(state);
  const grown = tables.usage.heapBytes - before;
  assert.ok(grown > 0 && grown < 200, `one small row appended (${grown} bytes)`);
});

Deno.test("StateTables reclaims garbage rows when the heap outgrows the live rows", () => {
  const state = createState();
  const tables = StateTables.of(state);
  const argv = ["/bin/sleep", "x".repeat(1000)];
  for (let i = 0; i < 3000; i++) {
    apply(state, tables, {
      t: "attach",
      entity: `e${i % 10}`,
      kind: "attached",
      pid: i,
      startTime: null,
      argv,
      cwd: null,
      env: null,
      spawnId: null,
      spawned: true,
      flags: 0,
      heartbeat: null,
      at: i,
    });
    if (i % 10 === 9) tables.sync(state);
  }
  const { liveBytes, garbageBytes } = tables.usage;
  assert.ok(garbageBytes <= Math.max(liveBytes, 1 << 20), JSON.stringify(tables.usage));
  assert.deepEqual(loadImage(tables.image(state)).state, state);
});

Deno.test("loadImage() tables continue from the loaded rows when more records apply", () => {
  const rng = new Rng(5);
  const state = createState();
  const tables = StateTables.of(state);
  for (let i = 0; i < 300; i++) apply(state, tables, randomRecord(rng, i));
  const loaded = loadImage(tables.image(state));
  assert.deepEqual(loaded.state, state);
  for (let i = 300; i < 600; i++) {
    const body = randomRecord(rng, i);
    apply(state, tables, body);
    apply(loaded.state, loaded.tables, body);
  }
  assert.deepEqual(loadImage(loaded.tables.image(loaded.state)).state, state);
});

Deno.test("loadImage() names the damage when a row's bytes or the header are wrong", () => {
  const state = createState();
  const tables = StateTables.of(state);
  apply(state, tables, { t: "entity", entity: "web", flags: 0, at: 1 });
  const bytes = tables.image(state);
  const cases: [Uint8Array, RegExp][] = [
    [bytes.subarray(0, 10), /shorter than the header/],
    [Uint8Array.from(bytes, (b, i) => i === 8 ? 7 : b), /unsupported row schema 7/],
    [Uint8Array.from(bytes, (b, i) => i === 12 ? 200 : b), /200 rows do not fit/],
    [Uint8Array.from(bytes, (b, i) => i === 24 ? b ^ 1 : b), /bad header checksum/],
    [Uint8Array.from(bytes, (b, i) => i === bytes.length - 1 ? b ^ 1 : b), /checksum of row 2/],
  ];
  for (const [bad, why] of cases) {
    assert.throws(() => loadImage(bad), (err: Error & { code?: string }) => {
      assert.equal(err.code, "EIO");
      assert.match(err.message, /^Cannot load state image: /);
      assert.match(err.message, why);
      return true;
    });
  }
});

Deno.test("ByteWriter and ByteReader round-trip strings, numbers and nulls across a grow", () => {
  const w = ByteWriter.create(8);
  const values = ["", "plain", "ünïcödé ☠ 𝄞", "x".repeat(5000)];
  for (const s of values) w.str(s);
  w.num(null);
  w.num(-0.5);
  w.strListOrNull(null);
  w.strList(values);
  w.u32(0xffffffff);
  assert.ok(w.buffer.byteLength >= w.pos && w.buffer.growable);
  const r = new ByteReader(w.bytes, 0, w.pos);
  assert.deepEqual(values.map(() => r.str()), values);
  assert.equal(r.num(), null);
  assert.equal(r.num(), -0.5);
  assert.equal(r.strListOrNull(), null);
  assert.deepEqual(r.strList(), values);
  assert.equal(r.u32(), 0xffffffff);
  assert.ok(r.done);
  assert.throws(() => r.u8(), { code: "EIO" });
});

Deno.test("StateTables.image() still holds every entity when one changed without a touch", () => {
  const state = createState();
  const tables = StateTables.of(state);
  state.entities.set("stray", newEntity("stray", "placeholder", 5)); // No record, no touch.
  assert.deepEqual(loadImage(tables.image(state)).state, state);
  state.entities.delete("stray");
  assert.deepEqual(loadImage(tables.image(state)).state, state);
});
