import { deepEqual as assertEquals, throws } from "node:assert/strict";
import { DEFAULTS } from "../../../lib/core/defaults.ts";
import { formatDuration, parseDuration } from "../../../lib/core/duration.ts";

Deno.test("parseDuration() accepts us, ms, s, m, h, d and bare milliseconds", () => {
  const cases: [string | number, number][] = [
    ["500us", 1],
    ["1500us", 2],
    ["250", 250],
    ["250ms", 250],
    ["1.5s", 1500],
    ["1m", 60_000],
    ["1h", 3_600_000],
    ["2d", 172_800_000],
    [0, 0],
    [42, 42],
  ];
  for (const [text, ms] of cases) assertEquals(parseDuration(text, "--x"), ms);
});

Deno.test("parseDuration() names the option for a negative or malformed duration", () => {
  for (const bad of ["-1s", "5x", "", "1 h", "s", -3]) {
    throws(() => parseDuration(bad, "--timeout"), /Invalid duration .* for --timeout/);
  }
});

Deno.test("parseDuration() refuses a duration longer than DEFAULTS.maxDurationMs, naming the option", () => {
  const max = DEFAULTS.maxDurationMs;
  assertEquals(parseDuration(`${max}`, "--x"), max);
  assertEquals(parseDuration("24d", "--x"), 24 * 86_400_000);
  for (const bad of [`${max + 1}`, "25d", "1000d", max + 1]) {
    throws(() => parseDuration(bad, "--delay"), /Invalid duration .* for --delay: longer than/);
  }
  throws(() => parseDuration("2s", "--x", 1000), /longer than the longest accepted, 1000 ms/);
});

Deno.test("formatDuration() writes the largest unit that divides", () => {
  assertEquals([3_600_000, 90_000, 250, 0, 60_000].map(formatDuration), [
    "1h",
    "90s",
    "250ms",
    "0ms",
    "1m",
  ]);
});
