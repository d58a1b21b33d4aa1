/**
 * The library's request builders: state sets, and numbers JSON cannot carry.
 */

import * as assert from "node:assert/strict";
import { HamError } from "../../../lib/core/errors.ts";
import { checkFinite, stateField, stateSet } from "../../../lib/core/requests.ts";

Deno.test("stateSet() makes bit n of state n, and refuses a state outside 0–31", () => {
  assert.equal(stateSet([0, 3, 31]), (1 | 8 | 2 ** 31) >>> 0);
  assert.equal(stateField({ set: [1, 2] }, "to").value, 6);
  for (const bad of [32, 33, -1, 1.5, Number.NaN]) {
    assert.throws(
      () => stateSet([bad]),
      (e) => e instanceof HamError && e.code === "EINVAL" && e.message.includes(`${bad}`),
    );
  }
});

Deno.test("checkFinite() throws EINVAL naming the field of a NaN or an infinity, at any depth", () => {
  const refused = (fields: object, field: string) =>
    assert.throws(
      () => checkFinite("attach", fields),
      (err) =>
        err instanceof HamError && err.code === "EINVAL" && err.message.includes(`"${field}"`),
    );
  refused({ pid: NaN }, "pid");
  refused({ heartbeat: { periodMs: 1000, low: NaN, high: 2 } }, "heartbeat.low");
  refused({ heartbeat: { periodMs: Infinity } }, "heartbeat.periodMs");
  refused({ policy: { windowMs: -Infinity } }, "policy.windowMs");
  refused({ list: [1, 2, NaN] }, "list.2");
  // What JSON carries as it is goes through (the HAM judges its range).
  checkFinite("attach", {
    pid: -1,
    heartbeat: { periodMs: 2 ** 53, low: 0, high: 0 },
    argv: ["x"],
  });
  checkFinite("ping", {});
});
