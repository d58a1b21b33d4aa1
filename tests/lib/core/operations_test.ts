import assert from "node:assert/strict";
import { HamError } from "../../../lib/core/errors.ts";
import {
  type ConditionType,
  HACTIONBREAKONFAIL,
  HACTIONDONOW,
  HACTIONKEEPONFAIL,
  HCONDINDEPENDENT,
  HCONDNOWAIT,
  HCONDSTATEFROMINV,
  HCONDSTATEFROMSET,
  HCONDSTATETOINV,
  HCONDSTATETOSET,
  HENTITYKEEPONDEATH,
  HREARMAFTERRESTART,
} from "../../../lib/core/flags.ts";
import { GLOBAL_ENTITY } from "../../../lib/core/names.ts";
import {
  checkDetachable,
  planAction,
  planActionFail,
  planActionFailRemove,
  planActionRemove,
  planCondition,
  planConditionRemove,
  planControl,
  planEntity,
  planVerbose,
} from "../../../lib/core/operations.ts";
import { MemoryStore } from "../../support/memory_store.ts";
import {
  actionReq,
  conditionReq,
  controlReq,
  failReq,
  P,
  type Req,
  Tree,
} from "../../support/tree.ts";

function world() {
  const store = new MemoryStore();
  const tree = new Tree(store);
  tree.entity("web")
    .condition("web/died", "death")
    .action("web/died/restart", P.restart(), HREARMAFTERRESTART)
    .fail("web/died/restart", "page", P.exec("page"))
    .condition("web/crashed", "abnormal-death")
    .condition("web/fast", "raise", HCONDNOWAIT)
    .action("web/fast/log", P.log("x"))
    .condition("web/slow", "raise")
    .action("web/slow/wait", P.waitfor(10))
    .action("web/slow/mount", P.exec("mount"), HACTIONDONOW);
  return { store, tree, state: store.state };
}

function code(c: HamError["code"], text?: RegExp) {
  return (e: unknown) => {
    assert.ok(e instanceof HamError, `expected a HamError, got ${e}`);
    assert.equal(e.code, c);
    if (text) assert.match(e.message, text);
    return true;
  };
}

const NO_MATCH = { from: 0, to: 0, rtype: 0, rclass: 0, rseverity: 0 };

// ---------------------------------------------------------------------------
// planEntity

Deno.test("planEntity() plans a placeholder record when the name is free", () => {
  const { state } = world();
  assert.deepEqual(
    planEntity(state, { id: 1, op: "entity", entity: "db", flags: HENTITYKEEPONDEATH }, 42),
    {
      records: [{ t: "entity", entity: "db", flags: HENTITYKEEPONDEATH, at: 42 }],
      result: { entity: "db" },
    },
  );
});

Deno.test("planEntity() throws EEXIST when the entity exists", () => {
  const { state } = world();
  assert.throws(
    () => planEntity(state, { id: 1, op: "entity", entity: "web", flags: 0 }, 0),
    code("EEXIST", /"web"/),
  );
  assert.throws(
    () => planEntity(state, { id: 1, op: "entity", entity: GLOBAL_ENTITY, flags: 0 }, 0),
    code("EEXIST"),
  );
});

// ---------------------------------------------------------------------------
// planCondition, planConditionRemove

Deno.test("planCondition() plans a cond-add record with no match when the type is plain", () => {
  const { state } = world();
  assert.deepEqual(planCondition(state, conditionReq("web/gone", "detach", HCONDINDEPENDENT)), {
    records: [{
      t: "cond-add",
      entity: "web",
      condition: "gone",
      type: "detach",
      flags: HCONDINDEPENDENT,
      match: null,
    }],
    result: { path: "web/gone" },
  });
});

Deno.test("planCondition() keeps from and to when the type is state", () => {
  const { state } = world();
  const plan = planCondition(
    state,
    conditionReq("web/s", "state", HCONDSTATEFROMSET, { from: 6, to: 2, rtype: 9 }),
  );
  assert.deepEqual((plan.records[0] as { match: unknown }).match, { from: 6, to: 2 });
});

Deno.test("planCondition() keeps the three raise fields when the type is raise", () => {
  const { state } = world();
  const plan = planCondition(
    state,
    conditionReq("web/r", "raise", 0, { rtype: 1, rclass: 2, rseverity: 3, from: 9 }),
  );
  assert.deepEqual((plan.records[0] as { match: unknown }).match, {
    rtype: 1,
    rclass: 2,
    rseverity: 3,
  });
});

Deno.test("planCondition() throws EEXIST when the condition exists", () => {
  const { state } = world();
  assert.throws(() => planCondition(state, conditionReq("web/died", "death")), code("EEXIST"));
});

Deno.test("planCondition() throws ENOENT when the entity does not exist", () => {
  const { state } = world();
  assert.throws(() => planCondition(state, conditionReq("db/died", "death")), code("ENOENT"));
});

Deno.test("planCondition() accepts a condition on the global entity when it is named @global", () => {
  const { state } = world();
  assert.equal(
    planCondition(state, conditionReq(`${GLOBAL_ENTITY}/any`, "death")).records.length,
    1,
  );
});

Deno.test("planCondition() throws EINVAL when set flags are given to a non-state condition", () => {
  const { state } = world();
  assert.throws(
    () => planCondition(state, conditionReq("web/x", "raise", HCONDSTATETOINV)),
    code("EINVAL"),
  );
});

Deno.test("planCondition() throws EINVAL for an inverted side without its set", () => {
  const { state } = world();
  for (const [flags, side] of [[HCONDSTATETOINV, "to"], [HCONDSTATEFROMINV, "from"]] as const) {
    assert.throws(
      () => planCondition(state, conditionReq("web/x", "state", flags)),
      (e: unknown) =>
        e instanceof HamError && e.code === "EINVAL" &&
        e.message.includes(`${side}-inv inverts a set of states`),
    );
  }
  const both = HCONDSTATETOINV | HCONDSTATETOSET;
  assert.equal(planCondition(state, conditionReq("web/y", "state", both)).records.length, 1);
});

Deno.test("planConditionRemove() plans a cond-remove when the condition exists", () => {
  const { state } = world();
  const plan = planConditionRemove(state, {
    id: 1,
    op: "condition-remove",
    path: { entity: "web", condition: "died" },
  });
  assert.deepEqual(plan.records, [{ t: "cond-remove", entity: "web", condition: "died" }]);
});

Deno.test("planConditionRemove() throws ENOENT when the condition does not exist", () => {
  const { state } = world();
  assert.throws(
    () =>
      planConditionRemove(state, {
        id: 1,
        op: "condition-remove",
        path: { entity: "web", condition: "nope" },
      }),
    code("ENOENT"),
  );
});

// ---------------------------------------------------------------------------
// planAction

Deno.test("planAction() throws EEXIST when the action exists", () => {
  const { state } = world();
  assert.throws(
    () => planAction(state, actionReq("web/slow/mount", P.exec("mount"))),
    code("EEXIST"),
  );
});

Deno.test("planAction() throws ENOENT when the condition or the entity does not exist", () => {
  const { state } = world();
  assert.throws(() => planAction(state, actionReq("web/nope/x", P.exec("x"))), code("ENOENT"));
  assert.throws(() => planAction(state, actionReq("db/died/x", P.exec("x"))), code("ENOENT"));
});

const NON_DEATH: readonly ConditionType[] = [
  "any",
  "detach",
  "restart",
  "hb-missed-low",
  "hb-missed-high",
  "attach",
  "state",
  "raise",
];

for (const type of NON_DEATH) {
  Deno.test(`planAction() throws EINVAL when a restart is added to a "${type}" condition`, () => {
    const { state, tree } = world();
    tree.entity("db").condition("db/c", type);
    assert.throws(() => planAction(state, actionReq("db/c/r", P.restart())), code("EINVAL"));
  });
}

for (const type of ["death", "abnormal-death"] as const) {
  Deno.test(`planAction() accepts a restart when the condition is "${type}" and none exists yet`, () => {
    const { state, tree } = world();
    tree.entity("db").condition("db/c", type);
    assert.equal(planAction(state, actionReq("db/c/r", P.restart())).records.length, 1);
  });
}

Deno.test("planAction() throws EEXIST when a second restart is added to another death condition", () => {
  const { state } = world();
  assert.throws(
    () => planAction(state, actionReq("web/crashed/again", P.restart())),
    code("EEXIST", /web\/died\/restart/),
  );
  assert.throws(
    () => planAction(state, actionReq("web/died/again", P.restart())),
    code("EEXIST"),
  );
});

Deno.test("planAction() accepts a restart on another entity when that entity has one", () => {
  const { state, tree } = world();
  tree.entity("db").condition("db/died", "death");
  assert.equal(planAction(state, actionReq("db/died/restart", P.restart())).records.length, 1);
});

Deno.test("planAction() throws EINVAL when a restart is do-now", () => {
  const { state, tree } = world();
  tree.entity("db").condition("db/died", "death");
  assert.throws(
    () => planAction(state, actionReq("db/died/r", P.restart(), HACTIONDONOW)),
    code("EINVAL"),
  );
});

Deno.test("planAction() throws EINVAL when a waitfor is added to a nowait condition", () => {
  const { state } = world();
  assert.throws(
    () => planAction(state, actionReq("web/fast/wait", P.waitfor(100))),
    code("EINVAL", /nowait/),
  );
});

Deno.test("planAction() accepts a waitfor when the condition is independent", () => {
  const { state, tree } = world();
  tree.condition("web/ind", "raise", HCONDINDEPENDENT);
  assert.equal(planAction(state, actionReq("web/ind/w", P.waitfor(100))).records.length, 1);
});

const ALL_TYPES: readonly ConditionType[] = ["death", "abnormal-death", ...NON_DEATH];

for (const type of ALL_TYPES) {
  const rearmed = type !== "death" && type !== "abnormal-death";
  Deno.test(
    `planAction() ${
      rearmed ? "sets" : "does not set"
    } rearm by default when the condition is "${type}" (QNX 7.1)`,
    () => {
      const { state, tree } = world();
      tree.entity("db").condition("db/c", type);
      const plan = planAction(
        state,
        actionReq("db/c/x", P.exec("x"), HACTIONKEEPONFAIL | HACTIONBREAKONFAIL),
      );
      const flags = (plan.records[0] as { flags: number }).flags;
      assert.equal(flags & HREARMAFTERRESTART, rearmed ? HREARMAFTERRESTART : 0);
      assert.equal(
        flags & (HACTIONKEEPONFAIL | HACTIONBREAKONFAIL),
        HACTIONKEEPONFAIL | HACTIONBREAKONFAIL,
      );
    },
  );
}

Deno.test("planAction() keeps an explicit rearm when the condition is a death condition", () => {
  const { state, tree } = world();
  tree.entity("db").condition("db/c", "death");
  const plan = planAction(state, actionReq("db/c/x", P.exec("x"), HREARMAFTERRESTART));
  assert.equal((plan.records[0] as { flags: number }).flags, HREARMAFTERRESTART);
});

// ---------------------------------------------------------------------------
// planActionRemove, planActionFail, planActionFailRemove

Deno.test("planActionRemove() plans a manual action-remove when the action exists", () => {
  const { state } = world();
  const plan = planActionRemove(state, {
    id: 1,
    op: "action-remove",
    path: { entity: "web", condition: "slow", action: "wait" },
  });
  assert.deepEqual(plan.records, [{
    t: "action-remove",
    entity: "web",
    condition: "slow",
    action: "wait",
    auto: false,
  }]);
});

Deno.test("planActionRemove() throws ENOENT when the action does not exist", () => {
  const { state } = world();
  assert.throws(
    () =>
      planActionRemove(state, {
        id: 1,
        op: "action-remove",
        path: { entity: "web", condition: "slow", action: "nope" },
      }),
    code("ENOENT"),
  );
});

Deno.test("planActionFail() throws EEXIST when the action-fail item exists", () => {
  const { state } = world();
  assert.throws(
    () => planActionFail(state, failReq("web/died/restart", "page", P.log("x"))),
    code("EEXIST"),
  );
});

Deno.test("planActionFail() throws EINVAL for a waitfor item in a nowait condition, and nowait is refused over one", () => {
  const { state, tree } = world();
  assert.throws(
    () => planActionFail(state, failReq("web/fast/log", "w", P.waitfor(100))),
    code("EINVAL", /nowait and the item is a waitfor/),
  );
  // Set later: a condition whose action has a waitfor item in its fail list is not nowait.
  tree.condition("web/later", "raise").action("web/later/log", P.log("x"))
    .fail("web/later/log", "w", P.waitfor(100));
  assert.throws(
    () => planControl(state, controlReq("web/later", "add-flags", HCONDNOWAIT)),
    code("EINVAL", /waitfor/),
  );
});

Deno.test("planActionFail() throws ENOENT when the action does not exist", () => {
  const { state } = world();
  assert.throws(
    () => planActionFail(state, failReq("web/died/nope", "page", P.log("x"))),
    code("ENOENT"),
  );
});

Deno.test("planActionFail() plans a fail-add when the name is free", () => {
  const { state } = world();
  const plan = planActionFail(state, failReq("web/died/restart", "log", P.log("x")));
  assert.deepEqual(plan.result, { path: "web/died/restart", name: "log" });
  assert.equal(plan.records[0].t, "fail-add");
});

Deno.test("planActionFailRemove() throws ENOENT when the action-fail item does not exist", () => {
  const { state } = world();
  assert.throws(
    () =>
      planActionFailRemove(state, {
        id: 1,
        op: "action-fail-remove",
        path: { entity: "web", condition: "died", action: "restart" },
        name: "nope",
      }),
    code("ENOENT"),
  );
});

Deno.test("planActionFailRemove() plans a fail-remove when the item exists", () => {
  const { state } = world();
  const plan = planActionFailRemove(state, {
    id: 1,
    op: "action-fail-remove",
    path: { entity: "web", condition: "died", action: "restart" },
    name: "page",
  });
  assert.deepEqual(plan.records, [{
    t: "fail-remove",
    entity: "web",
    condition: "died",
    action: "restart",
    name: "page",
  }]);
});

// ---------------------------------------------------------------------------
// planControl

Deno.test("planControl() plans an enable record with recurse when asked to disable recursively", () => {
  const { state } = world();
  const plan = planControl(state, controlReq("web", "disable", 0, true));
  assert.deepEqual(plan.records, [{
    t: "enable",
    path: { entity: "web" },
    enabled: false,
    recurse: true,
  }]);
  assert.equal((plan.result as { enabled: boolean }).enabled, false);
});

Deno.test("planControl() answers the flags and their names without a record when asked get-flags", () => {
  const { state } = world();
  const plan = planControl(state, controlReq("web/slow/mount", "get-flags"));
  assert.deepEqual(plan, {
    records: [],
    result: { path: "web/slow/mount", enabled: true, flags: 0x3, flagNames: ["rearm", "do-now"] },
  });
});

Deno.test("planControl() plans the new word when flags are added, removed or set", () => {
  const { state } = world();
  const flagsOf = (cmd: "add-flags" | "remove-flags" | "set-flags", f: number) =>
    planControl(state, controlReq("web/slow", cmd, f)).records;
  assert.deepEqual(flagsOf("add-flags", HCONDINDEPENDENT), [{
    t: "flags",
    path: { entity: "web", condition: "slow" },
    flags: HCONDINDEPENDENT,
  }]);
  assert.deepEqual(flagsOf("remove-flags", HCONDINDEPENDENT), []);
  assert.deepEqual(flagsOf("set-flags", HREARMAFTERRESTART), [{
    t: "flags",
    path: { entity: "web", condition: "slow" },
    flags: HREARMAFTERRESTART,
  }]);
});

Deno.test("planControl() throws EINVAL when do-now is added through control", () => {
  const { state } = world();
  assert.throws(
    () => planControl(state, controlReq("web/fast/log", "add-flags", HACTIONDONOW)),
    code("EINVAL", /do-now/),
  );
  assert.throws(
    () => planControl(state, controlReq("web/fast/log", "set-flags", HACTIONDONOW)),
    code("EINVAL"),
  );
});

Deno.test("planControl() accepts other flag changes when the action already has do-now", () => {
  const { state } = world();
  const plan = planControl(
    state,
    controlReq("web/slow/mount", "add-flags", HACTIONKEEPONFAIL),
  );
  assert.equal((plan.result as { flags: number }).flags, 0x3 | HACTIONKEEPONFAIL);
});

Deno.test("planControl() throws EINVAL when nowait is set on a condition that holds a waitfor", () => {
  const { state } = world();
  assert.throws(
    () => planControl(state, controlReq("web/slow", "add-flags", HCONDNOWAIT)),
    code("EINVAL", /waitfor/),
  );
  assert.throws(
    () => planControl(state, controlReq("web/slow", "set-flags", HCONDNOWAIT)),
    code("EINVAL"),
  );
});

Deno.test("planControl() accepts nowait when the condition holds no waitfor", () => {
  const { state } = world();
  const plan = planControl(state, controlReq("web/died", "add-flags", HCONDNOWAIT));
  assert.equal(plan.records.length, 1);
});

Deno.test("planControl() throws EINVAL when state flags are set on a non-state condition", () => {
  const { state } = world();
  assert.throws(
    () => planControl(state, controlReq("web/died", "add-flags", HCONDSTATEFROMSET)),
    code("EINVAL"),
  );
});

Deno.test("planControl() throws EINVAL when a flag change leaves a side inverted without its set", () => {
  const { state, tree } = world();
  tree.condition("web/up", "state", HCONDSTATETOSET | HCONDSTATETOINV);
  for (
    const [cmd, flags] of [
      ["add-flags", HCONDSTATEFROMINV],
      ["remove-flags", HCONDSTATETOSET],
      ["set-flags", HCONDSTATETOINV],
    ] as const
  ) {
    assert.throws(
      () => planControl(state, controlReq("web/up", cmd, flags)),
      code("EINVAL", /-inv inverts a set of states/),
    );
  }
  const both = HCONDSTATEFROMSET | HCONDSTATEFROMINV;
  assert.equal(planControl(state, controlReq("web/up", "add-flags", both)).records.length, 1);
});

Deno.test("planControl() throws ENOENT when the item does not exist", () => {
  const { state } = world();
  assert.throws(() => planControl(state, controlReq("web/nope", "enable")), code("ENOENT"));
  assert.throws(() => planControl(state, controlReq("db", "get-flags")), code("ENOENT"));
});

// ---------------------------------------------------------------------------
// planVerbose, checkDetachable

function verbose(command: Req<"verbose">["command"], value = 0): Req<"verbose"> {
  return { id: 1, op: "verbose", command, value };
}

Deno.test("planVerbose() stops at 9 when incremented at 9", () => {
  const { state, store } = world();
  void store.commit([{ t: "verbosity", value: 9 }]);
  assert.deepEqual(planVerbose(state, verbose("incr")), { records: [], result: { verbosity: 9 } });
});

Deno.test("planVerbose() stops at 0 when decremented at 0", () => {
  const { state, store } = world();
  void store.commit([{ t: "verbosity", value: 0 }]);
  assert.deepEqual(planVerbose(state, verbose("decr")), { records: [], result: { verbosity: 0 } });
});

Deno.test("planVerbose() plans one step when incremented or decremented inside the range", () => {
  const { state } = world();
  assert.deepEqual(planVerbose(state, verbose("incr")).records, [{ t: "verbosity", value: 2 }]);
  assert.deepEqual(planVerbose(state, verbose("decr")).records, [{ t: "verbosity", value: 0 }]);
});

Deno.test("planVerbose() answers the level without a record when asked get", () => {
  const { state } = world();
  assert.deepEqual(planVerbose(state, verbose("get", 7)), {
    records: [],
    result: { verbosity: 1 },
  });
});

Deno.test("planVerbose() plans the level when asked set", () => {
  const { state } = world();
  assert.deepEqual(planVerbose(state, verbose("set", 5)), {
    records: [{ t: "verbosity", value: 5 }],
    result: { verbosity: 5 },
  });
  assert.deepEqual(planVerbose(state, verbose("set", 1)).records, []);
});

Deno.test("planVerbose() clamps a set level to 0–9 when the value is out of range", () => {
  const { state } = world();
  assert.deepEqual(planVerbose(state, verbose("set", 12)).result, { verbosity: 9 });
  assert.deepEqual(planVerbose(state, verbose("set", -3)).result, { verbosity: 0 });
});

Deno.test("checkDetachable() throws EINVAL when the entity is the global entity", () => {
  const { state } = world();
  assert.throws(() => checkDetachable(state, GLOBAL_ENTITY), code("EINVAL"));
});

Deno.test("checkDetachable() throws ENOENT when the entity does not exist", () => {
  const { state } = world();
  assert.throws(() => checkDetachable(state, "nope"), code("ENOENT"));
  checkDetachable(state, "web");
});

Deno.test("planCondition() leaves the state unchanged when it plans a change (as do the other planners)", () => {
  const { state } = world();
  const before = structuredClone(state);
  planCondition(state, { ...conditionReq("web/new", "death"), ...NO_MATCH });
  planAction(state, actionReq("web/slow/new", P.exec("x")));
  planControl(state, controlReq("web", "disable"));
  assert.deepEqual(state, before);
});
