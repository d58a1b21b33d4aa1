/**
 * Engine policy tests, with fake processes, a fake clock and an in-memory store.
 *
 * The first two suites are named matrices in the style of OTP's `supervisor_SUITE`: the
 * cases are data, and each combination of condition type × condition flags × action
 * outcome is its own `Deno.test`.
 */

import { DEFAULTS } from "../../../lib/core/defaults.ts";
import { POLICY_DEFAULTS } from "../../../lib/core/restart_policy.ts";
import assert from "node:assert/strict";
import type { EventBody } from "../../../lib/core/protocol.ts";
import { type AttachSpec, Engine } from "../../../lib/engine/engine.ts";
import { HamError } from "../../../lib/core/errors.ts";
import {
  type ConditionType,
  HACTIONBREAKONFAIL,
  HACTIONDONOW,
  HACTIONKEEPONFAIL,
  HCONDINDEPENDENT,
  HCONDKEEPONEMPTY,
  HCONDNOWAIT,
  HENTITYKEEPONDEATH,
  HREARMAFTERRESTART,
} from "../../../lib/core/flags.ts";
import { memoryLogger } from "../../../lib/os/logger.ts";
import type { Condition, ExitStatus, HeartbeatSpec } from "../../../lib/core/model.ts";
import { GLOBAL_ENTITY } from "../../../lib/core/names.ts";
import { FakeClock, flush } from "../../support/fake_clock.ts";
import { FakeProcesses } from "../../support/fake_processes.ts";
import { fullDisk, MemoryStore } from "../../support/memory_store.ts";
import { P, Tree } from "../../support/tree.ts";

// ---------------------------------------------------------------------------
// Harness

interface Harness {
  clock: FakeClock;
  procs: FakeProcesses;
  store: MemoryStore;
  tree: Tree;
  engine: Engine;
  events: EventBody[];
  notified: Array<{ channel: string; message: Record<string, unknown> }>;
  log: ReturnType<typeof memoryLogger>;
}

/** The conditions fired so far, from the journaled `fire` records. */
function firedRuns(h: { store: MemoryStore }): Array<{ owner: string; condition: string }> {
  return h.store.recordsOf("fire").flatMap((r) => r.runs);
}

function setup(opts: { notifyOk?: boolean } = {}): Harness {
  const clock = new FakeClock(0);
  const procs = new FakeProcesses(clock);
  const store = new MemoryStore();
  const events: EventBody[] = [];
  const notified: Harness["notified"] = [];
  const log = memoryLogger(9);
  const engine = new Engine({
    store,
    processes: procs,
    clock,
    log,
    emit: (ev) => events.push(ev),
    notify: (channel, message) => {
      notified.push({ channel, message });
      return opts.notifyOk ?? true;
    },
  });
  return { clock, procs, store, tree: new Tree(store), engine, events, notified, log };
}

/** Lets every started handler and list finish (only when no fake sleep is pending). */
async function settle(h: Harness): Promise<void> {
  await flush();
  await h.engine.idle();
  await flush();
}

const HB: HeartbeatSpec = { periodMs: 10, low: 2, high: 4 };
/** A restart policy without backoff or limit (the default one has both). */
const UNLIMITED = { ...POLICY_DEFAULTS, backoffMs: 0, intensity: 0 };

function spec(entity: string, extra: Partial<AttachSpec> = {}): AttachSpec {
  return {
    entity,
    argv: [`${entity}-server`],
    pid: null,
    cwd: null,
    env: null,
    flags: 0,
    heartbeat: null,
    ...extra,
  };
}

async function attach(h: Harness, entity: string, extra: Partial<AttachSpec> = {}) {
  return (await h.engine.attach(spec(entity, extra))).pid;
}

const EXIT1: ExitStatus = { code: 1, signal: null };
const SEGV: ExitStatus = { code: null, signal: "SIGSEGV" };
const TERM: ExitStatus = { code: null, signal: "SIGTERM" };

function cond(h: Harness, entity: string, name: string): Condition | undefined {
  return h.store.state.entities.get(entity)?.conditions.get(name);
}

function actionNames(c: Condition | undefined): string[] | undefined {
  return c?.actions.map((a) => a.name);
}

function autoRemoved(h: Harness, entity: string, condition: string): string[] {
  return h.store.recordsOf("action-remove")
    .filter((r) => r.auto && r.entity === entity && r.condition === condition)
    .map((r) => r.action);
}

function flagLabel(name: string): string {
  return name === "none" ? "no flags" : `[${name}]`;
}

// ---------------------------------------------------------------------------
// Matrix 1: condition type × condition flags × action outcome

const CONDITION_FLAGS: ReadonlyArray<[string, number]> = [
  ["none", 0],
  ["rearm", HREARMAFTERRESTART],
  ["nowait", HCONDNOWAIT],
  ["independent", HCONDINDEPENDENT],
  ["keep-on-empty", HCONDKEEPONEMPTY],
];

type Outcome =
  | "succeeds"
  | "fails"
  | "fails with keep-on-fail"
  | "fails with break-on-fail"
  | "fails with an action-fail list";

const OUTCOMES: readonly Outcome[] = [
  "succeeds",
  "fails",
  "fails with keep-on-fail",
  "fails with break-on-fail",
  "fails with an action-fail list",
];

function outcomeFlags(o: Outcome): number {
  return o === "fails with keep-on-fail"
    ? HACTIONKEEPONFAIL
    : o === "fails with break-on-fail"
    ? HACTIONBREAKONFAIL
    : 0;
}

interface Trigger {
  /** How the case is named. */
  label: string;
  type: ConditionType;
  heartbeat?: HeartbeatSpec;
  /** The conditions are added to a placeholder, and the attach is the event. */
  placeholder?: boolean;
  /** A non-rearmed condition of this kind is pruned at the restart, before it can fire. */
  pruned?: (flags: number) => boolean;
  /** The entity no longer exists afterwards. */
  gone?: boolean;
  /** Extra tree set up before the condition under test. */
  prepare?: (h: Harness) => void;
  /** Makes the event happen; `pid` is the entity's process (null for a placeholder). */
  fire: (h: Harness, pid: number | null) => Promise<void> | void;
}

const TRIGGERS: readonly Trigger[] = [
  { label: "death", type: "death", fire: (h, pid) => h.procs.kill(pid!, EXIT1) },
  {
    label: "abnormal-death",
    type: "abnormal-death",
    fire: (h, pid) => h.procs.kill(pid!, SEGV),
  },
  {
    label: "death by SIGSEGV",
    type: "death",
    fire: (h, pid) => h.procs.kill(pid!, SEGV),
  },
  {
    label: "detach",
    type: "detach",
    gone: true,
    fire: async (h) => void await h.engine.detach("web"),
  },
  {
    label: "attach on a placeholder",
    type: "attach",
    placeholder: true,
    fire: async (h) => void await attach(h, "web", { flags: HENTITYKEEPONDEATH }),
  },
  {
    label: "restart",
    type: "restart",
    pruned: (flags) => (flags & HREARMAFTERRESTART) === 0,
    prepare: (h) =>
      h.tree.condition("web/respawn", "death", HREARMAFTERRESTART)
        .action("web/respawn/restart", P.restart(), HREARMAFTERRESTART),
    fire: (h, pid) => h.procs.kill(pid!, EXIT1),
  },
  { label: "any (on a death)", type: "any", fire: (h, pid) => h.procs.kill(pid!, EXIT1) },
  {
    label: "state",
    type: "state",
    fire: async (h) => void await h.engine.publishState("web", 5),
  },
  {
    label: "raise",
    type: "raise",
    fire: async (h) => void await h.engine.raise("web", { rtype: 1, rclass: 7, rseverity: 3 }),
  },
  {
    label: "hb-missed-low",
    type: "hb-missed-low",
    heartbeat: HB,
    fire: async (h) => {
      await h.clock.advance(20);
      h.engine.stop();
    },
  },
  {
    label: "hb-missed-high",
    type: "hb-missed-high",
    heartbeat: HB,
    fire: async (h) => {
      await h.clock.advance(40);
      h.engine.stop();
    },
  },
];

function matchFor(type: ConditionType) {
  return type === "state" ? { from: 0, to: 5 } : type === "raise" ? { rtype: 1 } : {};
}

interface Expected {
  fired: boolean;
  runs: string[];
  removed: string[];
  /** The condition's actions afterwards; null when the condition is gone. */
  left: string[] | null;
  summary: string;
}

function expected(t: Trigger, flags: number, o: Outcome): Expected {
  if (t.pruned?.(flags)) {
    // A non-rearmed restart condition fires once, for the restart that prunes it.
    return {
      fired: true,
      runs: o === "fails with break-on-fail"
        ? ["first"]
        : o === "fails with an action-fail list"
        ? ["first", "first-fallback", "second", "second-fallback"]
        : ["first", "second"],
      removed: [],
      left: null,
      summary: "fires once for the restart that prunes it",
    };
  }
  const keepEmpty = (flags & HCONDKEEPONEMPTY) !== 0;
  switch (o) {
    case "succeeds":
      return {
        fired: true,
        runs: ["first", "second"],
        removed: [],
        left: ["first", "second"],
        summary: "runs both actions FIFO and keeps them",
      };
    case "fails with keep-on-fail":
      return {
        fired: true,
        runs: ["first", "second"],
        removed: [],
        left: ["first", "second"],
        summary: "runs both actions FIFO and keeps them",
      };
    case "fails with break-on-fail":
      return {
        fired: true,
        runs: ["first"],
        removed: ["first"],
        left: ["second"],
        summary: "stops after the first action and removes it",
      };
    case "fails":
    case "fails with an action-fail list":
      return {
        fired: true,
        runs: o === "fails"
          ? ["first", "second"]
          : ["first", "first-fallback", "second", "second-fallback"],
        removed: ["first", "second"],
        left: keepEmpty ? [] : null,
        summary: `${
          o === "fails" ? "runs both actions" : "runs each action-fail list"
        }, removes the actions and ${
          keepEmpty ? "keeps the empty condition" : "the emptied condition"
        }`,
      };
  }
}

for (const t of TRIGGERS) {
  for (const [flagName, flags] of CONDITION_FLAGS) {
    for (const o of OUTCOMES) {
      const want = expected(t, flags, o);
      Deno.test(
        `Engine runs "${t.label}" with ${
          flagLabel(flagName)
        } when the action ${o}: ${want.summary}`,
        async () => {
          const h = setup();
          let pid: number | null = null;
          if (t.placeholder) h.tree.entity("web", HENTITYKEEPONDEATH);
          else pid = await attach(h, "web", { flags: HENTITYKEEPONDEATH, heartbeat: t.heartbeat });
          t.prepare?.(h);
          const aflags = outcomeFlags(o);
          h.tree.condition("web/cond", t.type, flags, matchFor(t.type))
            .action("web/cond/first", P.exec("first"), aflags)
            .action("web/cond/second", P.exec("second"), aflags);
          if (o === "fails with an action-fail list") {
            h.tree.fail("web/cond/first", "fallback", P.exec("first-fallback"))
              .fail("web/cond/second", "fallback", P.exec("second-fallback"));
          }
          if (o !== "succeeds") {
            h.procs.runResult.set("first", 1);
            h.procs.runResult.set("second", 1);
          }

          await t.fire(h, pid);
          await settle(h);

          assert.deepEqual(h.procs.runs, want.runs);
          for (const run of h.procs.callsOf("run")) {
            assert.equal(run.env.HAM_ENTITY, "web");
            assert.equal(run.env.HAM_CONDITION, "cond");
          }
          const fired = firedRuns(h).filter((r) => r.condition === "cond");
          assert.equal(fired.length, want.fired ? 1 : 0);
          assert.deepEqual(autoRemoved(h, "web", "cond"), want.removed);
          if (t.gone) {
            assert.equal(h.store.state.entities.has("web"), false);
          } else {
            const c = cond(h, "web", "cond");
            assert.deepEqual(actionNames(c) ?? null, want.left);
            if (c) assert.equal(c.fired, 1);
          }
          assert.deepEqual(h.store.replay(), h.store.state);
        },
      );
    }
  }
}

// ---------------------------------------------------------------------------
// Matrix 2: death condition × condition flags × restart outcome

const DEATHS: ReadonlyArray<{ label: string; type: ConditionType; exit: ExitStatus }> = [
  { label: "death", type: "death", exit: EXIT1 },
  { label: "abnormal-death", type: "abnormal-death", exit: SEGV },
];

for (const d of DEATHS) {
  for (const [flagName, flags] of CONDITION_FLAGS) {
    for (const o of OUTCOMES) {
      const rearmed = (flags & HREARMAFTERRESTART) !== 0;
      const summary = o === "succeeds"
        ? `restarts, raises restart and ${
          rearmed ? "keeps the condition with only its rearmed action" : "prunes the condition"
        }`
        : o === "fails with break-on-fail"
        ? "skips the rest of the list and removes the entity"
        : o === "fails with an action-fail list"
        ? "runs the action-fail list and removes the entity"
        : o === "fails with keep-on-fail"
        ? "keeps the restart action and removes the entity"
        : "removes the restart action and the entity";
      Deno.test(
        `Engine runs "${d.label}" with ${flagLabel(flagName)} when restart ${o}: ${summary}`,
        async () => {
          const h = setup();
          const pid = await attach(h, "web");
          h.tree.condition("web/cond", d.type, flags)
            .action("web/cond/restart", P.restart(), HREARMAFTERRESTART | outcomeFlags(o))
            .action("web/cond/after", P.exec("after"))
            .condition("web/on-restart", "restart", HREARMAFTERRESTART)
            .action("web/on-restart/restarted", P.exec("restarted"));
          if (o === "fails with an action-fail list") {
            h.tree.fail("web/cond/restart", "fallback", P.exec("restart-fallback"));
          }
          if (o !== "succeeds") h.procs.failSpawn = true;

          h.procs.kill(pid, d.exit);
          await settle(h);

          const spawns = h.procs.callsOf("spawn");
          assert.equal(spawns.length, 2);
          assert.deepEqual(spawns[1].argv, ["web-server"]);
          if (o === "succeeds") {
            const e = h.store.state.entities.get("web")!;
            assert.equal(e.pid, spawns[1].pid);
            assert.equal(e.restarts, 1);
            assert.equal(e.deaths, 1);
            assert.deepEqual([...h.procs.runs].sort(), ["after", "restarted"]);
            // FIFO: the rest of the death list runs after the restart, though pruned.
            const fx = h.procs.effects;
            assert.ok(fx.indexOf("run after") > fx.lastIndexOf("spawn web-server"));
            assert.equal(h.store.recordsOf("restart").length, 1);
            assert.equal(h.store.recordsOf("remove").length, 0);
            assert.deepEqual(
              actionNames(cond(h, "web", "cond")) ?? null,
              rearmed ? ["restart"] : null,
            );
            assert.equal(cond(h, "web", "on-restart")!.fired, 1);
            assert.ok(h.events.some((ev) => ev.type === "restart" && ev.entity === "web"));
          } else {
            const runs = o === "fails with break-on-fail"
              ? []
              : o === "fails with an action-fail list"
              ? ["restart-fallback", "after"]
              : ["after"];
            assert.deepEqual(h.procs.runs, runs);
            assert.deepEqual(
              autoRemoved(h, "web", "cond"),
              o === "fails with keep-on-fail" ? [] : ["restart"],
            );
            assert.equal(h.store.recordsOf("restart").length, 0);
            assert.equal(h.store.state.entities.has("web"), false);
            assert.equal(h.store.recordsOf("remove").length, 1);
          }
          assert.deepEqual(h.store.replay(), h.store.state);
        },
      );
    }
  }
}

// ---------------------------------------------------------------------------
// Execution order (QNX §5.1)

Deno.test("runCondition() runs actions FIFO in insertion order when they are of different kinds", async () => {
  const h = setup();
  const pid = await attach(h, "web");
  h.tree.condition("web/c", "raise")
    .action("web/c/a", P.exec("a"))
    .action("web/c/sig", P.signal(10))
    .action("web/c/wait", P.waitfor(5))
    .action("web/c/log", P.log("hello"))
    .action("web/c/b", P.exec("b"))
    .action("web/c/tell", P.notify("ops"));
  await h.engine.raise("web", { rtype: 1, rclass: 1, rseverity: 1 });
  await flush();
  assert.deepEqual(h.procs.effects, ["spawn web-server", "run a", `signal ${pid} 10`]);
  await h.clock.advance(5);
  await settle(h);
  assert.deepEqual(h.procs.effects, ["spawn web-server", "run a", `signal ${pid} 10`, "run b"]);
  assert.deepEqual(h.procs.timedRuns, ["a@0", "b@5"]);
  assert.equal(h.notified.length, 1);
  assert.equal(h.notified[0].channel, "ops");
  assert.deepEqual(
    h.store.recordsOf("result").map((r) => r.action),
    ["a", "sig", "wait", "log", "b", "tell"],
  );
});

Deno.test("Engine.fire() does not delay a nowait condition when a waitfor holds the other lane", async () => {
  const h = setup();
  const pid = await attach(h, "web", { flags: HENTITYKEEPONDEATH });
  h.tree.condition("web/slow", "death")
    .action("web/slow/wait", P.waitfor(1000))
    .action("web/slow/done", P.exec("slow-done"))
    .condition("web/fast", "death", HCONDNOWAIT)
    .action("web/fast/done", P.exec("fast-done"));
  h.procs.kill(pid, EXIT1);
  await flush();
  assert.deepEqual(h.procs.timedRuns, ["fast-done@0"]);
  await h.clock.advance(1000);
  await settle(h);
  assert.deepEqual(h.procs.timedRuns, ["fast-done@0", "slow-done@1000"]);
});

Deno.test("Engine.fire() runs other-lane conditions FIFO when the first one is in a waitfor", async () => {
  const h = setup();
  const pid = await attach(h, "web", { flags: HENTITYKEEPONDEATH });
  h.tree.condition("web/slow", "death")
    .action("web/slow/wait", P.waitfor(1000))
    .action("web/slow/done", P.exec("slow-done"))
    .condition("web/next", "death")
    .action("web/next/done", P.exec("next-done"));
  h.procs.kill(pid, EXIT1);
  await flush();
  assert.deepEqual(h.procs.runs, []);
  await h.clock.advance(1000);
  await settle(h);
  assert.deepEqual(h.procs.timedRuns, ["slow-done@1000", "next-done@1000"]);
});

Deno.test("Engine.fire() runs independent conditions concurrently when each one waits", async () => {
  const h = setup();
  const pid = await attach(h, "web", { flags: HENTITYKEEPONDEATH });
  h.tree.condition("web/a", "death", HCONDINDEPENDENT)
    .action("web/a/wait", P.waitfor(100))
    .action("web/a/done", P.exec("a-done"))
    .condition("web/b", "death", HCONDINDEPENDENT)
    .action("web/b/wait", P.waitfor(60))
    .action("web/b/done", P.exec("b-done"));
  h.procs.kill(pid, EXIT1);
  await h.clock.advance(100);
  await settle(h);
  assert.deepEqual(h.procs.timedRuns, ["b-done@60", "a-done@100"]);
});

Deno.test("Engine.fire() runs the nowait lane FIFO across conditions when both fire", async () => {
  const h = setup();
  h.procs.gate("one");
  const pid = await attach(h, "web", { flags: HENTITYKEEPONDEATH });
  h.tree.condition("web/one", "death", HCONDNOWAIT)
    .action("web/one/x", P.exec("one"))
    .condition("web/two", "death", HCONDNOWAIT | HCONDINDEPENDENT)
    .action("web/two/x", P.exec("two"));
  h.procs.kill(pid, EXIT1);
  await flush();
  assert.deepEqual(h.procs.runs, ["one"]);
  h.procs.release("one");
  await settle(h);
  assert.deepEqual(h.procs.runs, ["one", "two"]);
});

Deno.test("A death with nothing before it fires its conditions in the turn its exit is learnt in", async () => {
  const h = setup();
  const pid = await attach(h, "web", { flags: HENTITYKEEPONDEATH });
  h.tree.condition("web/died", "death")
    .action("web/died/x", P.exec("died"))
    .condition("web/fast", "death", HCONDNOWAIT)
    .action("web/fast/x", P.exec("fast"));
  await settle(h);
  const before = h.events.length;
  h.procs.kill(pid, EXIT1);
  // No await: the exit's callback, the death's queue (idle), the journal (written at once)
  // and both lanes (idle) run in this turn: nothing else queued in it comes first.
  const fired = h.events.slice(before).map((e) => [e.type, e.condition ?? null]);
  assert.deepEqual(fired, [["death", null], ["condition", "web/died"], ["condition", "web/fast"]]);
  await settle(h);
  assert.deepEqual(h.procs.runs.sort(), ["died", "fast"]);
});

Deno.test("A restart the policy allows now, with nothing left behind, spawns in the turn the exit is learnt in", async () => {
  const h = setup();
  const pid = await attach(h, "web");
  h.tree.condition("web/died", "death")
    .action("web/died/again", { kind: "restart", argv: null, policy: UNLIMITED });
  await settle(h);
  h.procs.kill(pid, EXIT1);
  // No await: the look for leftovers the restart needs first is made at once.
  assert.equal(h.procs.callsOf("spawn").length, 2, "spawned again in this turn");
  assert.equal(h.procs.callsOf("leftovers").length, 1, "looked once, before the spawn");
  await settle(h);
  assert.equal(h.procs.callsOf("leftovers").length, 1, "and not again after");
  assert.notEqual(h.store.state.entities.get("web")?.pid, pid);
  const spawns = h.procs.callsOf("spawn") as Array<{ opts: { yieldCpu?: boolean } }>;
  assert.deepEqual(
    spawns.map((c) => c.opts.yieldCpu ?? false),
    [false, true],
    "the restart's spawn hands the CPU to the new process; the attach's does not",
  );
});

// ---------------------------------------------------------------------------
// Failure handling (QNX §5.1)

Deno.test("runCondition() runs the action-fail list each time when a keep-on-fail action keeps failing", async () => {
  const h = setup();
  await attach(h, "web");
  h.procs.runResult.set("flaky", 1);
  h.tree.condition("web/c", "raise")
    .action("web/c/flaky", P.exec("flaky"), HACTIONKEEPONFAIL)
    .fail("web/c/flaky", "f1", P.exec("fallback"))
    .fail("web/c/flaky", "f2", P.log("flaky failed"));
  for (let i = 0; i < 3; i++) {
    await h.engine.raise("web", { rtype: 1, rclass: 0, rseverity: 0 });
    await settle(h);
  }
  assert.deepEqual(h.procs.runs, ["flaky", "fallback", "flaky", "fallback", "flaky", "fallback"]);
  const a = cond(h, "web", "c")!.actions[0];
  assert.equal(a.runs, 3);
  assert.equal(a.failures, 3);
  assert.deepEqual(a.fails.map((f) => [f.name, f.runs, f.failures]), [["f1", 3, 0], ["f2", 3, 0]]);
});

Deno.test("runCondition() does not run the action-fail list when the action succeeds", async () => {
  const h = setup();
  await attach(h, "web");
  h.tree.condition("web/c", "raise")
    .action("web/c/ok", P.exec("ok"))
    .fail("web/c/ok", "f", P.exec("fallback"));
  await h.engine.raise("web", { rtype: 1, rclass: 0, rseverity: 0 });
  await settle(h);
  assert.deepEqual(h.procs.runs, ["ok"]);
});

Deno.test("runCondition() counts a failing action-fail item when it fails too", async () => {
  const h = setup();
  await attach(h, "web");
  h.procs.runResult.set("bad", 1);
  h.procs.runResult.set("worse", 2);
  h.tree.condition("web/c", "raise", HCONDKEEPONEMPTY)
    .action("web/c/bad", P.exec("bad"))
    .fail("web/c/bad", "f", P.exec("worse"));
  await h.engine.raise("web", { rtype: 1, rclass: 0, rseverity: 0 });
  await settle(h);
  assert.deepEqual(h.procs.runs, ["bad", "worse"]);
  const results = h.store.recordsOf("result").map((r) => [r.action, r.fail, r.ok]);
  assert.deepEqual(results, [["bad", null, false], ["bad", "f", false]]);
  assert.deepEqual(actionNames(cond(h, "web", "c")), []);
});

Deno.test("runCondition() skips a disabled action when its condition fires", async () => {
  const h = setup();
  await attach(h, "web");
  h.tree.condition("web/c", "raise")
    .action("web/c/a", P.exec("a"))
    .action("web/c/b", P.exec("b"))
    .control("web/c/a", "disable");
  await h.engine.raise("web", { rtype: 1, rclass: 0, rseverity: 0 });
  await settle(h);
  assert.deepEqual(h.procs.runs, ["b"]);
  // Skipped, not run: its count does not move (QNX: a disabled action is skipped).
  const actions = h.store.state.entities.get("web")!.conditions.get("c")!.actions;
  assert.deepEqual(actions.map((a) => [a.name, a.runs]), [["a", 0], ["b", 1]]);
});

Deno.test("Engine.fire() runs nothing when the condition is disabled", async () => {
  const h = setup();
  await attach(h, "web");
  h.tree.condition("web/c", "raise").action("web/c/a", P.exec("a")).control("web/c", "disable");
  await h.engine.raise("web", { rtype: 1, rclass: 0, rseverity: 0 });
  await settle(h);
  assert.deepEqual(h.procs.runs, []);
  assert.equal(firedRuns(h).length, 0);
});

Deno.test("runAction() succeeds a waitfor when the path appears before the delay", async () => {
  const h = setup();
  await attach(h, "web");
  h.tree.condition("web/c", "raise")
    .action("web/c/wait", P.waitfor(100, "/run/web.sock"))
    .action("web/c/next", P.exec("next"));
  await h.engine.raise("web", { rtype: 1, rclass: 0, rseverity: 0 });
  await h.clock.advance(30);
  h.procs.addPath("/run/web.sock");
  await settle(h);
  assert.deepEqual(h.procs.timedRuns, ["next@30"]);
  assert.deepEqual(autoRemoved(h, "web", "c"), []);
  assert.equal(h.clock.pending, 0);
});

Deno.test("runAction() fails a waitfor when the path has not appeared by the end of the delay", async () => {
  const h = setup();
  await attach(h, "web");
  h.tree.condition("web/c", "raise")
    .action("web/c/wait", P.waitfor(100, "/run/web.sock"))
    .fail("web/c/wait", "f", P.exec("no-socket"))
    .action("web/c/next", P.exec("next"));
  await h.engine.raise("web", { rtype: 1, rclass: 0, rseverity: 0 });
  await h.clock.advance(99);
  assert.deepEqual(h.procs.runs, []);
  await h.clock.advance(1);
  await settle(h);
  assert.deepEqual(h.procs.timedRuns, ["no-socket@100", "next@100"]);
  assert.deepEqual(autoRemoved(h, "web", "c"), ["wait"]);
});

Deno.test("runAction() succeeds a waitfor at once when the path already exists", async () => {
  const h = setup();
  await attach(h, "web");
  h.procs.paths.add("/etc/ready");
  h.tree.condition("web/c", "raise")
    .action("web/c/wait", P.waitfor(100, "/etc/ready"))
    .action("web/c/next", P.exec("next"));
  await h.engine.raise("web", { rtype: 1, rclass: 0, rseverity: 0 });
  await settle(h);
  assert.deepEqual(h.procs.timedRuns, ["next@0"]);
});

Deno.test("runAction() fails a signal action when the entity has no process", async () => {
  const h = setup();
  const pid = await attach(h, "web", { flags: HENTITYKEEPONDEATH });
  h.tree.condition("web/c", "death", HCONDKEEPONEMPTY).action("web/c/kill", P.signal(15));
  h.procs.kill(pid, EXIT1);
  await settle(h);
  assert.equal(h.procs.callsOf("signal").length, 0);
  assert.deepEqual(autoRemoved(h, "web", "c"), ["kill"]);
});

Deno.test("runAction() signals the entity's process with its start time when the pid is not given", async () => {
  const h = setup();
  const pid = await attach(h, "web");
  h.tree.condition("web/c", "raise").action("web/c/hup", P.signal(1));
  await h.engine.raise("web", { rtype: 1, rclass: 0, rseverity: 0 });
  await settle(h);
  const [s] = h.procs.callsOf("signal");
  assert.deepEqual([s.pid, s.signal, s.startTime], [pid, 1, `st-${pid}`]);
});

Deno.test("runAction() fails a signal action when the process is gone", async () => {
  const h = setup();
  await attach(h, "web");
  h.tree.condition("web/c", "raise", HCONDKEEPONEMPTY).action("web/c/usr1", P.signal(10, 4242));
  await h.engine.raise("web", { rtype: 1, rclass: 0, rseverity: 0 });
  await settle(h);
  assert.deepEqual(autoRemoved(h, "web", "c"), ["usr1"]);
});

Deno.test("runAction() fails an execute action when its command cannot be spawned", async () => {
  const h = setup();
  await attach(h, "web");
  h.procs.runResult.set("missing", new HamError("ENOENT", 'Cannot spawn "missing": no such file'));
  h.tree.condition("web/c", "raise", HCONDKEEPONEMPTY).action("web/c/x", P.exec("missing"));
  await h.engine.raise("web", { rtype: 1, rclass: 0, rseverity: 0 });
  await settle(h);
  assert.deepEqual(autoRemoved(h, "web", "c"), ["x"]);
});

Deno.test("runAction() fails an execute action when its command is killed by a signal", async () => {
  const h = setup();
  await attach(h, "web");
  h.procs.runResult.set("crashy", { code: null, signal: "SIGKILL" });
  h.tree.condition("web/c", "raise", HCONDKEEPONEMPTY).action("web/c/x", P.exec("crashy"));
  await h.engine.raise("web", { rtype: 1, rclass: 0, rseverity: 0 });
  await settle(h);
  assert.deepEqual(autoRemoved(h, "web", "c"), ["x"]);
});

/** An execute action of `argv` with a time limit (absent: the default one). */
function execFor(timeoutMs: number | undefined, ...argv: string[]) {
  return { ...P.exec(...argv), ...(timeoutMs === undefined ? {} : { timeoutMs }) };
}

Deno.test("runAction() ends an execute past its time limit with SIGTERM and fails it with ETIMEDOUT", async () => {
  const h = setup();
  await attach(h, "web");
  h.procs.gate("hang");
  h.tree.condition("web/c", "raise", HCONDKEEPONEMPTY)
    .action("web/c/x", execFor(100, "hang"))
    .fail("web/c/x", "tell", P.exec("tell"))
    .action("web/c/next", P.exec("next"));
  await h.engine.raise("web", { rtype: 1, rclass: 0, rseverity: 0 });
  await h.clock.advance(99);
  assert.deepEqual(h.procs.callsOf("signal"), []);
  await h.clock.advance(1);
  await settle(h);
  const [run] = h.procs.callsOf("run");
  assert.deepEqual(h.procs.callsOf("signal").map((c) => [c.pid, c.signal]), [[50_000, 15]]);
  assert.deepEqual(h.procs.timedRuns, ["hang@0", "tell@100", "next@100"]);
  assert.deepEqual(autoRemoved(h, "web", "c"), ["x"]);
  const ev = h.events.find((e) => e.type === "action" && e.action === "x");
  assert.deepEqual(ev?.detail, { kind: "execute", ok: false, error: "ETIMEDOUT" });
  assert.match(run.env.HAM_SPAWN_ID, /^.+:0\/execute$/);
  assert.ok(h.log.lines.some((l) => /Action "web\/c\/x" failed: ETIMEDOUT: "hang"/.test(l)));
  assert.equal(h.clock.pending, 0);
});

Deno.test("runAction() sends SIGKILL to an execute that ignores SIGTERM, after executeStopTimeoutMs", async () => {
  const h = setup();
  await attach(h, "web");
  h.procs.gate("stubborn");
  h.procs.termIgnored.add("stubborn");
  h.tree.condition("web/c", "raise", HCONDKEEPONEMPTY)
    .action("web/c/x", execFor(100, "stubborn"))
    .fail("web/c/x", "tell", P.exec("tell"));
  await h.engine.raise("web", { rtype: 1, rclass: 0, rseverity: 0 });
  await h.clock.advance(100);
  await flush();
  // What the command forked, found by its marker: ended with it.
  const marker = h.procs.callsOf("run")[0].env.HAM_SPAWN_ID;
  h.procs.addLeftovers(marker, [7001]);
  await h.clock.advance(DEFAULTS.executeStopTimeoutMs - 1);
  assert.deepEqual(h.procs.runs, ["stubborn"], "the fail list waits for the command's end");
  await h.clock.advance(1);
  await settle(h);
  assert.deepEqual(
    h.procs.callsOf("signal").map((c) => `${c.pid} ${c.signal}@${c.at}`),
    [
      "50000 15@100",
      `50000 9@${100 + DEFAULTS.executeStopTimeoutMs}`,
      `7001 9@${100 + DEFAULTS.executeStopTimeoutMs}`,
    ],
  );
  assert.deepEqual(h.procs.timedRuns, [
    "stubborn@0",
    `tell@${100 + DEFAULTS.executeStopTimeoutMs}`,
  ]);
});

Deno.test("runAction() gives an execute without a time limit of its own DEFAULTS.executeTimeoutMs, and 0 none", async () => {
  const h = setup();
  await attach(h, "web");
  h.procs.gate("slow");
  h.procs.gate("forever");
  h.tree.condition("web/c", "raise", HCONDKEEPONEMPTY | HCONDINDEPENDENT)
    .action("web/c/slow", execFor(undefined, "slow"));
  h.tree.condition("web/d", "raise", HCONDKEEPONEMPTY | HCONDINDEPENDENT)
    .action("web/d/forever", execFor(0, "forever"));
  await h.engine.raise("web", { rtype: 1, rclass: 0, rseverity: 0 });
  await h.clock.advance(DEFAULTS.executeTimeoutMs - 1);
  assert.deepEqual(h.procs.callsOf("signal"), []);
  await h.clock.advance(1);
  await flush();
  assert.deepEqual(h.procs.callsOf("signal").map((c) => [c.pid, c.signal]), [[50_000, 15]]);
  await h.clock.advance(DEFAULTS.maxDurationMs);
  assert.equal(h.procs.callsOf("signal").length, 1, "the execute without a limit is left alone");
  h.procs.release("forever");
  await settle(h);
  assert.deepEqual(autoRemoved(h, "web", "c"), ["slow"]);
  assert.deepEqual(autoRemoved(h, "web", "d"), []);
});

Deno.test("runAction() times out an execute of an action-fail list too, and marks it by its item", async () => {
  const h = setup();
  await attach(h, "web");
  h.procs.runResult.set("bad", 1);
  h.procs.gate("hang");
  h.tree.condition("web/c", "raise", HCONDKEEPONEMPTY)
    .action("web/c/x", P.exec("bad"))
    .fail("web/c/x", "cleanup", execFor(50, "hang"))
    .fail("web/c/x", "tell", P.exec("tell"));
  await h.engine.raise("web", { rtype: 1, rclass: 0, rseverity: 0 });
  await h.clock.advance(50);
  await settle(h);
  assert.deepEqual(h.procs.timedRuns, ["bad@0", "hang@0", "tell@50"]);
  assert.match(h.procs.callsOf("run")[1].env.HAM_SPAWN_ID, /:0\/fail\/cleanup$/);
  const ev = h.events.find((e) => e.type === "action-fail" && e.action === "x/cleanup");
  assert.deepEqual(ev?.detail, { kind: "execute", ok: false, error: "ETIMEDOUT" });
});

Deno.test("runAction() fails a notify action when the channel cannot be reached", async () => {
  const h = setup({ notifyOk: false });
  await attach(h, "web");
  h.tree.condition("web/c", "raise", HCONDKEEPONEMPTY).action("web/c/tell", P.notify("ops", 7, 9));
  await h.engine.raise("web", { rtype: 1, rclass: 0, rseverity: 0 });
  await settle(h);
  assert.deepEqual(h.notified[0].message, {
    code: 7,
    value: 9,
    entity: "web",
    condition: "web/c",
    action: "tell",
  });
  assert.deepEqual(autoRemoved(h, "web", "c"), ["tell"]);
});

Deno.test("runAction() never fails log and heartbeat-healthy actions when they run", async () => {
  const h = setup();
  await attach(h, "web");
  h.tree.condition("web/c", "raise")
    .action("web/c/log", P.log("x", 9))
    .action("web/c/ok", P.healthy());
  await h.engine.raise("web", { rtype: 1, rclass: 0, rseverity: 0 });
  await settle(h);
  assert.deepEqual(h.store.recordsOf("result").map((r) => r.ok), [true, true]);
  assert.deepEqual(actionNames(cond(h, "web", "c")), ["log", "ok"]);
});

Deno.test("runCondition() uses the list as it was when the condition fired when it is edited meanwhile", async () => {
  const h = setup();
  await attach(h, "web");
  h.tree.condition("web/c", "raise")
    .action("web/c/wait", P.waitfor(10))
    .action("web/c/a", P.exec("a"));
  await h.engine.raise("web", { rtype: 1, rclass: 0, rseverity: 0 });
  await flush();
  h.tree.action("web/c/late", P.exec("late"));
  await h.clock.advance(10);
  await settle(h);
  assert.deepEqual(h.procs.runs, ["a"]);
});

// ---------------------------------------------------------------------------
// Restart (QNX §5.2, §5.3)

function pruningTree(h: Harness): void {
  const R = HREARMAFTERRESTART;
  h.tree
    .condition("web/respawn", "death", R)
    .action("web/respawn/restart", P.restart(), R)
    .action("web/respawn/once", P.exec("once"))
    .action("web/respawn/always", P.exec("always"), R)
    .condition("web/transient", "death")
    .action("web/transient/x", P.exec("transient"), R)
    .condition("web/emptied", "death", R)
    .action("web/emptied/x", P.exec("emptied"))
    .condition("web/kept-empty", "death", R | HCONDKEEPONEMPTY)
    .action("web/kept-empty/x", P.exec("kept-empty"))
    .condition("web/never-had", "raise", R)
    .condition("web/raised", "raise", R)
    .action("web/raised/x", P.exec("raised"));
}

Deno.test("Engine.restart() prunes non-rearmed conditions and actions when the entity restarts", async () => {
  const h = setup();
  const pid = await attach(h, "web");
  pruningTree(h);
  h.procs.kill(pid, EXIT1);
  await settle(h);
  const e = h.store.state.entities.get("web")!;
  assert.deepEqual(
    [...e.conditions.values()].map((c) => [c.name, c.actions.map((a) => a.name)]),
    [
      ["respawn", ["restart", "always"]],
      ["kept-empty", []],
      ["never-had", []],
      ["raised", ["x"]], // QNX 7.1: rearmed by default outside death conditions
    ],
  );
  assert.deepEqual(h.store.replay(), h.store.state);
});

Deno.test("runCondition() runs the rest of the list after a restart when those actions are pruned", async () => {
  const h = setup();
  const pid = await attach(h, "web");
  pruningTree(h);
  h.procs.kill(pid, EXIT1);
  await settle(h);
  const fx = h.procs.effects;
  assert.ok(fx.indexOf("run once") > fx.lastIndexOf("spawn web-server"));
  assert.ok(fx.indexOf("run always") > fx.indexOf("run once"));
});

Deno.test("Engine.fire() runs every death condition that fired when an earlier one on the same lane restarts the entity", async () => {
  const h = setup();
  const pid = await attach(h, "web");
  pruningTree(h);
  h.procs.kill(pid, EXIT1);
  await settle(h);
  // All four death conditions were true at the death (QNX §5.1): each runs its list for
  // it, whatever the restart in "respawn" prunes for the next death.
  assert.deepEqual(
    [...h.procs.runs].sort(),
    ["always", "emptied", "kept-empty", "once", "transient"],
  );
  assert.deepEqual(
    firedRuns(h).map((r) => r.condition),
    ["respawn", "transient", "emptied", "kept-empty"],
  );
});

Deno.test("Engine.restart() is a no-op when the entity was already restarted for the same death", async () => {
  const h = setup();
  const pid = await attach(h, "web");
  h.tree.condition("web/respawn", "death", HREARMAFTERRESTART)
    .action("web/respawn/restart", P.restart(), HREARMAFTERRESTART)
    .condition(`${GLOBAL_ENTITY}/any-death`, "death", HREARMAFTERRESTART)
    .action(`${GLOBAL_ENTITY}/any-death/restart`, P.restart(), HREARMAFTERRESTART);
  h.procs.kill(pid, EXIT1);
  await settle(h);
  assert.equal(h.procs.callsOf("spawn").length, 2);
  assert.equal(h.store.recordsOf("restart").length, 1);
  assert.equal(h.store.state.entities.get("web")!.restarts, 1);
  assert.deepEqual(h.store.recordsOf("result").map((r) => [r.entity, r.ok]), [
    ["web", true],
    [GLOBAL_ENTITY, true],
  ]);
});

Deno.test("Engine.restart() is a no-op success when called twice for the same death", async () => {
  const h = setup();
  const pid = await attach(h, "web", { flags: HENTITYKEEPONDEATH });
  h.procs.kill(pid, EXIT1);
  await settle(h);
  assert.equal(await h.engine.restart("web", { kind: "restart", argv: null, policy: null }), true);
  assert.equal(await h.engine.restart("web", { kind: "restart", argv: null, policy: null }), true);
  await settle(h);
  assert.equal(h.procs.callsOf("spawn").length, 2);
  assert.equal(h.store.state.entities.get("web")!.restarts, 1);
});

Deno.test("Engine.restart() spawns the action's command when the restart action gives one", async () => {
  const h = setup();
  const pid = await attach(h, "web", { cwd: "/srv", env: { A: "1" } });
  h.tree.condition("web/respawn", "death", HREARMAFTERRESTART)
    .action("web/respawn/restart", P.restart(["web-server", "--safe"]), HREARMAFTERRESTART);
  h.procs.kill(pid, EXIT1);
  await settle(h);
  const spawns = h.procs.callsOf("spawn");
  assert.deepEqual(spawns[1].argv, ["web-server", "--safe"]);
  assert.equal(spawns[1].opts.cwd, "/srv");
  assert.deepEqual(spawns[1].opts.env, { A: "1" });
  assert.notEqual(spawns[1].opts.spawnId, spawns[0].opts.spawnId);
  assert.deepEqual(h.store.state.entities.get("web")!.argv, ["web-server", "--safe"]);
});

Deno.test("Engine.restart() journals the new command when the restart action gives one", async () => {
  const h = setup();
  const pid = await attach(h, "web");
  h.tree.condition("web/respawn", "death", HREARMAFTERRESTART)
    .action("web/respawn/restart", P.restart(["web-server", "--safe"]), HREARMAFTERRESTART);
  h.procs.kill(pid, EXIT1);
  await settle(h);
  // A replay (HAM restart, Guardian takeover) must see the command the entity now runs.
  assert.deepEqual(h.store.replay().entities.get("web")!.argv, ["web-server", "--safe"]);
});

Deno.test("Engine.restart() fails when the entity has no command", async () => {
  const h = setup();
  h.procs.addProcess(4242, { argv: null });
  await h.engine.attach(spec("legacy", { argv: null, pid: 4242 }));
  h.tree.condition("legacy/respawn", "death")
    .action("legacy/respawn/restart", P.restart())
    .fail("legacy/respawn/restart", "f", P.exec("page-operator"));
  h.procs.kill(4242, EXIT1);
  await settle(h);
  assert.deepEqual(h.procs.runs, ["page-operator"]);
  assert.equal(h.procs.callsOf("spawn").length, 0);
  assert.equal(h.store.state.entities.has("legacy"), false);
});

Deno.test("Engine.restart() resets the heartbeat health when the entity restarts", async () => {
  const h = setup();
  const pid = await attach(h, "web", { heartbeat: HB });
  h.tree.condition("web/respawn", "death", HREARMAFTERRESTART)
    .action("web/respawn/restart", P.restart(), HREARMAFTERRESTART);
  await h.clock.advance(40);
  assert.equal(h.store.state.entities.get("web")!.hbHealth, "missed-high");
  h.procs.kill(pid, EXIT1);
  await h.clock.advance(0);
  const e = h.store.state.entities.get("web")!;
  assert.deepEqual([e.hbHealth, e.hbMissed, e.restarts], ["healthy", 0, 1]);
  h.engine.stop();
  await settle(h);
});

// ---------------------------------------------------------------------------
// Deaths

Deno.test("Engine.handleExit() removes the entity when it dies and is not restarted", async () => {
  const h = setup();
  const pid = await attach(h, "web");
  h.procs.kill(pid, EXIT1);
  await settle(h);
  assert.equal(h.store.state.entities.has("web"), false);
  assert.deepEqual(h.store.records.slice(-3).map((r) => r.t), ["death", "fire", "remove"]);
  assert.ok(h.events.some((ev) => ev.type === "remove" && ev.entity === "web"));
});

Deno.test("Engine.handleExit() keeps the entity and its conditions when it has keep-on-death (0x2)", async () => {
  const h = setup();
  const pid = await attach(h, "web", { flags: 0x2 });
  h.tree.condition("web/c", "raise").action("web/c/a", P.exec("a"));
  h.procs.kill(pid, EXIT1);
  await settle(h);
  const e = h.store.state.entities.get("web")!;
  assert.deepEqual([e.pid, e.deaths, e.lastExit?.pid, e.lastExit?.code], [null, 1, pid, 1]);
  assert.deepEqual(actionNames(cond(h, "web", "c")), ["a"]);
  // A later attach under the same name fills the kept entity.
  const again = await attach(h, "web", { flags: 0x2 });
  assert.equal(h.store.state.entities.get("web")!.pid, again);
});

Deno.test("Engine.handleExit() fires abnormal-death and death when the process dies of SIGSEGV", async () => {
  const h = setup();
  const pid = await attach(h, "web", { flags: HENTITYKEEPONDEATH });
  h.tree.condition("web/died", "death").action("web/died/x", P.exec("died"))
    .condition("web/crashed", "abnormal-death").action("web/crashed/x", P.exec("crashed"));
  h.procs.kill(pid, SEGV);
  await settle(h);
  assert.deepEqual(h.procs.runs, ["died", "crashed"]);
  const ev = h.events.find((e) => e.type === "death")!;
  assert.equal(ev.detail?.abnormal, true);
});

Deno.test("Engine.handleExit() fires only death when the process dies of SIGTERM", async () => {
  const h = setup();
  const pid = await attach(h, "web", { flags: HENTITYKEEPONDEATH });
  h.tree.condition("web/died", "death").action("web/died/x", P.exec("died"))
    .condition("web/crashed", "abnormal-death").action("web/crashed/x", P.exec("crashed"));
  h.procs.kill(pid, TERM);
  await settle(h);
  assert.deepEqual(h.procs.runs, ["died"]);
});

Deno.test("Engine.handleExit() fires an any condition once when the death is abnormal", async () => {
  const h = setup();
  const pid = await attach(h, "web", { flags: HENTITYKEEPONDEATH });
  h.tree.condition("web/all", "any").action("web/all/x", P.exec("any"));
  h.procs.kill(pid, SEGV);
  await settle(h);
  assert.deepEqual(h.procs.runs, ["any"]);
});

Deno.test("Engine.handleExit() fires nothing and keeps the entity when the entity is disabled", async () => {
  const h = setup();
  const pid = await attach(h, "web");
  h.tree.condition("web/died", "death").action("web/died/x", P.exec("died"))
    .control("web", "disable");
  h.procs.kill(pid, EXIT1);
  await settle(h);
  assert.deepEqual(h.procs.runs, []);
  const e = h.store.state.entities.get("web")!;
  assert.deepEqual([e.pid, e.deaths], [null, 1]);
});

Deno.test("Engine.handleExit() follows the daemon when the command exits 0 leaving one behind", async () => {
  const h = setup();
  const pid = await attach(h, "web");
  h.tree.condition("web/died", "death").action("web/died/x", P.exec("died"));
  h.procs.addProcess(7777, { argv: ["web-server", "--daemon"] });
  h.procs.daemonPid = 7777;
  h.procs.kill(pid, { code: 0, signal: null });
  await settle(h);
  assert.deepEqual(h.procs.runs, []);
  assert.equal(h.store.state.entities.get("web")!.pid, 7777);
  assert.deepEqual(h.store.recordsOf("follow").map((r) => r.pid), [7777]);
  const [fd] = h.procs.callsOf("findDaemon");
  assert.equal(fd.spawnId, h.procs.callsOf("spawn")[0].opts.spawnId);
  h.procs.kill(7777, EXIT1);
  await settle(h);
  assert.deepEqual(h.procs.runs, ["died"]);
  assert.equal(h.store.state.entities.has("web"), false);
});

Deno.test("Engine.handleExit() treats an exit 0 as a death when no daemon is left", async () => {
  const h = setup();
  const pid = await attach(h, "web");
  h.tree.condition("web/died", "death").action("web/died/x", P.exec("died"));
  h.procs.kill(pid, { code: 0, signal: null });
  await settle(h);
  assert.deepEqual(h.procs.runs, ["died"]);
});

Deno.test("Engine.handleExit() ignores an exit when the pid is no longer the entity's", async () => {
  const h = setup();
  const pid = await attach(h, "web");
  h.tree.condition("web/died", "death").action("web/died/x", P.exec("died"));
  await h.engine.handleExit("web", pid + 1, EXIT1);
  await settle(h);
  assert.deepEqual(h.procs.runs, []);
  assert.equal(h.store.state.entities.get("web")!.pid, pid);
});

Deno.test("Engine.fire() runs @global conditions for any entity's death with the dying entity as subject", async () => {
  const h = setup();
  const web = await attach(h, "web", { flags: HENTITYKEEPONDEATH });
  const db = await attach(h, "db", { flags: HENTITYKEEPONDEATH });
  h.tree.condition("web/own", "death").action("web/own/x", P.exec("own"))
    .condition(`${GLOBAL_ENTITY}/anyone`, "death", HCONDKEEPONEMPTY)
    .action(`${GLOBAL_ENTITY}/anyone/x`, P.exec("global"), HACTIONKEEPONFAIL);
  h.procs.kill(web, EXIT1);
  await settle(h);
  h.procs.kill(db, SEGV);
  await settle(h);
  assert.deepEqual(
    h.procs.callsOf("run").map((r) => [r.argv[0], r.env.HAM_ENTITY, r.env.HAM_PID]),
    [["own", "web", String(web)], ["global", "web", String(web)], ["global", "db", String(db)]],
  );
  assert.equal(cond(h, GLOBAL_ENTITY, "anyone")!.fired, 2);
});

Deno.test("Engine.fire() restarts the dying entity when the restart action is on @global", async () => {
  const h = setup();
  const pid = await attach(h, "db");
  h.tree.condition(`${GLOBAL_ENTITY}/respawn`, "death", HREARMAFTERRESTART)
    .action(`${GLOBAL_ENTITY}/respawn/restart`, P.restart(), HREARMAFTERRESTART);
  h.procs.kill(pid, EXIT1);
  await settle(h);
  const spawns = h.procs.callsOf("spawn");
  assert.deepEqual(spawns.map((s) => s.argv[0]), ["db-server", "db-server"]);
  assert.equal(h.store.state.entities.get("db")!.pid, spawns[1].pid);
  assert.ok(cond(h, GLOBAL_ENTITY, "respawn"));
});

// ---------------------------------------------------------------------------
// do-now, attach, detach, state, raise

Deno.test("Engine.runNow() runs a do-now action once at registration and again on each trigger", async () => {
  const h = setup();
  await attach(h, "web");
  h.tree.condition("web/c", "raise").action("web/c/mount", P.exec("mount"), HACTIONDONOW);
  h.engine.runNow("web", "c", "mount");
  await settle(h);
  assert.deepEqual(h.procs.runs, ["mount"]);
  assert.equal(cond(h, "web", "c")!.actions[0].runs, 1);
  await h.engine.raise("web", { rtype: 1, rclass: 0, rseverity: 0 });
  await settle(h);
  assert.deepEqual(h.procs.runs, ["mount", "mount"]);
});

Deno.test("Engine.runNow() runs the fail list and removes a do-now action when it fails", async () => {
  const h = setup();
  await attach(h, "web");
  h.procs.runResult.set("mount", 1);
  h.tree.condition("web/c", "raise").action("web/c/mount", P.exec("mount"), HACTIONDONOW)
    .fail("web/c/mount", "warn", P.exec("warn"));
  h.engine.runNow("web", "c", "mount");
  await settle(h);
  assert.deepEqual(h.procs.runs, ["mount", "warn"]);
  assert.deepEqual(autoRemoved(h, "web", "c"), ["mount"]);
  assert.equal(cond(h, "web", "c"), undefined);
  const failEvents = h.events.filter((e) => e.type === "action-fail");
  assert.deepEqual(failEvents.map((e) => e.action), ["mount/warn"]);
});

Deno.test("Engine.runNow() keeps a failing do-now action when keep-on-fail", async () => {
  const h = setup();
  await attach(h, "web");
  h.procs.runResult.set("mount", 1);
  h.tree.condition("web/c", "raise")
    .action("web/c/mount", P.exec("mount"), HACTIONDONOW | HACTIONKEEPONFAIL)
    .fail("web/c/mount", "warn", P.exec("warn"));
  h.engine.runNow("web", "c", "mount");
  await settle(h);
  assert.deepEqual(h.procs.runs, ["mount", "warn"]);
  assert.deepEqual(autoRemoved(h, "web", "c"), []);
  assert.deepEqual(actionNames(cond(h, "web", "c")), ["mount"]);
  assert.equal(cond(h, "web", "c")!.actions[0].failures, 1);
});

Deno.test("Engine.runNow() does not run a do-now action when its condition or entity is disabled", async () => {
  const h = setup();
  await attach(h, "web");
  h.tree.condition("web/c", "raise").action("web/c/mount", P.exec("mount"), HACTIONDONOW)
    .control("web/c", "disable");
  h.engine.runNow("web", "c", "mount");
  h.tree.condition("web/d", "raise").action("web/d/mount", P.exec("mount"), HACTIONDONOW)
    .control("web", "disable");
  h.engine.runNow("web", "d", "mount");
  await settle(h);
  assert.deepEqual(h.procs.runs, []);
  assert.equal(cond(h, "web", "c")!.actions[0].runs, 0);
  assert.deepEqual(actionNames(cond(h, "web", "d")), ["mount"]);
});

Deno.test("Engine.attach() keeps the flags a placeholder holds when a process fills it", async () => {
  const h = setup();
  h.tree.entity("pk", HENTITYKEEPONDEATH);
  await attach(h, "pk");
  await settle(h);
  assert.equal(h.store.state.entities.get("pk")!.flags, HENTITYKEEPONDEATH);
  assert.equal(h.store.replay().entities.get("pk")!.flags, HENTITYKEEPONDEATH);
  h.procs.kill(h.store.state.entities.get("pk")!.pid!, EXIT1);
  await settle(h);
  assert.equal(h.store.state.entities.get("pk")?.pid, null, "kept after its death");
});

Deno.test("Engine.runNow() does nothing when the action does not exist", async () => {
  const h = setup();
  await attach(h, "web");
  h.engine.runNow("web", "nope", "nope");
  await settle(h);
  assert.deepEqual(h.procs.runs, []);
});

Deno.test("Engine.attach() fires attach when it fills a placeholder", async () => {
  const h = setup();
  h.tree.entity("web").condition("web/up", "attach").action("web/up/x", P.exec("up"));
  const pid = await attach(h, "web");
  await settle(h);
  assert.deepEqual(h.procs.runs, ["up"]);
  const e = h.store.state.entities.get("web")!;
  assert.deepEqual([e.kind, e.pid, e.spawned], ["attached", pid, true]);
});

Deno.test("Engine.attach() fires no attach when the entity is new", async () => {
  const h = setup();
  h.tree.condition(`${GLOBAL_ENTITY}/up`, "attach").action(`${GLOBAL_ENTITY}/up/x`, P.exec("up"));
  await attach(h, "web");
  await settle(h);
  assert.deepEqual(h.procs.runs, []);
});

Deno.test("Engine.attach() throws EEXIST when the name is in use", async () => {
  const h = setup();
  await attach(h, "web");
  await assert.rejects(() => attach(h, "web"), (e) => e instanceof HamError && e.code === "EEXIST");
  assert.equal(h.procs.callsOf("spawn").length, 1);
});

Deno.test("Engine.attach() throws EEXIST when two attaches of one name race", async () => {
  const h = setup();
  h.procs.addProcess(4242);
  const first = h.engine.attach(spec("web", { argv: null, pid: 4242 }));
  const second = h.engine.attach(spec("web"));
  await first;
  await assert.rejects(() => second, (e) => e instanceof HamError && e.code === "EEXIST");
});

Deno.test("Engine.attach() throws the spawn error when the command cannot be started", async () => {
  const h = setup();
  h.procs.failSpawn = true;
  await assert.rejects(() => attach(h, "web"), (e) => e instanceof HamError && e.code === "ENOENT");
  assert.equal(h.store.state.entities.has("web"), false);
  // The name is free again.
  h.procs.failSpawn = false;
  await attach(h, "web");
});

Deno.test("Engine.attach() throws ESRCH when the pid does not exist", async () => {
  const h = setup();
  await assert.rejects(
    () => h.engine.attach(spec("web", { argv: null, pid: 4242 })),
    (e) => e instanceof HamError && e.code === "ESRCH",
  );
  assert.equal(h.store.state.entities.has("web"), false);
});

Deno.test("Engine.attach() keeps the working directory it is given when it attaches a pid, for restarts", async () => {
  const h = setup();
  h.procs.addProcess(4242, { argv: ["/usr/sbin/inetd"], cwd: "/" });
  await h.engine.attach(spec("inetd", { argv: null, pid: 4242, cwd: "/srv/inetd" }));
  assert.equal(h.store.state.entities.get("inetd")!.cwd, "/srv/inetd");
  h.procs.addProcess(4243, { argv: ["/usr/sbin/other"], cwd: "/", foreign: true });
  await h.engine.attach(spec("other", { argv: null, pid: 4243, cwd: "/srv/other" }));
  assert.equal(h.store.state.entities.get("other")!.cwd, "/srv/other", "given by the caller");
});

Deno.test("Engine.attach() throws ESRCH and records nothing when the pid ends (or is reused) before its watch", async () => {
  const h = setup();
  const gone = (e: unknown) => e instanceof HamError && e.code === "ESRCH";
  // Described, then gone when the pidfd is opened: the watch throws, as the real one does
  // for a pid that ended or now names another process (start time).
  h.procs.addProcess(4242);
  h.procs.unwatchable.add(4242);
  await assert.rejects(() => h.engine.attach(spec("web", { argv: null, pid: 4242 })), gone);
  await assert.rejects(
    () => h.engine.attach(spec("me", { argv: null, pid: 4242, kind: "self" })),
    gone,
  );
  assert.deepEqual(h.store.recordsOf("attach"), []);
  assert.deepEqual(h.events.filter((ev) => ev.type === "attach"), []);
  // The name is free again.
  h.procs.addProcess(4343);
  assert.deepEqual(await h.engine.attach(spec("web", { argv: null, pid: 4343 })), {
    entity: "web",
    pid: 4343,
  });
});

Deno.test("Engine.attach() watches the process when attached by pid and its exit is a death", async () => {
  const h = setup();
  h.procs.addProcess(4242, { argv: ["/usr/sbin/inetd"], cwd: "/" });
  await h.engine.attach(spec("inetd", { argv: null, pid: 4242 }));
  const e = h.store.state.entities.get("inetd")!;
  assert.deepEqual([e.pid, e.startTime, e.argv, e.cwd, e.spawned], [
    4242,
    "st-4242",
    ["/usr/sbin/inetd"],
    "/",
    false,
  ]);
  h.tree.condition("inetd/died", "death").action("inetd/died/x", P.exec("died"));
  h.procs.kill(4242, EXIT1);
  await settle(h);
  assert.deepEqual(h.procs.runs, ["died"]);
});

Deno.test("Engine.attach() spawns nothing when the journal is full", async () => {
  const h = setup();
  h.store.failCommits = fullDisk();
  await assert.rejects(() => attach(h, "web"), (e) => e instanceof HamError && e.code === "ENOSPC");
  assert.equal(h.procs.callsOf("spawn").length, 0);
  assert.equal(h.store.state.entities.has("web"), false);
});

Deno.test("Engine.resume() ends a process whose attach was never acknowledged", async () => {
  const h = setup();
  h.store.commit([{ t: "attach-intent", entity: "web", spawnId: "sp-1" }]);
  h.procs.addProcess(900);
  h.procs.spawnedById.set("sp-1", 900);
  h.engine.resume();
  await settle(h);
  const [s] = h.procs.callsOf("signal");
  assert.equal(s.pid, 900);
  assert.equal(s.signal, 9);
  assert.deepEqual(h.store.state.pendingSpawns, []);
  assert.equal(h.store.state.entities.has("web"), false);
});

Deno.test("Engine.resume() ends the process of an abandoned attach that appears only later (forked, not yet exec'd)", async () => {
  const h = setup();
  h.store.commit([{ t: "attach-intent", entity: "web", spawnId: "sp-2" }]);
  h.engine.resume();
  await flush();
  assert.deepEqual(h.procs.callsOf("signal"), [], "nothing carries the marker yet");
  assert.deepEqual(h.store.state.pendingSpawns, []);
  // It execs now, with the marker: the next look finds and ends it.
  h.procs.addProcess(901);
  h.procs.spawnedById.set("sp-2", 901);
  await h.clock.advance(100);
  await flush();
  const [s] = h.procs.callsOf("signal");
  assert.equal(s?.pid, 901);
  assert.equal(s?.signal, 9);
  // The looks stop after abandonedSpawnLookMs.
  const looks = h.procs.callsOf("findSpawned").length;
  await h.clock.advance(DEFAULTS.abandonedSpawnLookMs * 2);
  await flush();
  assert.equal(h.procs.callsOf("findSpawned").length, looks, "found: no more looks");
});

Deno.test("Engine.resume() stops looking for an abandoned attach's process after abandonedSpawnLookMs", async () => {
  const h = setup();
  h.store.commit([{ t: "attach-intent", entity: "web", spawnId: "sp-3" }]);
  h.engine.resume();
  await flush();
  for (let t = 0; t < DEFAULTS.abandonedSpawnLookMs + 100; t += 50) await h.clock.advance(50);
  await flush();
  const looks = h.procs.callsOf("findSpawned").length;
  assert.ok(looks >= 4 && looks <= 10, `${looks} looks`);
  await h.clock.advance(10_000);
  await flush();
  assert.equal(h.procs.callsOf("findSpawned").length, looks);
  assert.deepEqual(h.procs.callsOf("signal"), []);
});

Deno.test("Engine.attach() re-attaches a self entity when the same pid attaches again", async () => {
  const h = setup();
  h.procs.addProcess(4242);
  await h.engine.attach(spec("app", { argv: null, pid: 4242, kind: "self" }));
  const again = await h.engine.attach(spec("app", { argv: null, pid: 4242, kind: "self" }));
  assert.deepEqual(again, { entity: "app", pid: 4242 });
  assert.ok(h.events.some((ev) => ev.type === "reattach"));
});

Deno.test("Engine.attach() refuses a second entity for a self-attached process with EEXIST", async () => {
  const h = setup();
  h.procs.addProcess(4242);
  const exists = (err: unknown) => err instanceof HamError && err.code === "EEXIST";
  await h.engine.attach(spec("app", { argv: null, pid: 4242, kind: "self" }));
  // The same process under another name: self-attached, or attached by pid.
  await assert.rejects(
    h.engine.attach(spec("app2", { argv: null, pid: 4242, kind: "self" })),
    exists,
  );
  await assert.rejects(h.engine.attach(spec("byPid", { argv: null, pid: 4242 })), exists);
  assert.deepEqual([...h.store.state.entities.keys()].filter((n) => n !== GLOBAL_ENTITY), ["app"]);
  // Nor may a process that another entity watches self-attach under a name of its own.
  h.procs.addProcess(5151);
  await h.engine.attach(spec("db", { argv: null, pid: 5151 }));
  await assert.rejects(
    h.engine.attach(spec("dbself", { argv: null, pid: 5151, kind: "self" })),
    exists,
  );
  // Several entities by pid stay allowed (a process that beats for several of them).
  assert.deepEqual(await h.engine.attach(spec("db2", { argv: null, pid: 5151 })), {
    entity: "db2",
    pid: 5151,
  });
});

Deno.test("Engine.attach() logs a notice for a heartbeat with neither threshold, and accepts it", async () => {
  const h = setup();
  h.procs.addProcess(4242);
  await h.engine.attach(
    spec("quiet", { argv: null, pid: 4242, heartbeat: { periodMs: 10, low: 0, high: 0 } }),
  );
  await h.engine.attach(spec("loud", { argv: null, pid: 4242, heartbeat: HB }));
  const notes = h.log.lines.filter((l) => l.includes("neither a low nor a high threshold"));
  assert.equal(notes.length, 1);
  assert.match(notes[0], /Entity "quiet" has a heartbeat every 10 ms/);
  assert.equal(h.store.state.entities.get("quiet")?.heartbeat?.periodMs, 10);
});

Deno.test("Engine.attach() lets a recycled pid self-attach while the old entity's death is unseen", async () => {
  const h = setup();
  h.procs.addProcess(4242, { startTime: "100" });
  await h.engine.attach(spec("old", { argv: null, pid: 4242, kind: "self" }));
  // Pid 4242 ended and was handed out again before its death was handled.
  h.procs.addProcess(4242, { startTime: "200" });
  assert.deepEqual(
    await h.engine.attach(spec("new", { argv: null, pid: 4242, kind: "self" })),
    { entity: "new", pid: 4242 },
  );
});

Deno.test("Engine.attach() renews a self-attachment only while the entity is that process's", async () => {
  const h = setup();
  h.procs.addProcess(4242);
  h.procs.addProcess(4343);
  const self = (pid: number) => spec("app", { argv: null, pid, kind: "self", renew: true });
  const gone = (err: unknown) => err instanceof HamError && err.code === "ENOENT";
  // Detached meanwhile: nothing is made again.
  await assert.rejects(h.engine.attach(self(4242)), gone);
  assert.equal(h.store.state.entities.has("app"), false);
  // Another process's now, or attached by pid rather than self-attached.
  await h.engine.attach(spec("app", { argv: null, pid: 4343, kind: "self" }));
  await assert.rejects(h.engine.attach(self(4242)), gone);
  await h.engine.detach("app");
  await h.engine.attach(spec("app", { argv: null, pid: 4242 }));
  await assert.rejects(h.engine.attach(self(4242)), gone);
  assert.equal(h.store.state.entities.get("app")?.kind, "attached");
  await h.engine.detach("app");
  // Still its own: renewed.
  await h.engine.attach(spec("app", { argv: null, pid: 4242, kind: "self" }));
  assert.deepEqual(await h.engine.attach(self(4242)), { entity: "app", pid: 4242 });
  assert.ok(h.events.some((ev) => ev.type === "reattach"));
});

Deno.test("Engine.detach() fires detach and then removes the entity", async () => {
  const h = setup();
  const pid = await attach(h, "web");
  h.tree.condition("web/bye", "detach").action("web/bye/x", P.exec("bye"));
  await h.engine.detach("web");
  assert.deepEqual(h.procs.runs, ["bye"]);
  assert.equal(h.store.state.entities.has("web"), false);
  // The process is no longer watched: its exit fires nothing.
  h.procs.kill(pid, EXIT1);
  await settle(h);
  assert.deepEqual(h.procs.runs, ["bye"]);
  assert.equal(h.store.recordsOf("death").length, 0);
});

Deno.test("Engine.detach() throws ENOENT when the entity does not exist", async () => {
  const h = setup();
  await assert.rejects(
    () => h.engine.detach("nope"),
    (e) => e instanceof HamError && e.code === "ENOENT",
  );
});

Deno.test("Engine.connectionLost() handles a death when a self-attached entity's connection drops", async () => {
  const h = setup();
  h.procs.addProcess(4242);
  await h.engine.attach(spec("app", { argv: null, pid: 4242, kind: "self" }));
  h.tree.condition("app/died", "death").action("app/died/x", P.exec("died"));
  h.engine.connectionLost("app", 4242);
  await settle(h);
  assert.deepEqual(h.procs.runs, ["died"]);
  assert.equal(h.store.state.entities.has("app"), false);
});

Deno.test("Engine.connectionLost() does nothing when the entity has another pid by then", async () => {
  const h = setup();
  h.procs.addProcess(4242);
  await h.engine.attach(spec("app", { argv: null, pid: 4242, kind: "self" }));
  h.tree.condition("app/died", "death").action("app/died/x", P.exec("died"));
  h.engine.connectionLost("app", 4343);
  await settle(h);
  assert.deepEqual(h.procs.runs, []);
  assert.equal(h.store.recordsOf("death").length, 0);
});

Deno.test("Engine.connectionLost() does nothing when the entity is not self-attached", async () => {
  const h = setup();
  const pid = await attach(h, "web");
  h.engine.connectionLost("web", pid);
  await settle(h);
  assert.equal(h.store.recordsOf("death").length, 0);
});

Deno.test("Engine.publishState() fires with from = the previous state when published twice", async () => {
  const h = setup();
  await attach(h, "web");
  h.tree.condition("web/up", "state", 0, { from: 1, to: 2 }).action("web/up/x", P.exec("1to2"));
  assert.deepEqual(await h.engine.publishState("web", 1), { entity: "web", from: 0, to: 1 });
  assert.deepEqual(await h.engine.publishState("web", 2), { entity: "web", from: 1, to: 2 });
  await settle(h);
  assert.deepEqual(h.procs.runs, ["1to2"]);
  assert.equal(h.store.state.entities.get("web")!.state, 2);
});

Deno.test("Engine.raise() fires only the matching raise conditions when several exist", async () => {
  const h = setup();
  await attach(h, "web");
  h.tree.condition("web/any", "raise").action("web/any/x", P.exec("any"))
    .condition("web/t1", "raise", 0, { rtype: 1 }).action("web/t1/x", P.exec("t1"))
    .condition("web/t2", "raise", 0, { rtype: 2 }).action("web/t2/x", P.exec("t2"));
  await h.engine.raise("web", { rtype: 1, rclass: 5, rseverity: 5 });
  await settle(h);
  assert.deepEqual(h.procs.runs, ["any", "t1"]);
});

Deno.test("Engine.raise() throws ENOENT when the entity does not exist", async () => {
  const h = setup();
  await assert.rejects(
    async () => await h.engine.raise("nope", { rtype: 1, rclass: 0, rseverity: 0 }),
    (e) => e instanceof HamError && e.code === "ENOENT",
  );
});

// ---------------------------------------------------------------------------
// resume, stop

Deno.test("Engine.resume() handles the death when the entity died while no HAM was watching", async () => {
  const h = setup();
  await h.store.commit([{
    t: "attach",
    entity: "web",
    kind: "attached",
    pid: 4242,
    startTime: "st-4242",
    argv: ["web-server"],
    cwd: null,
    env: null,
    spawnId: "x",
    spawned: true,
    flags: 0,
    heartbeat: null,
    at: 0,
  }]);
  h.tree.condition("web/respawn", "death", HREARMAFTERRESTART)
    .action("web/respawn/restart", P.restart(), HREARMAFTERRESTART);
  h.engine.resume();
  await settle(h);
  const e = h.store.state.entities.get("web")!;
  assert.deepEqual([e.deaths, e.restarts], [1, 1]);
  assert.equal(e.pid, h.procs.callsOf("spawn")[0].pid);
});

Deno.test("Engine.resume() watches a process without restarting it when it is still alive", async () => {
  const h = setup();
  h.procs.addProcess(4242);
  await h.store.commit([{
    t: "attach",
    entity: "web",
    kind: "attached",
    pid: 4242,
    startTime: "st-4242",
    argv: ["web-server"],
    cwd: null,
    env: null,
    spawnId: null,
    spawned: false,
    flags: 0,
    heartbeat: null,
    at: 0,
  }]);
  h.engine.resume();
  await settle(h);
  assert.equal(h.procs.callsOf("spawn").length, 0);
  assert.equal(h.store.recordsOf("death").length, 0);
  h.procs.kill(4242, EXIT1);
  await settle(h);
  assert.equal(h.store.recordsOf("death").length, 1);
});

Deno.test("Engine.stop() ignores exits when the engine is stopped", async () => {
  const h = setup();
  const pid = await attach(h, "web");
  h.tree.condition("web/died", "death").action("web/died/x", P.exec("died"));
  h.engine.stop();
  h.procs.kill(pid, EXIT1);
  await settle(h);
  assert.deepEqual(h.procs.runs, []);
  assert.equal(h.store.recordsOf("death").length, 0);
});

async function stopDuringWaitfor(): Promise<Harness> {
  const h = setup();
  const pid = await attach(h, "web");
  h.tree.condition("web/died", "death", HREARMAFTERRESTART)
    .action("web/died/wait", P.waitfor(100), HREARMAFTERRESTART)
    .action("web/died/restart", P.restart(), HREARMAFTERRESTART)
    .action("web/died/after", P.exec("after"), HREARMAFTERRESTART);
  h.procs.kill(pid, EXIT1);
  await flush();
  h.engine.stop();
  await h.clock.advance(100);
  await settle(h);
  return h;
}

Deno.test("Engine.stop() ends a running list at its next step when a waitfor is pending", async () => {
  const h = await stopDuringWaitfor();
  assert.deepEqual(h.procs.runs, []);
});

Deno.test("Engine.stop() journals no failure of the interrupted restart when the list is cut short", async () => {
  const h = await stopDuringWaitfor();
  // Stopping the HAM must not journal the restart as failed and remove it: the next HAM
  // (or the Guardian) would replay a tree without its restart action.
  assert.deepEqual(autoRemoved(h, "web", "died"), []);
  assert.deepEqual(
    h.store.recordsOf("result").filter((r) => r.action === "restart").map((r) => r.ok),
    [],
  );
});

// ---------------------------------------------------------------------------
// Heartbeat (QNX §3)

async function heartbeating(hb: HeartbeatSpec = HB) {
  const h = setup();
  await attach(h, "app", { heartbeat: hb });
  h.tree.condition("app/low", "hb-missed-low", HREARMAFTERRESTART)
    .action("app/low/x", P.exec("low"))
    .condition("app/high", "hb-missed-high", HREARMAFTERRESTART)
    .action("app/high/x", P.exec("high"));
  return h;
}

async function stop(h: Harness): Promise<void> {
  h.engine.stop();
  await settle(h);
}

Deno.test("Engine fires hb-missed-low at 20 ms and hb-missed-high at 40 ms exactly once each when the entity never beats", async () => {
  const h = await heartbeating();
  await h.clock.advance(19);
  assert.deepEqual(h.procs.timedRuns, []);
  await h.clock.advance(1);
  assert.deepEqual(h.procs.timedRuns, ["low@20"]);
  await h.clock.advance(19);
  assert.deepEqual(h.procs.timedRuns, ["low@20"]);
  await h.clock.advance(1);
  assert.deepEqual(h.procs.timedRuns, ["low@20", "high@40"]);
  await h.clock.advance(200);
  assert.deepEqual(h.procs.timedRuns, ["low@20", "high@40"]);
  const e = h.store.state.entities.get("app")!;
  assert.deepEqual([e.hbMissed, e.hbHealth], [24, "missed-high"]);
  await stop(h);
});

Deno.test("Engine counts a heartbeat when it arrives just before the period end", async () => {
  const h = await heartbeating();
  for (let t = 9; t < 100; t += 10) {
    await h.clock.advanceTo(t);
    h.engine.heartbeat("app", h.clock.now());
  }
  await h.clock.advanceTo(100);
  assert.deepEqual(h.procs.runs, []);
  assert.equal(h.store.state.entities.get("app")!.hbMissed, 0);
  await stop(h);
});

Deno.test("Engine does not count a heartbeat for the previous period when it arrives just after the period end", async () => {
  const h = await heartbeating();
  await h.clock.advanceTo(20);
  h.engine.heartbeat("app", h.clock.now()); // period [20, 30)
  assert.deepEqual(h.procs.timedRuns, ["low@20"]);
  await h.clock.advanceTo(30);
  const e = h.store.state.entities.get("app")!;
  assert.deepEqual([e.hbMissed, e.hbHealth], [0, "missed-low"]);
  await stop(h);
});

Deno.test("Engine counts several heartbeats in one period as one when they arrive together", async () => {
  const h = await heartbeating();
  await h.clock.advanceTo(7);
  h.engine.heartbeat("app", 7);
  h.engine.heartbeat("app", 7);
  h.engine.heartbeat("app", 8);
  await h.clock.advanceTo(30); // [10, 20) and [20, 30) missed
  assert.deepEqual(h.procs.timedRuns, ["low@30"]);
  await stop(h);
});

Deno.test("Engine fires hb-missed-low and hb-missed-high at the same tick when low = high", async () => {
  const h = await heartbeating({ periodMs: 10, low: 3, high: 3 });
  await h.clock.advanceTo(29);
  assert.deepEqual(h.procs.runs, []);
  await h.clock.advanceTo(100);
  assert.deepEqual(h.procs.timedRuns, ["low@30", "high@30"]);
  await stop(h);
});

Deno.test("Engine never fires hb-missed-low when its threshold is 0", async () => {
  const h = await heartbeating({ periodMs: 10, low: 0, high: 4 });
  await h.clock.advanceTo(100);
  assert.deepEqual(h.procs.timedRuns, ["high@40"]);
  await stop(h);
});

Deno.test("Engine never fires either heartbeat condition when both thresholds are 0", async () => {
  const h = await heartbeating({ periodMs: 10, low: 0, high: 0 });
  await h.clock.advanceTo(100);
  assert.deepEqual(h.procs.runs, []);
  await stop(h);
});

Deno.test("Engine fires hb-missed-low again when a heartbeat-healthy action resets the latch", async () => {
  const h = await heartbeating();
  h.tree.action("app/low/reset", P.healthy());
  await h.clock.advanceTo(20);
  const e = h.store.state.entities.get("app")!;
  assert.deepEqual([e.hbMissed, e.hbHealth], [0, "healthy"]);
  await h.clock.advanceTo(60);
  assert.deepEqual(h.procs.timedRuns, ["low@20", "low@40", "low@60"]);
  await stop(h);
});

Deno.test("Engine counts a beat in the period it arrived in when the period-end timer runs late", async () => {
  const h = await heartbeating({ periodMs: 10, low: 1, high: 3 });
  await h.clock.advanceTo(5);
  h.engine.heartbeat("app", 5); // [0, 10)
  await h.clock.advanceTo(9);
  // The timer of the end at 10 has not run yet (a busy HAM) when beats of [10, 20) and
  // [20, 30) arrive: neither may be taken for [0, 10)'s, which would leave them empty.
  h.engine.heartbeat("app", 12);
  h.engine.heartbeat("app", 25);
  await h.clock.advanceTo(30);
  assert.deepEqual(h.procs.timedRuns, []);
  assert.equal(h.store.state.entities.get("app")!.hbMissed, 0);
  await h.clock.advanceTo(40); // [30, 40) is empty
  assert.deepEqual(h.procs.timedRuns, ["low@40"]);
  await stop(h);
});

Deno.test("Engine's heartbeat event names the period end that crossed and the last beat", async () => {
  const h = await heartbeating({ periodMs: 10, low: 2, high: 4 });
  await h.clock.advanceTo(13);
  h.engine.heartbeat("app", 13); // [10, 20) seen; [20, 30) and [30, 40) empty: low at 40
  await h.clock.advanceTo(100);
  const hb = h.events.filter((e) => e.type === "heartbeat").map((e) => e.detail);
  assert.deepEqual(hb, [
    { condition: "hb-missed-low", missed: 2, periodEnd: 40, lastBeat: 13 },
    { condition: "hb-missed-high", missed: 4, periodEnd: 60, lastBeat: 13 },
  ]);
  await stop(h);
});

Deno.test("Engine counts no missed heartbeat when the wall clock steps forward", async () => {
  const h = await heartbeating();
  const beat = () => h.engine.heartbeat("app", h.clock.now());
  for (let t = 5; t < 50; t += 10) {
    await h.clock.advance(t === 5 ? 5 : 10);
    beat();
  }
  // Set an hour ahead (NTP, an operator's date) while the entity beats on in its own time.
  h.clock.jump(3_600_000);
  for (let i = 0; i < 10; i++) {
    await h.clock.advance(10);
    beat();
  }
  assert.deepEqual(h.procs.timedRuns, [], "an hour of periods is not an hour of silence");
  assert.equal(h.store.state.entities.get("app")!.hbMissed, 0);
  assert.equal(h.store.recordsOf("heartbeat").length, 0);
  await stop(h);
});

Deno.test("Engine still tells a silent entity in time when the wall clock steps back", async () => {
  const h = await heartbeating();
  for (let t = 5; t < 50; t += 10) {
    await h.clock.advance(t === 5 ? 5 : 10);
    h.engine.heartbeat("app", h.clock.now());
  }
  h.clock.jump(-3_600_000);
  // It stops beating: two empty periods (low 2) after the next end, in monotonic time.
  const at = h.clock.monotonic();
  await h.clock.advance(40);
  assert.equal(h.procs.runs.length > 0 && h.procs.runs[0], "low", "not an hour later");
  assert.ok(h.clock.monotonic() - at <= 40);
  await stop(h);
});

Deno.test("Engine journals nothing for the heartbeat when the entity beats every period", async () => {
  const h = await heartbeating();
  const before = h.store.records.length;
  for (let t = 5; t < 100; t += 10) {
    await h.clock.advanceTo(t);
    h.engine.heartbeat("app", t);
  }
  await h.clock.advanceTo(100);
  assert.equal(h.store.records.length, before);
  await stop(h);
});

Deno.test("Engine stops heartbeat accounting when the entity dies", async () => {
  const h = await heartbeating();
  const pid = h.store.state.entities.get("app")!.pid!;
  await h.clock.advanceTo(10);
  h.procs.kill(pid, EXIT1);
  await h.clock.advanceTo(100);
  assert.equal(h.clock.pending, 0);
  assert.deepEqual(h.procs.runs, []);
  // The miss of [0, 10) is below low: counted in memory, not journaled (transitions only).
  assert.equal(h.store.recordsOf("heartbeat").length, 0);
});

Deno.test("Engine journals heartbeat transitions, not ticks, when an entity never beats", async () => {
  const h = await heartbeating();
  await h.clock.advanceTo(10_000); // 1,000 periods without a beat
  const e = h.store.state.entities.get("app")!;
  assert.equal(e.hbMissed, 1000, "the count is kept, in memory");
  assert.equal(e.hbHealth, "missed-high");
  // missed-low at 2, missed-high at 4: two records, not 1,000.
  assert.deepEqual(
    h.store.recordsOf("heartbeat").map((r) => [r.missed, r.health]),
    [[2, "missed-low"], [4, "missed-high"]],
  );
  await stop(h);
});

Deno.test("Engine escalates from hb-missed-high to a kill and a restart when the entity hangs", async () => {
  const h = setup();
  const pid = await attach(h, "app", { heartbeat: HB });
  h.tree.condition("app/hung", "hb-missed-high", HREARMAFTERRESTART)
    .action("app/hung/kill", P.signal(9))
    .condition("app/died", "death", HREARMAFTERRESTART)
    // Two restarts within 80 ms: relaxed explicitly (the default policy would back off).
    .action(
      "app/died/restart",
      { kind: "restart", argv: null, policy: UNLIMITED },
      HREARMAFTERRESTART,
    );
  await h.clock.advanceTo(40);
  const e = h.store.state.entities.get("app")!;
  assert.equal(h.procs.isAlive(pid), false);
  assert.equal(e.restarts, 1);
  assert.deepEqual([e.hbHealth, e.hbMissed], ["healthy", 0]);
  // The new process is watched from its restart: it misses high 40 ms later.
  await h.clock.advanceTo(80);
  assert.equal(h.store.state.entities.get("app")!.restarts, 2);
  await stop(h);
});

Deno.test("Engine.heartbeat() succeeds and does nothing when the entity does not heartbeat", async () => {
  const h = setup();
  await attach(h, "web");
  assert.deepEqual(h.engine.heartbeat("web", 5), { entity: "web" });
  assert.equal(h.store.state.entities.get("web")!.lastBeat, null);
});

Deno.test("Engine.heartbeat() throws ENOENT when the entity does not exist", () => {
  const h = setup();
  assert.throws(
    () => h.engine.heartbeat("nope", 0),
    (e) => e instanceof HamError && e.code === "ENOENT",
  );
});

/** A fake clock whose reads move it on by `stepMs` while `ticking` (work that takes time). */
class BusyClock extends FakeClock {
  ticking = false;
  #extra = 0;
  stepMs = 25;
  zeroSleeps = 0;

  override now(): number {
    if (this.ticking) this.#extra += this.stepMs;
    return super.now() + this.#extra;
  }

  override sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
    if (!(ms > 0) && this.ticking) this.zeroSleeps++;
    return super.sleep(ms, signal);
  }
}

Deno.test("Engine counts ended heartbeat periods DEFAULTS.heartbeatTurnMs at a time, and counts every one", async () => {
  const clock = new BusyClock(0);
  const procs = new FakeProcesses(clock);
  const store = new MemoryStore();
  const events: EventBody[] = [];
  const engine = new Engine({
    store,
    processes: procs,
    clock,
    log: memoryLogger(0),
    emit: (ev) => events.push(ev),
  });
  const n = 600;
  for (let i = 0; i < n; i++) {
    await engine.attach(spec(`e${i}`, { heartbeat: { periodMs: 1000, low: 1, high: 0 } }));
  }
  assert.ok(DEFAULTS.heartbeatTurnMs < clock.stepMs * 2);
  // Every period ends at once; each read of the clock says 25 ms went by.
  clock.ticking = true;
  await clock.advance(1000);
  await flush();
  clock.ticking = false;
  const crossed = events.filter((ev) => ev.type === "heartbeat").map((ev) => ev.entity);
  assert.equal(new Set(crossed).size, n, "every ended period was counted");
  assert.ok(clock.zeroSleeps >= 2, `${clock.zeroSleeps} turns given back`);
  engine.stop();
  await flush();
});
