import assert from "node:assert/strict";
import {
  eventTypes,
  firings,
  laneOf,
  matchesRaise,
  matchesState,
} from "../../../lib/core/dispatch.ts";
import {
  HCONDINDEPENDENT,
  HCONDKEEPONEMPTY,
  HCONDNOWAIT,
  HCONDOTHER,
  HCONDSTATEFROMINV,
  HCONDSTATEFROMSET,
  HCONDSTATETOINV,
  HCONDSTATETOSET,
  HREARMAFTERRESTART,
} from "../../../lib/core/flags.ts";
import { GLOBAL_ENTITY } from "../../../lib/core/names.ts";
import { MemoryStore } from "../../support/memory_store.ts";
import { Tree } from "../../support/tree.ts";

const bits = (...states: number[]) => states.reduce((b, n) => (b | (1 << n)) >>> 0, 0);

// ---------------------------------------------------------------------------
// State matching, as a named matrix: from-mode × to-mode

interface SideMode {
  name: string;
  /** The match value and flags for a side whose actual state is `v`. */
  make: (v: number, side: "from" | "to") => { want: number; flags: number };
  hit: boolean;
}

const SET = { from: HCONDSTATEFROMSET, to: HCONDSTATETOSET };
const INV = { from: HCONDSTATEFROMINV, to: HCONDSTATETOINV };

const SIDE_MODES: readonly SideMode[] = [
  { name: "exact (equal)", make: (v) => ({ want: v, flags: 0 }), hit: true },
  { name: "exact (different)", make: (v) => ({ want: v + 1, flags: 0 }), hit: false },
  { name: "any (0)", make: () => ({ want: 0, flags: 0 }), hit: true },
  {
    name: "set (member)",
    make: (v, side) => ({ want: bits(v, 9), flags: SET[side] }),
    hit: true,
  },
  {
    name: "set (not a member)",
    make: (_v, side) => ({ want: bits(1, 9), flags: SET[side] }),
    hit: false,
  },
  {
    name: "inverted set (not a member)",
    make: (_v, side) => ({ want: bits(1, 9), flags: SET[side] | INV[side] }),
    hit: true,
  },
  {
    name: "inverted set (member)",
    make: (v, side) => ({ want: bits(v, 9), flags: SET[side] | INV[side] }),
    hit: false,
  },
];

const FROM = 3;
const TO = 6;

for (const f of SIDE_MODES) {
  for (const t of SIDE_MODES) {
    const hit = f.hit && t.hit;
    Deno.test(
      `matchesState() ${
        hit ? "matches" : "does not match"
      } when from is ${f.name} and to is ${t.name}`,
      () => {
        const fm = f.make(FROM, "from");
        const tm = t.make(TO, "to");
        assert.equal(
          matchesState({ from: fm.want, to: tm.want }, fm.flags | tm.flags, FROM, TO),
          hit,
        );
      },
    );
  }
}

Deno.test("matchesState() never finds a state of 32 or more in a set when the set has every bit", () => {
  const all = 0xffffffff;
  assert.equal(matchesState({ from: 0, to: all }, HCONDSTATETOSET, 1, 31), true);
  assert.equal(matchesState({ from: 0, to: all }, HCONDSTATETOSET, 1, 32), false);
  assert.equal(matchesState({ from: 0, to: all }, HCONDSTATETOSET, 1, 40), false);
  assert.equal(matchesState({ from: 0, to: all }, HCONDSTATETOSET | HCONDSTATETOINV, 1, 40), true);
});

Deno.test("matchesState() matches state 0 in a set when bit 0 is set", () => {
  assert.equal(matchesState({ from: bits(0), to: 0 }, HCONDSTATEFROMSET, 0, 5), true);
  assert.equal(matchesState({ from: bits(1), to: 0 }, HCONDSTATEFROMSET, 0, 5), false);
});

Deno.test("matchesState() treats 0 as any when the side is exact, so state 0 cannot be singled out", () => {
  assert.equal(matchesState({ from: 0, to: 0 }, 0, 7, 8), true);
  assert.equal(matchesState({ from: 0, to: 0 }, 0, 0, 0), true);
});

Deno.test("matchesState() matches a transition to the same state when both sides match", () => {
  assert.equal(matchesState({ from: 4, to: 4 }, 0, 4, 4), true);
});

Deno.test("matchesState() matches nothing when a set is empty", () => {
  assert.equal(matchesState({ from: 0, to: 0 }, HCONDSTATETOSET, 1, 2), false);
  assert.equal(matchesState({ from: 0, to: 0 }, HCONDSTATETOSET | HCONDSTATETOINV, 1, 2), true);
});

// ---------------------------------------------------------------------------
// Raise matching, as a named matrix: each field exact (equal), exact (different) or any

type FieldMode = "exact (equal)" | "exact (different)" | "any (0)";
const FIELD_MODES: readonly FieldMode[] = ["exact (equal)", "exact (different)", "any (0)"];
const RAISED = { rtype: 1, rclass: 2, rseverity: 3 };

function fieldValue(mode: FieldMode, actual: number): number {
  return mode === "any (0)" ? 0 : mode === "exact (equal)" ? actual : actual + 10;
}

for (const rt of FIELD_MODES) {
  for (const rc of FIELD_MODES) {
    for (const rs of FIELD_MODES) {
      const hit = ![rt, rc, rs].includes("exact (different)");
      Deno.test(
        `matchesRaise() ${
          hit ? "matches" : "does not match"
        } when rtype is ${rt}, rclass is ${rc} and rseverity is ${rs}`,
        () => {
          const m = {
            rtype: fieldValue(rt, RAISED.rtype),
            rclass: fieldValue(rc, RAISED.rclass),
            rseverity: fieldValue(rs, RAISED.rseverity),
          };
          assert.equal(matchesRaise(m, RAISED), hit);
        },
      );
    }
  }
}

// ---------------------------------------------------------------------------
// Lanes and event types

Deno.test("laneOf() picks the lane when the flags say nowait, independent, both or neither", () => {
  assert.equal(laneOf(0), "other");
  assert.equal(laneOf(HCONDOTHER), "other");
  assert.equal(laneOf(HREARMAFTERRESTART | HCONDKEEPONEMPTY), "other");
  assert.equal(laneOf(HCONDNOWAIT), "nowait");
  assert.equal(laneOf(HCONDINDEPENDENT), "independent");
  assert.equal(laneOf(HCONDNOWAIT | HCONDINDEPENDENT), "nowait");
});

Deno.test("eventTypes() adds death when the event is an abnormal death", () => {
  assert.deepEqual(eventTypes({ type: "abnormal-death", entity: "a" }), [
    "abnormal-death",
    "death",
  ]);
  assert.deepEqual(eventTypes({ type: "death", entity: "a" }), ["death"]);
  assert.deepEqual(eventTypes({ type: "restart", entity: "a" }), ["restart"]);
});

// ---------------------------------------------------------------------------
// firings()

function world() {
  const store = new MemoryStore();
  const tree = new Tree(store);
  tree.entity("web").entity("db")
    .condition("web/died", "death")
    .condition("web/crashed", "abnormal-death", HCONDNOWAIT)
    .condition("web/all", "any", HCONDINDEPENDENT)
    .condition("web/up", "state", 0, { from: 0, to: 2 })
    .condition("web/alarm", "raise", 0, { rtype: 7 })
    .condition("db/died", "death")
    .condition(`${GLOBAL_ENTITY}/anyone-died`, "death")
    .condition(`${GLOBAL_ENTITY}/anything`, "any", HCONDNOWAIT);
  return { store, tree, state: store.state };
}

Deno.test("firings() lists the entity's own conditions in insertion order, then the global ones, when an entity dies", () => {
  const { state } = world();
  assert.deepEqual(firings(state, { type: "death", entity: "web" }), [
    { owner: "web", condition: "died", lane: "other" },
    { owner: "web", condition: "all", lane: "independent" },
    { owner: GLOBAL_ENTITY, condition: "anyone-died", lane: "other" },
    { owner: GLOBAL_ENTITY, condition: "anything", lane: "nowait" },
  ]);
});

Deno.test("firings() fires death, abnormal-death and any conditions once each when the death is abnormal", () => {
  const { state } = world();
  assert.deepEqual(
    firings(state, { type: "abnormal-death", entity: "web" }).map((f) =>
      `${f.owner}/${f.condition}`
    ),
    [
      "web/died",
      "web/crashed",
      "web/all",
      `${GLOBAL_ENTITY}/anyone-died`,
      `${GLOBAL_ENTITY}/anything`,
    ],
  );
});

Deno.test("firings() does not fire another entity's conditions when an entity dies", () => {
  const { state } = world();
  const names = firings(state, { type: "death", entity: "db" }).map((f) =>
    `${f.owner}/${f.condition}`
  );
  assert.deepEqual(names, ["db/died", `${GLOBAL_ENTITY}/anyone-died`, `${GLOBAL_ENTITY}/anything`]);
});

Deno.test("firings() fires a state condition only when the transition matches", () => {
  const { state } = world();
  const of = (from: number, to: number) =>
    firings(state, { type: "state", entity: "web", transition: { from, to } })
      .map((f) => f.condition);
  assert.deepEqual(of(1, 2), ["all", "up", "anything"]);
  assert.deepEqual(of(1, 3), ["all", "anything"]);
});

Deno.test("firings() fires no state condition when the event carries no transition", () => {
  const { state } = world();
  assert.deepEqual(
    firings(state, { type: "state", entity: "web" }).map((f) => f.condition),
    ["all", "anything"],
  );
});

Deno.test("firings() fires a raise condition only when the raised fields match", () => {
  const { state } = world();
  const of = (rtype: number) =>
    firings(state, {
      type: "raise",
      entity: "web",
      raised: { rtype, rclass: 1, rseverity: 1 },
    }).map((f) => f.condition);
  assert.deepEqual(of(7), ["all", "alarm", "anything"]);
  assert.deepEqual(of(8), ["all", "anything"]);
});

Deno.test("firings() skips a disabled condition when it would match", () => {
  const { state, tree } = world();
  tree.control("web/died", "disable").control(`${GLOBAL_ENTITY}/anything`, "disable");
  assert.deepEqual(
    firings(state, { type: "death", entity: "web" }).map((f) => f.condition),
    ["all", "anyone-died"],
  );
});

Deno.test("firings() returns nothing when the entity is disabled", () => {
  const { state, tree } = world();
  tree.control("web", "disable");
  assert.deepEqual(firings(state, { type: "death", entity: "web" }), []);
});

Deno.test("firings() skips the global conditions when the global entity is disabled", () => {
  const { state, tree } = world();
  tree.control(GLOBAL_ENTITY, "disable");
  assert.deepEqual(
    firings(state, { type: "death", entity: "web" }).map((f) => f.owner),
    ["web", "web"],
  );
});

Deno.test("firings() returns nothing when the entity does not exist", () => {
  const { state } = world();
  assert.deepEqual(firings(state, { type: "death", entity: "nope" }), []);
});

Deno.test("firings() lists a global condition once when the event is about the global entity", () => {
  const { state } = world();
  assert.deepEqual(
    firings(state, { type: "death", entity: GLOBAL_ENTITY }).map((f) => f.condition),
    ["anyone-died", "anything"],
  );
});
