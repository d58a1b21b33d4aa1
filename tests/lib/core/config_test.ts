import assert from "node:assert/strict";
import { ConfigError, readConfig, toConfigData } from "../../../lib/core/config.ts";

Deno.test("readConfig() and toConfigData() round-trip notify and signal actions naming a node", () => {
  const data = {
    entities: {
      web: {
        command: ["/bin/sleep", "1000"],
        conditions: {
          death: {
            type: "death",
            actions: {
              far: {
                kind: "notify",
                channel: "ops",
                code: 1,
                node: "n2",
                fails: { hup: { kind: "signal", signal: "HUP", node: "n2", entity: "db" } },
              },
            },
          },
        },
      },
    },
  };
  const specs = readConfig(data);
  const far = specs[0].conditions[0].actions[0];
  assert.deepEqual(far.params, { kind: "notify", channel: "ops", code: 1, value: 0, node: "n2" });
  assert.deepEqual(far.fails[0].params, {
    kind: "signal",
    pid: null,
    signal: 1,
    node: "n2",
    entity: "db",
  });
  const written = toConfigData(specs) as { entities: { web: { conditions: unknown } } };
  assert.deepEqual(written.entities.web.conditions, {
    death: {
      type: "death",
      actions: {
        far: {
          kind: "notify",
          channel: "ops",
          code: 1,
          value: 0,
          node: "n2",
          fails: { hup: { kind: "signal", signal: "SIGHUP", node: "n2", entity: "db" } },
        },
      },
    },
  });
  assert.deepEqual(readConfig(written), specs);
});

Deno.test("readConfig() names the key of a signal action naming a node without an entity", () => {
  const data = {
    entities: {
      web: {
        conditions: { death: { type: "death", actions: { hup: { kind: "signal", node: "n2" } } } },
      },
    },
  };
  assert.throws(() => readConfig(data), (err) => {
    assert.ok(err instanceof ConfigError);
    assert.deepEqual(err.key, ["entities", "web", "conditions", "death", "actions", "hup"]);
    assert.match(err.message, /give "entity"/);
    return true;
  });
});

Deno.test("readConfig() reads cluster: true and its placement, and toConfigData() writes them", () => {
  const web = { cluster: true, placement: ["n1", "n2"], command: ["/bin/sleep", "1"] };
  const [spec] = readConfig({ entities: { web } });
  assert.deepEqual(spec.cluster, { placement: ["n1", "n2"] });
  const any = readConfig({ entities: { web: { cluster: true, command: ["/x"] } } })[0];
  assert.deepEqual(any.cluster, { placement: [] });
  assert.equal(readConfig({ entities: { web: { command: ["/x"] } } })[0].cluster, undefined);
  const written = toConfigData([spec]) as { entities: Record<string, Record<string, unknown>> };
  assert.equal(written.entities.web.cluster, true);
  assert.deepEqual(written.entities.web.placement, ["n1", "n2"]);
  assert.deepEqual(readConfig(written), [spec]);
});

Deno.test("readConfig() names the key of a bad cluster entity", () => {
  const cases: Array<[Record<string, unknown>, string, RegExp]> = [
    [{ web: { placement: ["n1"], command: ["/x"] } }, "placement", /needs cluster: true/],
    [{ web: { cluster: "yes", command: ["/x"] } }, "cluster", /true or false/],
    [{ web: { cluster: true } }, "cluster", /needs a command/],
    [{ web: { cluster: true, command: ["/x"], placement: ["a b"] } }, "placement", /node name/],
    [{ "@global": { cluster: true } }, "cluster", /is local/],
  ];
  for (const [entities, last, message] of cases) {
    assert.throws(() => readConfig({ entities }), (err) => {
      assert.ok(err instanceof ConfigError, String(err));
      assert.ok(err.key.includes(last), `${JSON.stringify(entities)}: ${err.key.join(".")}`);
      assert.match(err.message, message);
      return true;
    });
  }
});

Deno.test("readConfig() reads an execute's timeout, and toConfigData() writes it only when given", () => {
  const data = {
    entities: {
      web: {
        command: ["/bin/sleep", "1000"],
        conditions: {
          death: {
            type: "death",
            actions: {
              hook: {
                kind: "execute",
                command: ["/bin/hook"],
                timeout: "30s",
                fails: { undo: { kind: "execute", command: ["/bin/undo"], timeout: 0 } },
              },
              plain: { kind: "execute", command: ["/bin/plain"] },
            },
          },
        },
      },
    },
  };
  const specs = readConfig(data);
  const [hook, plain] = specs[0].conditions[0].actions;
  assert.deepEqual(hook.params, { kind: "execute", argv: ["/bin/hook"], timeoutMs: 30_000 });
  assert.deepEqual(hook.fails[0].params, { kind: "execute", argv: ["/bin/undo"], timeoutMs: 0 });
  assert.deepEqual(plain.params, { kind: "execute", argv: ["/bin/plain"] });
  const written = toConfigData(specs) as {
    entities: { web: { conditions: { death: { actions: Record<string, unknown> } } } };
  };
  assert.deepEqual(written.entities.web.conditions.death.actions, {
    hook: {
      kind: "execute",
      command: ["/bin/hook"],
      timeout: "30s",
      fails: { undo: { kind: "execute", command: ["/bin/undo"], timeout: "0ms" } },
    },
    plain: { kind: "execute", command: ["/bin/plain"] },
  });
  assert.deepEqual(readConfig(written), specs);
});

Deno.test("readConfig() names the key of an absurd execute timeout or heartbeat number", () => {
  const entity = (e: Record<string, unknown>) => ({ entities: { web: { command: ["/x"], ...e } } });
  const hook = (timeout: unknown) =>
    entity({
      conditions: {
        death: { type: "death", actions: { hook: { kind: "execute", command: ["/h"], timeout } } },
      },
    });
  const cases: Array<[unknown, string]> = [
    [hook(-1), "entities.web.conditions.death.actions.hook.timeout"],
    [hook("1e999"), "entities.web.conditions.death.actions.hook.timeout"],
    [hook(Infinity), "entities.web.conditions.death.actions.hook.timeout"],
    [hook(NaN), "entities.web.conditions.death.actions.hook.timeout"],
    [hook("9007199254740992"), "entities.web.conditions.death.actions.hook.timeout"],
    [entity({ heartbeat: { period: 2 ** 53 } }), "entities.web.heartbeat.period"],
    [entity({ heartbeat: { period: "-5s" } }), "entities.web.heartbeat.period"],
    [entity({ heartbeat: { period: NaN } }), "entities.web.heartbeat.period"],
    [entity({ heartbeat: { period: "1s", low: NaN } }), "entities.web.heartbeat"],
    [entity({ heartbeat: { period: "1s", high: Infinity } }), "entities.web.heartbeat"],
    [entity({ heartbeat: { period: "1s", low: -1 } }), "entities.web.heartbeat"],
    [entity({ heartbeat: { period: "1s", low: "2" } }), "entities.web.heartbeat"],
  ];
  for (const [data, key] of cases) {
    assert.throws(
      () => readConfig(data),
      (err) => err instanceof ConfigError && err.code === "EINVAL" && err.key.join(".") === key,
      `${JSON.stringify(data)} (${key})`,
    );
  }
});
