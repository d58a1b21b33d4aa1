import * as assert from "node:assert/strict";
import { decideRestart, POLICY_DEFAULTS } from "../../../lib/core/restart_policy.ts";

const P = {
  ...POLICY_DEFAULTS,
  backoffMs: 100,
  maxBackoffMs: 1000,
  intensity: 5,
  windowMs: 10_000,
};

Deno.test("decideRestart() restarts at once when there is no policy", () => {
  assert.deepEqual(decideRestart(null, [1, 2, 3], 4, 0.5), { kind: "now" });
});

Deno.test("decideRestart() restarts at once when the window is quiet", () => {
  assert.deepEqual(decideRestart(P, [0], 20_000, 0.5), { kind: "now" });
});

Deno.test("decideRestart() doubles the backoff per restart within the window, capped", () => {
  const now = 50_000;
  const delays = [1, 2, 3, 4].map((k) => {
    const d = decideRestart({ ...P, intensity: 0 }, Array(k).fill(now - 1), now, 0.5);
    return d.kind === "backoff" ? d.delayMs : -1;
  });
  assert.deepEqual(delays, [100, 200, 400, 800]);
  const capped = decideRestart({ ...P, intensity: 0 }, Array(9).fill(now - 1), now, 0.5);
  assert.deepEqual(capped, { kind: "backoff", delayMs: 1000 });
});

Deno.test("decideRestart() spreads the backoff by the jitter fraction", () => {
  const j = { ...P, intensity: 0, jitter: 0.5 };
  assert.deepEqual(decideRestart(j, [99], 100, 0), { kind: "backoff", delayMs: 50 });
  assert.deepEqual(decideRestart(j, [99], 100, 0.999999), { kind: "backoff", delayMs: 150 });
});

Deno.test("decideRestart() hits the limit when intensity restarts happened within the window", () => {
  const d = decideRestart(P, [1, 2, 3, 4, 5], 6, 0.5);
  assert.equal(d.kind, "limit");
  if (d.kind === "limit") assert.match(d.reason, /5 restarts within 10000 ms \(limit 5\)/);
  assert.equal(decideRestart(P, [1, 2, 3, 4, 5], 10_002, 0.5).kind, "backoff", "old ones age out");
});
