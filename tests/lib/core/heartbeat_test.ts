import assert from "node:assert/strict";
import { type BeatState, periodEnd, tick } from "../../../lib/core/heartbeat.ts";
import type { HeartbeatSpec } from "../../../lib/core/model.ts";

const HB: HeartbeatSpec = { periodMs: 10, low: 2, high: 4 };
const HEALTHY: BeatState = { missed: 0, health: "healthy" };

/** Runs `n` period ends with the given beats (true = a beat was seen in that period). */
function run(spec: HeartbeatSpec, beats: boolean[], start: BeatState = HEALTHY) {
  let s = start;
  const fired: string[] = [];
  beats.forEach((beat, i) => {
    const r = tick(spec, s, beat);
    s = r.next;
    for (const f of r.fire) fired.push(`${f}@${i + 1}`);
  });
  return { state: s, fired };
}

Deno.test("periodEnd() returns the end of the first period when t is the origin", () => {
  assert.equal(periodEnd(0, 10, 0), 10);
  assert.equal(periodEnd(1000, 10, 1000), 1010);
});

Deno.test("periodEnd() returns the same end when t is just before it", () => {
  assert.equal(periodEnd(0, 10, 9), 10);
  assert.equal(periodEnd(0, 10, 9.999), 10);
  assert.equal(periodEnd(5, 10, 14), 15);
});

Deno.test("periodEnd() returns the next end when t is exactly on a period end", () => {
  assert.equal(periodEnd(0, 10, 10), 20);
  assert.equal(periodEnd(5, 10, 15), 25);
  assert.equal(periodEnd(0, 10, 40), 50);
});

Deno.test("periodEnd() returns the origin's first end when t is before the origin", () => {
  assert.equal(periodEnd(100, 10, 95), 100);
});

Deno.test("periodEnd() is always after t when the period is 1 ms", () => {
  for (let t = 0; t < 50; t++) assert.equal(periodEnd(0, 1, t), t + 1);
});

Deno.test("tick() counts a miss when no beat was seen in the period", () => {
  assert.deepEqual(tick(HB, HEALTHY, false), { next: { missed: 1, health: "healthy" }, fire: [] });
});

Deno.test("tick() resets the miss count and keeps the latched health when a beat was seen", () => {
  assert.deepEqual(tick(HB, { missed: 3, health: "missed-low" }, true), {
    next: { missed: 0, health: "missed-low" },
    fire: [],
  });
});

Deno.test("tick() fires hb-missed-low at low and hb-missed-high at high exactly once when beats never come", () => {
  const r = run(HB, Array(10).fill(false));
  assert.deepEqual(r.fired, ["hb-missed-low@2", "hb-missed-high@4"]);
  assert.deepEqual(r.state, { missed: 10, health: "missed-high" });
});

Deno.test("tick() fires both in order at the same period end when low = high", () => {
  const r = run({ periodMs: 10, low: 3, high: 3 }, Array(5).fill(false));
  assert.deepEqual(r.fired, ["hb-missed-low@3", "hb-missed-high@3"]);
});

Deno.test("tick() never fires hb-missed-low when low is 0", () => {
  assert.deepEqual(run({ periodMs: 10, low: 0, high: 2 }, Array(5).fill(false)).fired, [
    "hb-missed-high@2",
  ]);
});

Deno.test("tick() never fires hb-missed-high when high is 0", () => {
  assert.deepEqual(run({ periodMs: 10, low: 2, high: 0 }, Array(5).fill(false)).fired, [
    "hb-missed-low@2",
  ]);
});

Deno.test("tick() never fires when both thresholds are 0", () => {
  const r = run({ periodMs: 10, low: 0, high: 0 }, Array(5).fill(false));
  assert.deepEqual(r.fired, []);
  assert.deepEqual(r.state, { missed: 5, health: "healthy" });
});

Deno.test("tick() needs consecutive misses when a beat comes in between", () => {
  assert.deepEqual(run(HB, [false, true, false, true, false, true]).fired, []);
  assert.deepEqual(run(HB, [false, true, false, false]).fired, ["hb-missed-low@4"]);
});

Deno.test("tick() does not fire low again when the health is latched and misses start over", () => {
  const r = run(HB, [false, false, true, false, false, false, false]);
  assert.deepEqual(r.fired, ["hb-missed-low@2", "hb-missed-high@7"]);
});

Deno.test("tick() fires low again when a heartbeat-healthy reset cleared the latch", () => {
  const first = run(HB, [false, false]);
  assert.deepEqual(first.fired, ["hb-missed-low@2"]);
  const again = run(HB, [false, false], { missed: 0, health: "healthy" });
  assert.deepEqual(again.fired, ["hb-missed-low@2"]);
});

Deno.test("tick() fires only high when the health is already missed-low", () => {
  assert.deepEqual(tick(HB, { missed: 3, health: "missed-low" }, false).fire, ["hb-missed-high"]);
});

Deno.test("tick() fires nothing when the health is already missed-high", () => {
  assert.deepEqual(tick(HB, { missed: 9, health: "missed-high" }, false).fire, []);
});

Deno.test("tick() fires both when a state past both thresholds is still healthy", () => {
  assert.deepEqual(tick(HB, { missed: 7, health: "healthy" }, false).fire, [
    "hb-missed-low",
    "hb-missed-high",
  ]);
});
