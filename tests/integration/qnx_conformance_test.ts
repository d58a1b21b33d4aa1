/**
 * QNX HAM conformance against a real HAM (the reference's §2 calls, §5 recovery, §6
 * takeover, §7.1 status files), through the library and `hamctl`: where ham follows QNX,
 * and where it decides what QNX leaves open (README, "Decisions").
 */

import assert from "node:assert/strict";
import { connect } from "../../lib/client/ham.ts";
import { HamError } from "../../lib/core/errors.ts";
import { HamProcess, until } from "../support/ham_process.ts";

const code = (c: string, text?: RegExp) => (e: unknown) => {
  assert.ok(e instanceof HamError, `expected a HamError, got ${e}`);
  assert.equal(e.code, c, e.message);
  if (text) assert.match(e.message, text);
  return true;
};

/** A scratch directory for the marker files the actions write; removed when disposed. */
async function scratch(): Promise<{ dir: string } & AsyncDisposable> {
  const dir = await Deno.makeTempDir({ prefix: "ham-qnx-" });
  return { dir, [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
}

/** The lines `echo` actions appended to `file` ("" when there is none yet). */
function lines(file: string): string[] {
  try {
    return Deno.readTextFileSync(file).trim().split("\n").filter((l) => l !== "");
  } catch {
    return [];
  }
}

Deno.test(
  "an action list runs FIFO, each failure runs its fail list in order, break-on-fail and keep-on-fail hold",
  async () => {
    await using ham = await HamProcess.start({ guardian: false });
    await using tmp = await scratch();
    const out = `${tmp.dir}/order`;
    const echo = (
      word: string,
      exit = 0,
    ) => ["/bin/sh", "-c", `echo ${word} >> ${out}; exit ${exit}`];
    await using lib = await connect({ stateDir: ham.stateDir });
    const e = await lib.entity("p");
    const c = await e.conditionRaise("r", { rtype: 1, flags: ["rearm"] });
    const a1 = await c.execute("a1", echo("a1", 1));
    await a1.failExecute("f1", echo("a1.f1"));
    await a1.failLog("f2", "a1 failed");
    await a1.failExecute("f3", echo("a1.f3"));
    await c.execute("a2", echo("a2", 1), { flags: ["keep-on-fail", "break-on-fail"] });
    await c.execute("a3", echo("a3"));
    const since = await ham.seq();
    await e.raise({ rtype: 1 });
    await ham.nextEvent((ev) => ev.action === "a2", since, "a2 to run");
    await until(
      async () => (await lib.status("p/r") as { actions: unknown[] }).actions.length === 2,
      "a1 removed",
    );
    // a1 failed: its fail list ran in order (the log between), and it was removed; a2 failed,
    // is kept, and broke the list: a3 did not run.
    assert.deepEqual(lines(out), ["a1", "a1.f1", "a1.f3", "a2"]);
    assert.match(ham.log(), /log: p\/r\/a1: a1 failed/);
    const view = await lib.status("p/r") as { actions: { path: string; failures: number }[] };
    assert.deepEqual(view.actions.map((a) => [a.path, a.failures]), [["p/r/a2", 1], ["p/r/a3", 0]]);
    // A condition its failures empty goes, unless keep-on-empty.
    const gone = await e.conditionRaise("gone", { rtype: 2, flags: ["rearm"] });
    await gone.execute("bad", ["/bin/false"]);
    const kept = await e.conditionRaise("kept", { rtype: 2, flags: ["rearm", "keep-on-empty"] });
    await kept.execute("bad", ["/bin/false"]);
    await e.raise({ rtype: 2 });
    const conds = await until(async () => {
      const v = await lib.status("p") as { conditions: { path: string; actions: unknown[] }[] };
      const k = v.conditions.find((x) => x.path === "p/kept");
      return k?.actions.length === 0 && v.conditions.map((x) => x.path);
    }, "p/kept emptied");
    assert.deepEqual(conds, ["p/r", "p/kept"]);
  },
);

Deno.test(
  "a restart prunes what is not re-armed (QNX 7.1 defaults), after the death's list ran whole",
  async () => {
    await using ham = await HamProcess.start({ guardian: false });
    await using tmp = await scratch();
    await using lib = await connect({ stateDir: ham.stateDir });
    const w = await lib.attach("w", { argv: ["/bin/sleep", "1000"] });
    const death = await w.condition("death", "death", { flags: ["rearm"] });
    await death.restart("restart", { flags: ["rearm"] });
    // In a death condition an action is not re-armed by default: pruned, once it has run.
    await death.execute("after", ["/bin/sh", "-c", `echo x >> ${tmp.dir}/after`]);
    // Elsewhere it is (7.1): the condition's own flag decides.
    const once = await w.condition("once", "restart");
    await once.execute("x", ["/bin/sh", "-c", `echo x >> ${tmp.dir}/once`]);
    const again = await w.condition("again", "restart", { flags: ["rearm"] });
    await again.execute("x", ["/bin/sh", "-c", `echo x >> ${tmp.dir}/again`]);
    const since = await ham.seq();
    Deno.kill(w.pid!, "SIGKILL");
    await ham.nextEvent((ev) => ev.condition === "w/again" && ev.type === "action", since, "again");
    await until(() => Promise.resolve(lines(`${tmp.dir}/after`).length === 1), "after to run");
    const v = await lib.status("w") as {
      conditions: { path: string; actions: { path: string; rearm: boolean }[] }[];
    };
    assert.deepEqual(
      v.conditions.map((c) => [c.path, c.actions.map((a) => [a.path, a.rearm])]),
      [["w/death", [["w/death/restart", true]]], ["w/again", [["w/again/x", true]]]],
    );
    // The restart condition without rearm fired once, for the restart that pruned it.
    assert.deepEqual(lines(`${tmp.dir}/once`), ["x"]);
  },
);

Deno.test(
  "an independent condition's actions do not wait for a waitfor on the shared lane, nor does a nowait one",
  async () => {
    await using ham = await HamProcess.start({ guardian: false });
    await using lib = await connect({ stateDir: ham.stateDir });
    const e = await lib.entity("lanes");
    const slow = await e.conditionRaise("slow", { flags: ["rearm"] });
    await slow.waitfor("settle", 20_000);
    const other = await e.conditionRaise("other", { flags: ["rearm"] });
    await other.log("late", "other lane");
    await (await e.conditionRaise("indep", { flags: ["rearm", "independent"] })).log("n", "indep");
    await (await e.conditionRaise("fast", { flags: ["rearm", "nowait"] })).log("n", "fast");
    const since = await ham.seq();
    await e.raise();
    for (const cond of ["lanes/indep", "lanes/fast"]) {
      await ham.nextEvent((ev) => ev.type === "action" && ev.condition === cond, since, cond);
    }
    const events = (await lib.events({ since })).events;
    // The waitfor still holds the shared lane: the condition after it has not started.
    assert.ok(!events.some((ev) => ev.condition === "lanes/slow" && ev.type === "action"));
    assert.ok(!events.some((ev) => ev.condition === "lanes/other"));
  },
);

Deno.test(
  "a restart that backs off holds up its own entity's lists, not other entities' on the shared lane",
  async () => {
    await using ham = await HamProcess.start({ guardian: false });
    await using lib = await connect({ stateDir: ham.stateDir });
    const a = await lib.attach("a", { argv: ["/bin/sleep", "1000"] });
    const death = await a.condition("death", "death", { flags: ["rearm"] });
    await death.restart("restart", { flags: ["rearm"], policy: { backoffMs: 60_000 } });
    const b = await lib.attach("b", { argv: ["/bin/sleep", "1000"] });
    await (await b.condition("death", "death")).log("note", "b died");
    let since = await ham.seq();
    Deno.kill(a.pid!, "SIGKILL"); // the first restart in a quiet window: at once
    const first = await ham.nextEvent(
      (ev) => ev.type === "restart" && ev.entity === "a",
      since,
      "a",
    );
    since = await ham.seq();
    Deno.kill(first.detail!.pid as number, "SIGKILL"); // the second backs off for a minute
    await ham.nextEvent((ev) => ev.type === "backoff" && ev.entity === "a", since, "a's backoff");
    Deno.kill(b.pid!, "SIGKILL");
    await ham.nextEvent((ev) => ev.type === "action" && ev.entity === "b", since, "b's list");
    assert.equal((await lib.status("a") as { pid: number | null }).pid, null, "still backing off");
  },
);

Deno.test(
  "a do-now action runs at registration and at each firing, not under a disabled condition or entity",
  async () => {
    await using ham = await HamProcess.start({ guardian: false });
    await using tmp = await scratch();
    const mount = (word: string) => ["/bin/sh", "-c", `echo ${word} >> ${tmp.dir}/now`];
    await using lib = await connect({ stateDir: ham.stateDir });
    const e = await lib.entity("nfs");
    const c = await e.conditionRaise("up", { flags: ["rearm"] });
    await c.execute("mount", mount("now"), { flags: ["do-now"] });
    await until(() => Promise.resolve(lines(`${tmp.dir}/now`).length === 1), "the do-now run");
    const off = await e.conditionRaise("off", { flags: ["rearm"] });
    await off.control("disable");
    await off.execute("mount", mount("disabled-condition"), { flags: ["do-now"] });
    const other = await lib.entity("other");
    const c2 = await other.conditionRaise("up", { flags: ["rearm"] });
    await other.control("disable");
    await c2.execute("mount", mount("disabled-entity"), { flags: ["do-now"] });
    await until(
      () => Promise.resolve(/Do-now action "other\/up\/mount" not run/.test(ham.log())),
      "log",
    );
    assert.match(
      ham.log(),
      /Do-now action "nfs\/off\/mount" not run: condition "nfs\/off" is disabled/,
    );
    const since = await ham.seq();
    await e.raise();
    await ham.nextEvent((ev) => ev.type === "action" && ev.condition === "nfs/up", since, "fired");
    assert.deepEqual(lines(`${tmp.dir}/now`), ["now", "now"]);
    // A restart cannot be do-now, and do-now cannot be set through control.
    const death = await e.condition("death", "death");
    await assert.rejects(death.restart("r", { flags: ["do-now"] }), code("EINVAL", /do-now/));
    const log = await death.log("note", "x");
    await assert.rejects(log.control("add-flags", ["do-now"]), code("EINVAL", /do-now/));
  },
);

Deno.test(
  "control refuses what it would ignore, and a state condition's inverted side without its set",
  async () => {
    await using ham = await HamProcess.start({ guardian: false });
    await using lib = await connect({ stateDir: ham.stateDir });
    const e = await lib.entity("s");
    const up = await e.conditionState("up", { to: { set: [1, 2] } });
    await assert.rejects(up.control("add-flags", ["from-inv"]), code("EINVAL", /from-inv/));
    const flags = await ham.ctl("flags", "s/up", "add", "to-inv");
    assert.equal(flags.code, 0, flags.stderr);
    const bad = await ham.ctl("flags", "s/up", "remove", "to-set");
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /EINVAL: .*to-inv inverts a set of states/);
    await assert.rejects(e.control("enable", ["keep-on-death"]), code("EINVAL", /takes no flags/));
    await assert.rejects(e.control("get-flags", ["keep-on-death"]), code("EINVAL"));
    await assert.rejects(
      e.control("add-flags", ["keep-on-death"], { recurse: true }),
      code("EINVAL", /"recurse" applies to enable and disable/),
    );
    assert.deepEqual(await e.control("get-flags"), {
      path: "s",
      enabled: true,
      flags: 0,
      flagNames: [],
    });
  },
);

Deno.test("a heartbeat period of 0 is no heartbeat, as QNX's hp 0", async () => {
  await using ham = await HamProcess.start({ guardian: false });
  await using lib = await connect({ stateDir: ham.stateDir });
  await lib.attachSelf("quiet", { heartbeat: { periodMs: 0, low: 2, high: 4 } });
  assert.equal((await lib.status("quiet") as { heartbeat: unknown }).heartbeat, null);
  await lib.heartbeat(); // a no-op success for an entity that does not heartbeat
  const pid = await ham.ok("attach", "w", "--heartbeat", "0", "--", "/bin/sleep", "1000");
  assert.match(pid, /^\d+$/);
  assert.equal((await ham.ok("status", "w", "--json")).heartbeat, null);
  await lib.detachSelf("quiet");
});

Deno.test(
  "after a takeover, a self-attached connection's handles work on, and another connection's calls fail with EBADF",
  async () => {
    await using ham = await HamProcess.start();
    await using self = await connect({ stateDir: ham.stateDir });
    await self.attachSelf("me");
    const me = await self.entityHandle("me");
    const death = await self.conditionHandle((await me.condition("d", "detach")).path);
    await using plain = await connect({ stateDir: ham.stateDir });
    const pe = await plain.entityHandle("me");
    const old = await ham.killHam();
    await ham.waitTakeover(old);
    // Handles are names: on the connection that re-attached, they work across the takeover.
    await until(() => death.log("note", "detached").then(() => true), "a request through it");
    assert.equal((await me.control("get-flags")).path, "me");
    // Another connection ends with the HAM (QNX: its next call fails, it connects again).
    await plain.client.closed;
    await assert.rejects(pe.raise(), code("EBADF", /connection has ended/));
    await using again = await connect({ stateDir: ham.stateDir });
    assert.equal((await again.actionHandle("me/d/note")).path, "me/d/note");
    await self.detachSelf("me");
  },
);

Deno.test(
  "status files follow /proc/ham: a tree of .info files, the entity's pid in each condition's and action's",
  async () => {
    await using ham = await HamProcess.start({ guardian: false });
    const pid = Number(await ham.ok("attach", "inetd", "--", "/bin/sleep", "1000"));
    await ham.ok("condition", "inetd/death", "death", "--rearm");
    await ham.ok("action", "inetd/death/restart", "restart", "--rearm", "--", "/bin/sleep", "999");
    const file = (rel: string) => Deno.readTextFileSync(`${ham.stateDir}/status/${rel}`);
    const field = (text: string, label: string) =>
      new RegExp(`^${label} +: (.*)$`, "m").exec(text)?.[1];
    await until(() => Promise.resolve(/Restart Line/.test(file("inetd/death/restart"))), "mirror");
    for (const rel of ["inetd/.info", "inetd/death/.info", "inetd/death/restart"]) {
      assert.equal(field(file(rel), "Entity Pid"), String(pid), rel);
    }
    assert.equal(field(file("inetd/death/restart"), "Restart Line"), "/bin/sleep 999");
    assert.equal(field(file("inetd/death/.info"), "Condition ReArm"), "ON");
    assert.equal(field(file(".info"), "Num Entities"), "1");
    Deno.kill(pid, "SIGKILL");
    await until(() => {
      const now = field(file("inetd/death/restart"), "Entity Pid");
      return Promise.resolve(
        now !== String(pid) && field(file("inetd/.info"), "Entity Pid") === now,
      );
    }, "the files to name the restarted pid");
    assert.equal(field(file("inetd/.info"), "Num Restarts"), "1");
  },
);
