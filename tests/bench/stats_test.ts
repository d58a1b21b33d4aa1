import * as assert from "node:assert/strict";
import { figure, leastRestart, withFloor } from "../../bench/stats.ts";

const ms = (id: string, samples: number[]) =>
  figure({ id, label: id, unit: "ms", target: null }, samples);

Deno.test("leastRestart() sums the two floors and says how far the restart is from it", () => {
  const restart = ms("restart.running", [1.5, 1.6, 1.7]);
  const least = leastRestart(restart, ms("pidfd", [0.3, 0.4, 0.5]), ms("spawn", [0.9, 1.0, 1.1]));
  assert.equal(least.id, "restart.least");
  assert.equal(least.n, 1);
  assert.ok(Math.abs(least.median - 1.4) < 1e-9);
  assert.match(least.note!, /1\.14× this \(\+0\.20 ms\)/);
  // The ratio stays the one to the spawn floor alone.
  assert.ok(Math.abs(withFloor(restart, ms("spawn", [1.0])).floor!.ratio - 1.6) < 1e-9);
});
