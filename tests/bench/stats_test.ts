import * as assert from "node:assert/strict";
import { aboveFloor, figure, withFloor } from "../../bench/stats.ts";

const ms = (id: string, samples: number[]) =>
  figure({ id, label: id, unit: "ms", target: null }, samples);

Deno.test("withFloor() relates a figure to its floor by ratio, and decides the target", () => {
  const restart = ms("restart.running", [1.5, 1.6, 1.7]);
  const f = withFloor(restart, ms("spawn", [1.0]), { median: 1.25, p95: 2, text: "t" });
  assert.ok(Math.abs(f.floor!.ratio - 1.6) < 1e-9);
  assert.ok(Math.abs(f.floor!.p95Ratio - 1.7) < 1e-9);
  assert.equal(f.met, false);
  assert.equal(withFloor(restart, ms("spawn", [1.4]), { median: 1.25, text: "t" }).met, true);
});

Deno.test("aboveFloor() relates a figure to its floor by difference", () => {
  const f = aboveFloor(ms("death", [0.7, 0.8, 0.9]), ms("pidfd", [0.35]), 0.5, "t");
  assert.ok(Math.abs(f.floor!.excess! - 0.45) < 1e-9);
  assert.equal(f.met, true);
  assert.equal(aboveFloor(ms("death", [0.9]), ms("pidfd", [0.35]), 0.5, "t").met, false);
});
