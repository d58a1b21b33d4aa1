import assert from "node:assert/strict";
import process from "node:process";
import { systemClock } from "../../../lib/os/clock.ts";

Deno.test("systemClock.sleep() of a negative time resolves at once without a warning on stderr", async () => {
  const warnings: string[] = [];
  const listener = (w: Error) => warnings.push(w.name);
  process.on("warning", listener);
  try {
    assert.equal(await systemClock.sleep(-5), true);
    // A warning is emitted on a later tick.
    await new Promise((r) => setTimeout(r, 10));
  } finally {
    process.off("warning", listener);
  }
  assert.deepEqual(warnings, []);
});

Deno.test("systemClock.sleep() resolves false when aborted", async () => {
  const stop = new AbortController();
  const slept = systemClock.sleep(60_000, stop.signal);
  stop.abort();
  assert.equal(await slept, false);
});
