/**
 * checkConfig(): a config is refused whole, at the key of the first thing the HAM would
 * refuse, before any of it is applied.
 */

import * as assert from "node:assert/strict";
import { ConfigError, readConfig } from "../../../lib/core/config.ts";
import { checkConfig } from "../../../lib/core/config_check.ts";

function refusal(data: unknown): ConfigError | null {
  try {
    checkConfig(readConfig(data));
    return null;
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err;
  }
}

const restart = { kind: "restart" };

Deno.test("checkConfig() passes what the HAM takes", () => {
  assert.equal(
    refusal({
      entities: {
        web: {
          command: ["/bin/sleep", "1000"],
          env: { MODE: "x" },
          conditions: {
            death: { type: "death", actions: { r: restart, note: { kind: "log", message: "m" } } },
            up: { type: "state", actions: { s: { kind: "signal", signal: "USR1" } } },
          },
        },
        spare: { conditions: { attach: { type: "attach", actions: {} } } },
        "@global": { conditions: { any: { type: "death", actions: {} } } },
      },
    }),
    null,
  );
});

Deno.test("checkConfig() refuses what the HAM would refuse half-way, naming its key", () => {
  const cases: [unknown, string[], RegExp][] = [
    [
      { entities: { a: { conditions: { s: { type: "state", actions: { r: restart } } } } } },
      ["entities", "a", "conditions", "s", "actions", "r"],
      /a restart belongs on a death or abnormal-death condition, not "state"/,
    ],
    [
      {
        entities: {
          a: {
            command: ["/bin/a"],
            conditions: {
              d: { type: "death", actions: { r: restart } },
              ab: { type: "abnormal-death", actions: { r2: restart } },
            },
          },
        },
      },
      ["entities", "a", "conditions", "ab", "actions", "r2"],
      /already has restart action "a\/d\/r"/,
    ],
    [
      { entities: { a: { command: ["/bin/a"], env: { "A=B": "x" } } } },
      ["entities", "a"],
      /Invalid field "env": bad entry "A=B"/,
    ],
    [
      { entities: { a: { command: [""] } } },
      ["entities", "a"],
      /empty command/,
    ],
  ];
  for (const [data, key, re] of cases) {
    const e = refusal(data);
    assert.ok(e !== null, JSON.stringify(data));
    assert.deepEqual(e.key, key);
    assert.match(e.message, re);
  }
});
