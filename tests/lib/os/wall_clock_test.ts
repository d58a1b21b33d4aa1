import { deepEqual as assertEquals, ok as assert } from "node:assert/strict";
import { makeWallClock, wallClockMs } from "../../../lib/os/wall_clock.ts";

Deno.test("wallClockMs stays within a tick of Date.now() and has microseconds", () => {
  let fractions = 0;
  for (let i = 0; i < 2000; i++) {
    const before = Date.now();
    const t = wallClockMs();
    const after = Date.now();
    assert(t >= before - 1 && t < after + 2, `${t} outside [${before}, ${after}]`);
    assertEquals(Math.round(t * 1000) / 1000, t);
    if (t % 1 !== 0) fractions++;
  }
  assert(fractions > 0, "never a fraction of a millisecond");
});

Deno.test("makeWallClock follows the monotonic clock and re-anchors on a clock step", () => {
  let mono = 100.25;
  let coarse = 1_000_100;
  const clock = makeWallClock({ mono: () => mono, coarse: () => coarse, origin: 1_000_000 });
  assertEquals(clock(), 1_000_100.25);
  mono = 100.7504;
  assertEquals(clock(), 1_000_100.75);
  // The system clock is stepped back by 10 s: the stamps follow it at once.
  mono = 101.5;
  coarse = 990_101;
  assertEquals(clock(), 990_101.5);
  mono = 101.9;
  assertEquals(clock(), 990_101.9);
  // Stepped forward.
  mono = 102.2;
  coarse = 995_000;
  assertEquals(clock(), 995_000.5);
  mono = 102.4;
  assertEquals(clock(), 995_000.7);
});
