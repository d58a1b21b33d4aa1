/**
 * The library's request builders: state sets.
 */

import * as assert from "node:assert/strict";
import { HamError } from "../../../lib/core/errors.ts";
import { stateField, stateSet } from "../../../lib/core/requests.ts";

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
