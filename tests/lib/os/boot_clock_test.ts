import { deepEqual as assertEquals, ok as assert } from "node:assert/strict";
import { bootTime, parseUptime } from "../../../lib/os/boot_clock.ts";

Deno.test("parseUptime() reads the seconds since boot of /proc/uptime in ms", () => {
  assertEquals(parseUptime("20167.42 39871.05\n"), 20_167_420);
  assertEquals(parseUptime("0.07 0.00\n"), 70);
  assertEquals(parseUptime(""), null);
  assertEquals(parseUptime("12 34\n"), null);
});

Deno.test("bootTime() moves with the monotonic clock and keeps its boot ID", async () => {
  // Each reading bracketed by the monotonic clock: a preemption between a reading and its
  // bracket widens the bounds instead of failing the test.
  const t0 = performance.now();
  const a = bootTime();
  const t1 = performance.now();
  assert(a !== null);
  assert(/^[0-9a-f-]{36}$/.test(a.bootId), a.bootId);
  await new Promise((r) => setTimeout(r, 50));
  const t2 = performance.now();
  const b = bootTime()!;
  const t3 = performance.now();
  assertEquals(b.bootId, a.bootId);
  // Each reading is rounded down to 10 ms.
  const moved = b.ms - a.ms;
  assert(moved >= t2 - t1 - 10 && moved <= t3 - t0 + 10, `${moved} in ${t2 - t1}..${t3 - t0}`);
});
