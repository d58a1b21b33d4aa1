import assert from "node:assert/strict";
import { HamError } from "../../../lib/core/errors.ts";
import { connect, type Ham } from "../../../lib/client/ham.ts";
import { GLOBAL_ENTITY } from "../../../lib/core/names.ts";
import { type FakeRequest, startFakeHam } from "../../support/fake_ham.ts";

/** Runs `f` against a fake HAM that acknowledges everything; returns what was sent. */
async function sent(f: (ham: Ham) => Promise<unknown>): Promise<Record<string, unknown>[]> {
  await using fake = await startFakeHam((req, conn) => conn.reply(req.id, { path: req.path }));
  {
    await using ham = await connect({ stateDir: fake.stateDir });
    await f(ham);
  }
  // The existence check of a handle's creation (a status of its path) is left out.
  return fake.requests.slice(1).filter((r) => r.op !== "status")
    .map(({ id: _id, ...rest }: FakeRequest) => rest);
}

Deno.test("EntityHandle.condition() sends a condition request with named flags", async () => {
  const reqs = await sent(async (ham) => {
    const c = await (await ham.entityHandle("web")).condition("death", "death", {
      flags: ["rearm"],
    });
    assert.equal(c.path, "web/death");
  });
  assert.deepEqual(reqs, [{ op: "condition", path: "web/death", type: "death", flags: 1 }]);
});

Deno.test("EntityHandle.conditionState() turns state sets into bits and set flags", async () => {
  const reqs = await sent(async (ham) =>
    (await ham.entityHandle("hb")).conditionState("up", {
      from: 0,
      to: { set: [1, 3], invert: true },
    })
  );
  assert.deepEqual(reqs, [
    { op: "condition", path: "hb/up", type: "state", flags: 0x2000 | 0x8000, from: 0, to: 10 },
  ]);
});

Deno.test("EntityHandle.conditionRaise() fills absent fields with 0 (any)", async () => {
  const reqs = await sent(async (ham) =>
    (await ham.entityHandle("hb")).conditionRaise("alarm", { rtype: 3 })
  );
  assert.deepEqual(reqs, [
    {
      op: "condition",
      path: "hb/alarm",
      type: "raise",
      flags: 0,
      rtype: 3,
      rclass: 0,
      rseverity: 0,
    },
  ]);
});

Deno.test("EntityHandle publishes state, raises, controls and detaches by name", async () => {
  const reqs = await sent(async (ham) => {
    const e = await ham.entityHandle("hb");
    await e.publishState(2);
    await e.raise({ rtype: 1, rclass: 2, rseverity: 3 });
    await e.control("disable", 0, { recurse: true });
    await e.control("add-flags", ["keep-on-death"]);
    await e.detach();
  });
  assert.deepEqual(reqs, [
    { op: "state", entity: "hb", to: 2 },
    { op: "raise", entity: "hb", rtype: 1, rclass: 2, rseverity: 3 },
    { op: "control", path: "hb", command: "disable", flags: 0, recurse: true },
    { op: "control", path: "hb", command: "add-flags", flags: 2, recurse: false },
    { op: "detach", entity: "hb" },
  ]);
});

Deno.test("ConditionHandle adds each action kind with its parameters", async () => {
  const reqs = await sent(async (ham) => {
    const c = await ham.conditionHandle("web/death");
    await c.restart("restart", { flags: ["rearm"], policy: { backoffMs: 100 } });
    await c.execute("mount", ["/bin/mount", "-a"], { flags: ["do-now"] });
    await c.waitfor("wait", 5000, "/run/web.sock");
    await c.signal("kill", "TERM", 4242);
    await c.log("note", "web died", { prefix: false, verbosity: 2 });
    await c.heartbeatHealthy("ok");
    await c.notify("tell", "ops", 1, 2);
    await c.remove();
  });
  const path = (a: string) => `web/death/${a}`;
  assert.deepEqual(reqs, [
    {
      op: "action",
      path: path("restart"),
      flags: 1,
      kind: "restart",
      argv: null,
      policy: { backoffMs: 100 },
    },
    { op: "action", path: path("mount"), flags: 2, kind: "execute", argv: ["/bin/mount", "-a"] },
    {
      op: "action",
      path: path("wait"),
      flags: 0,
      kind: "waitfor",
      delayMs: 5000,
      pathname: "/run/web.sock",
    },
    { op: "action", path: path("kill"), flags: 0, kind: "signal", signal: 15, pid: 4242 },
    {
      op: "action",
      path: path("note"),
      flags: 0,
      kind: "log",
      message: "web died",
      prefix: false,
      verbosity: 2,
    },
    { op: "action", path: path("ok"), flags: 0, kind: "heartbeat-healthy" },
    {
      op: "action",
      path: path("tell"),
      flags: 0,
      kind: "notify",
      channel: "ops",
      code: 1,
      value: 2,
    },
    { op: "condition-remove", path: "web/death" },
  ]);
});

Deno.test("ActionHandle adds and removes action-fail items", async () => {
  const reqs = await sent(async (ham) => {
    const a = await ham.actionHandle("web/death/restart");
    await a.failExecute("fallback", ["/bin/echo", "failed"]);
    await a.failWaitfor("pause", 100);
    await a.failSignal("kill", 9);
    await a.failLog("note", "restart failed");
    await a.failNotify("tell", "ops", 3, 4);
    await a.failRemove("note");
    await a.remove();
  });
  const path = "web/death/restart";
  assert.deepEqual(reqs, [
    { op: "action-fail", path, name: "fallback", kind: "execute", argv: ["/bin/echo", "failed"] },
    { op: "action-fail", path, name: "pause", kind: "waitfor", delayMs: 100, pathname: null },
    { op: "action-fail", path, name: "kill", kind: "signal", signal: 9, pid: null },
    {
      op: "action-fail",
      path,
      name: "note",
      kind: "log",
      message: "restart failed",
    },
    { op: "action-fail", path, name: "tell", kind: "notify", channel: "ops", code: 3, value: 4 },
    { op: "action-fail-remove", path, name: "note" },
    { op: "action-remove", path },
  ]);
});

Deno.test("entityHandle() names the global entity as @global", async () => {
  const reqs = await sent(async (ham) =>
    (await ham.entityHandle(GLOBAL_ENTITY)).condition("deaths", "death")
  );
  assert.deepEqual(reqs, [{ op: "condition", path: "@global/deaths", type: "death", flags: 0 }]);
});

Deno.test("handles throw EINVAL without a request for bad paths, flags and signals", async () => {
  const reqs = await sent(async (ham) => {
    const einval = (f: () => unknown) =>
      assert.rejects(
        async () => await f(),
        (e: unknown) => e instanceof HamError && e.code === "EINVAL",
      );
    await einval(() => ham.conditionHandle("web"));
    await einval(() => ham.actionHandle("web/death"));
    await einval(() => ham.entityHandle("a/b"));
    await einval(async () =>
      (await ham.entityHandle("web")).condition("death", "death", { flags: ["bogus"] })
    );
    await einval(async () => (await ham.conditionHandle("web/death")).signal("kill", "SIGNOPE"));
  });
  assert.deepEqual(reqs, []);
});

Deno.test("entityHandle(), conditionHandle() and actionHandle() throw ENOENT for a missing item", async () => {
  await using fake = await startFakeHam((req, conn) =>
    req.path === "web" || req.path === "web/death"
      ? conn.reply(req.id, { path: req.path })
      : conn.fail(req.id, "ENOENT", `Cannot find "${req.path}"`)
  );
  await using ham = await connect({ stateDir: fake.stateDir });
  const enoent = (e: unknown) => e instanceof HamError && e.code === "ENOENT";
  assert.equal((await ham.entityHandle("web")).path, "web");
  assert.equal((await ham.conditionHandle("web/death")).path, "web/death");
  await assert.rejects(ham.entityHandle("db"), enoent);
  await assert.rejects(ham.conditionHandle("web/gone"), enoent);
  await assert.rejects(ham.actionHandle("web/death/restart"), enoent);
  assert.deepEqual(
    fake.requests.slice(1).map((r) => [r.op, r.path]),
    ["web", "web/death", "db", "web/gone", "web/death/restart"].map((p) => ["status", p]),
  );
});
