import { deepEqual as assertEquals, ok as assert } from "node:assert/strict";
import { bootTime, parseUptime } from "../../../lib/os/boot_clock.ts";

Deno.test("parseUptime() reads the seconds since boot of /proc/uptime in ms", () => {
  assertEquals(parseUptime("20167.42 39871.05\n"), 20_167_420);
  assertEquals(parseUptime("0.07 0.00\n"), 70);
  assertEquals(parseUptime(""), null);
  assertEquals(parseUptime("12 34\n"), null);
});

Deno.test("bootTime() moves with the monotonic clock and keeps its boot ID", async () => {
  const a = bootTime();
  assert(a !== null);
  assert(/^[0-9a-f-]{36}$/.test(a.bootId), a.bootId);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, 50));
  const b = bootTime()!;
  const elapsed = performance.now() - t0;
  assertEquals(b.bootId, a.bootId);
  // Each reading is rounded down to 10 ms.
  assert(b.ms - a.ms >= elapsed - 15 && b.ms - a.ms <= elapsed + 15, `${b.ms - a.ms} ${elapsed}`);
});
