/**
 * Heartbeat bookkeeping writes transitions, not ticks: 10 entities with 10 ms heartbeats that
 * never beat add a few records each (missed-low, missed-high), not one per missed period.
 * (Not the 20 × 1 ms: 20,000 timer wake-ups a second starve a HAM on a loaded CI
 * machine, which is the heartbeat-cost item's business, not this one's.)
 */

import { equal, ok } from "node:assert/strict";
import { HamProcess, until } from "../support/ham_process.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

async function journalBytes(stateDir: string): Promise<number> {
  let n = 0;
  for await (const e of Deno.readDir(`${stateDir}/journal`)) {
    n += (await Deno.stat(`${stateDir}/journal/${e.name}`)).size;
  }
  return n;
}

Deno.test("ham journals heartbeat transitions, not each missed period", opts, async () => {
  await using ham = await HamProcess.start({ guardian: false });
  {
    await using c = await ham.client();
    for (let i = 0; i < 10; i++) {
      await c.request("attach", {
        entity: `hb${i}`,
        argv: ["/bin/sleep", "1000"],
        pid: null,
        cwd: null,
        env: null,
        flags: 0,
        heartbeat: { periodMs: 10, low: 2, high: 4 },
      });
    }
  }
  // Every one has crossed both thresholds...
  await until(async () => {
    const s = await ham.status();
    return s.entities.every((e) => e.heartbeat?.health === "missed-high") || null;
  }, "10 entities to miss high");
  const before = await journalBytes(ham.stateDir);
  // ...and then misses hundreds more periods each, which status shows as they happen.
  const s = await until(
    async () => {
      const s = await ham.status();
      return s.entities.every((e) => (e.heartbeat?.missed ?? 0) >= 150) ? s : null;
    },
    "150 more missed periods each",
    30_000,
  );
  equal(s.entities.length, 10);
  const grown = (await journalBytes(ham.stateDir)) - before;
  // 10 × 150 periods: one record each would be 1,500 records (about 150 KiB).
  ok(grown < 2048, `the journal grew by ${grown} bytes over 1,500 missed periods`);
  const text = await ham.ok("status", "hb0");
  ok(/Missed Heartbeats +: \d{3,}/.test(text), text);
});
