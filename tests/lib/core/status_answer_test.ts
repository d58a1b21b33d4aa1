import assert from "node:assert/strict";
import { createState, type HamState } from "../../../lib/core/model.ts";
import { GLOBAL_ENTITY } from "../../../lib/core/names.ts";
import { encodeResponse } from "../../../lib/core/protocol.ts";
import type { HamRecord, RecordBody } from "../../../lib/core/records.ts";
import { applyRecord, touchedEntities } from "../../../lib/core/reducer.ts";
import { EncodedJson, StatusAnswer } from "../../../lib/core/status_answer.ts";
import { type HamInfo, hamView } from "../../../lib/core/status_view.ts";

const T0 = Date.UTC(2026, 0, 2, 3, 5, 0);
const decoder = new TextDecoder();

/** A small deterministic generator (mulberry32), so that a failure can be replayed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NAMES = ["web", "db", "wörker", "hb", "q", GLOBAL_ENTITY];
const CONDITIONS = ["death", "abnormal-death"];
const ACTIONS = ["note", "again"];

/** A random change of the tree, as the HAM journals them; some do nothing (the reducer's checks). */
function randomRecord(rnd: () => number, step: number): RecordBody {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  const entity = pick(NAMES);
  const condition = pick(CONDITIONS);
  const action = pick(ACTIONS);
  const at = T0 + step * 1000;
  const pid = 1000 + step;
  switch (Math.floor(rnd() * 17)) {
    case 0:
      return { t: "entity", entity, flags: pick([0, 1, 4]), at };
    case 1:
      return {
        t: "attach",
        entity,
        kind: pick(["attached", "self"] as const),
        pid,
        startTime: pick([null, "12345"]),
        argv: pick([null, ["/bin/sleep", "1000"], ["/bin/echo", 'é ✓ "quoted"\n']]),
        cwd: pick([null, "/tmp"]),
        env: pick([null, { A: "1", "B\u00e9": "\u{1f600}" }]),
        spawnId: null,
        spawned: rnd() < 0.5,
        flags: pick([0, 1]),
        heartbeat: pick([null, { periodMs: 200, low: 2, high: 4 }]),
        killMode: pick([undefined, "process" as const]),
        at,
      };
    case 2:
      return { t: "remove", entity };
    case 3:
      return { t: "cond-add", entity, condition, type: "death", flags: pick([0, 1]), match: null };
    case 4:
      return { t: "cond-remove", entity, condition };
    case 5:
      return {
        t: "action-add",
        entity,
        condition,
        action,
        flags: pick([0, 1]),
        params: { kind: "log", message: `${action} ran at ${step}`, prefix: true, verbosity: 1 },
      };
    case 6:
      return { t: "action-remove", entity, condition, action, auto: rnd() < 0.5 };
    case 7:
      return {
        t: "fail-add",
        entity,
        condition,
        action,
        name: `f${step % 3}`,
        params: { kind: "execute", argv: ["/bin/true"] },
      };
    case 8:
      return {
        t: "enable",
        path: pick([{ entity }, { entity, condition }, { entity, condition, action }]),
        enabled: rnd() < 0.5,
        recurse: rnd() < 0.5,
      };
    case 9:
      return {
        t: "flags",
        path: pick([{ entity }, { entity, condition }]),
        flags: pick([0, 1, 5]),
      };
    case 10: {
      return { t: "death", entity, pid: -1, code: pick([null, 3]), signal: "SIGKILL", at };
    }
    case 11:
      return { t: "restart", entity, pid, startTime: null, spawnId: null, at };
    case 12:
      return {
        t: "restart-policy",
        entity,
        backoffMs: pick([0, 250]),
        blocked: pick([null, "5 in 10 s"]),
      };
    case 13:
      return { t: "state", entity, to: step % 7 };
    case 14:
      return {
        t: "heartbeat",
        entity,
        missed: step % 5,
        health: pick(["healthy", "missed-low", "missed-high"] as const),
        lastBeat: pick([null, at]),
      };
    case 15:
      return {
        t: "result",
        entity,
        condition,
        action,
        fail: pick([null, "f0"]),
        ok: rnd() < 0.5,
      };
    default:
      return pick<RecordBody>([
        { t: "leftovers", entity, procs: [{ pid: pid + 1, startTime: "99" }] },
        { t: "verbosity", value: step % 4 },
        { t: "failure", role: pick(["ham", "guardian"] as const), at },
        {
          t: "fire",
          event: { type: "death", entity },
          runs: [{ run: `r${step}`, owner: entity, condition, lane: "other", list: [] }],
        },
      ]);
  }
}

/** A death record needs the entity's current pid to apply: fill it in. */
function withPid(state: HamState, r: RecordBody): RecordBody {
  if (r.t !== "death") return r;
  return { ...r, pid: state.entities.get(r.entity)?.pid ?? 0 };
}

function rendered(answers: StatusAnswer, state: HamState, info: HamInfo): string {
  return decoder.decode(answers.answer(state, info).bytes());
}

Deno.test("StatusAnswer.answer() equals JSON.stringify(hamView()) after random changes", () => {
  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    const rnd = random(seed);
    const state = createState();
    const answers = new StatusAnswer();
    const info: HamInfo = { hamPid: 10, guardianPid: 11, startedAt: T0, logLinesLost: 0 };
    let seq = 0;
    for (let step = 0; step < 400; step++) {
      const r = { ...withPid(state, randomRecord(rnd, step)), seq: ++seq } as HamRecord;
      applyRecord(state, r);
      answers.touch(touchedEntities(r));
      // Heartbeat fields move without a record (a beat, a missed period).
      if (rnd() < 0.15) {
        const e = state.entities.get(NAMES[Math.floor(rnd() * NAMES.length)]);
        if (e) {
          if (rnd() < 0.5) e.lastBeat = T0 + step;
          else e.hbMissed++;
        }
      }
      if (rnd() < 0.1) info.guardianPid = rnd() < 0.5 ? null : 11 + step;
      if (rnd() < 0.05) answers.warm(state, NAMES.slice(0, Math.floor(rnd() * 3)));
      if (rnd() < 0.3 && step < 399) continue; // Several changes between two answers.
      assert.equal(
        rendered(answers, state, info),
        JSON.stringify(hamView(state, info)),
        `seed ${seed}, step ${step}, after ${r.t}`,
      );
    }
  }
});

Deno.test("StatusAnswer.answer() reuses what it rendered until the entity is touched", () => {
  const state = createState();
  const answers = new StatusAnswer();
  const info: HamInfo = { hamPid: 10, guardianPid: null, startedAt: T0 };
  const apply = (r: RecordBody) => {
    const rec = { ...r, seq: state.seq + 1 } as HamRecord;
    applyRecord(state, rec);
    return touchedEntities(rec);
  };
  answers.touch(apply({ t: "entity", entity: "web", flags: 0, at: T0 }));
  assert.match(rendered(answers, state, info), /"state":0/);
  // A change nobody was told of is not seen: what the answer holds is a cache.
  apply({ t: "state", entity: "web", to: 5 });
  assert.match(rendered(answers, state, info), /"state":0/);
  answers.touch(["web"]);
  assert.match(rendered(answers, state, info), /"state":5/);
  apply({ t: "state", entity: "web", to: 6 });
  answers.touchAll();
  assert.match(rendered(answers, state, info), /"state":6/);
});

Deno.test("StatusAnswer.warm() renders ahead, all or the entities named, and forgets the removed", () => {
  const state = createState();
  const answers = new StatusAnswer();
  for (let i = 0; i < 5; i++) {
    applyRecord(state, { t: "entity", entity: `e${i}`, flags: 0, at: T0, seq: i + 1 });
  }
  assert.equal(answers.warm(state, ["e0", "e2", "e9"]), 2);
  assert.equal(answers.warm(state), 3);
  assert.equal(answers.warm(state), 0);
  assert.equal(answers.size, 5);
  applyRecord(state, { t: "remove", entity: "e1", seq: 6 });
  answers.touch(["e1"]);
  assert.equal(answers.size, 4);
  const info = { hamPid: 1, guardianPid: null, startedAt: 0 };
  assert.equal(rendered(answers, state, info), JSON.stringify(hamView(state, info)));
});

Deno.test("StatusAnswer.prepare() joins the next answer ahead, until an entity is touched", () => {
  const state = createState();
  const answers = new StatusAnswer();
  const info = { hamPid: 1, guardianPid: null, startedAt: 0 };
  for (let i = 0; i < 3; i++) {
    applyRecord(state, { t: "entity", entity: `e${i}`, flags: 0, at: T0, seq: i + 1 });
  }
  assert.equal(answers.prepared(state), false);
  answers.prepare(state);
  assert.equal(answers.prepared(state), true);
  assert.equal(answers.prepared(createState()), false, "held for that state only");
  assert.equal(rendered(answers, state, info), JSON.stringify(hamView(state, info)));
  applyRecord(state, { t: "state", entity: "e1", to: 4, seq: 4 });
  answers.touch(["e1"]);
  assert.equal(answers.prepared(state), false);
  answers.prepare(state);
  assert.equal(answers.prepared(state), true);
  assert.equal(rendered(answers, state, info), JSON.stringify(hamView(state, info)));
  assert.match(rendered(answers, state, info), /"state":4/);
});

Deno.test("EncodedJson.response() and withField() give the bytes encodeResponse() gives", () => {
  const state = createState();
  applyRecord(state, { t: "entity", entity: "web", flags: 0, at: T0, seq: 1 });
  const info = { hamPid: 1, guardianPid: 2, startedAt: T0 };
  const answers = new StatusAnswer();
  const view = hamView(state, info);
  const encoded = answers.answer(state, info);
  const line = (pieces: Uint8Array[]) => pieces.map((p) => decoder.decode(p)).join("");
  assert.equal(
    line(encoded.response(42)),
    encodeResponse({ id: 42, ok: true, result: view }) + "\n",
  );
  // The entities' bytes are kept while none changes: the next answer writes the same ones.
  const again = answers.answer(state, info).response(43);
  assert.equal(line(again), encodeResponse({ id: 43, ok: true, result: view }) + "\n");
  assert.equal(again[1], encoded.response(1)[1]);
  const cluster = { node: "n1", nodes: ["n1"], entities: [] };
  assert.equal(
    decoder.decode(encoded.withField("cluster", cluster).bytes()),
    JSON.stringify({ ...view, cluster }),
  );
  // With no entity at all.
  const empty = new StatusAnswer().answer(createState(), info);
  assert.equal(decoder.decode(empty.bytes()), JSON.stringify(hamView(createState(), info)));
  assert.ok(empty instanceof EncodedJson);
  assert.equal(empty.byteLength, empty.bytes().length);
});

Deno.test("StatusAnswer.answer() with nothing touched checks only the entities with a heartbeat", () => {
  const state = createState();
  const answers = new StatusAnswer();
  const info = { hamPid: 1, guardianPid: null, startedAt: 0 };
  let seq = 0;
  for (let i = 0; i < 50; i++) {
    const heartbeat = i === 7 ? { periodMs: 200, low: 2, high: 4 } : null;
    const unknown = { startTime: null, argv: null, cwd: null, env: null, spawnId: null };
    const attached = { kind: "attached", pid: 100 + i, spawned: false, flags: 0, at: T0 };
    const rec = { t: "attach", entity: `e${i}`, ...attached, ...unknown, heartbeat, seq: ++seq };
    applyRecord(state, rec as HamRecord);
    answers.touch(touchedEntities(rec as HamRecord));
  }
  const expected = JSON.stringify(hamView(state, info));
  assert.equal(rendered(answers, state, info), expected);
  // No walk of every entity: the held answer is checked against the one with a heartbeat.
  const walk = state.entities.values;
  state.entities.values = () => {
    throw new Error("walked every entity");
  };
  assert.equal(rendered(answers, state, info), expected);
  // Its heartbeat fields move without a record: seen all the same (a walk, then).
  state.entities.get("e7")!.lastBeat = T0 + 5;
  assert.throws(() => rendered(answers, state, info), /walked every entity/);
  state.entities.values = walk;
  assert.equal(rendered(answers, state, info), JSON.stringify(hamView(state, info)));
  assert.notEqual(rendered(answers, state, info), expected, "the beat is in the answer");
});
