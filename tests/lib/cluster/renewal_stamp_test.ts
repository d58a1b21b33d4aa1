import { deepEqual as assertEquals, ok as assert } from "node:assert/strict";
import { renewalAge, renewalStampFile, RenewalStamps } from "../../../lib/cluster/renewal_stamp.ts";
import { bootTime } from "../../../lib/os/boot_clock.ts";

Deno.test("renewalAge() is at least the time since the recorded renewal was sent", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ham-stamp-" });
  try {
    const stamps = new RenewalStamps(dir);
    const sent = performance.now() - 300; // A renewal sent 300 ms ago.
    stamps.record("7", sent);
    await stamps.flushed();
    // Its age when it is read: at least the time that had passed when the read began (it
    // may be up to 10 ms more: the boot clock is read to 10 ms), at most what has passed
    // once it is over, plus that rounding.
    const before = performance.now() - sent;
    const age = await renewalAge(dir, "7");
    const after = performance.now() - sent;
    assert(age !== null && age >= before && age <= after + 30, `${age} for ${before}..${after}`);
    // Another lease's stamp tells nothing of this one.
    assertEquals(await renewalAge(dir, "8"), null);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("renewalAge() is null for a stamp of another boot, or none, or a torn one", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ham-stamp-" });
  try {
    assertEquals(await renewalAge(dir, "7"), null);
    const now = bootTime()!;
    const stamp = { lease: "7", bootId: "0".repeat(36), sentAt: now.ms - 100 };
    await Deno.writeTextFile(renewalStampFile(dir), JSON.stringify(stamp));
    assertEquals(await renewalAge(dir, "7"), null);
    await Deno.writeTextFile(renewalStampFile(dir), JSON.stringify(stamp).slice(0, 20));
    assertEquals(await renewalAge(dir, "7"), null);
    // From the future of this boot (before a reboot, its uptime was longer): unknown.
    const later = { ...stamp, bootId: now.bootId, sentAt: now.ms + 60_000 };
    await Deno.writeTextFile(renewalStampFile(dir), JSON.stringify(later));
    assertEquals(await renewalAge(dir, "7"), null);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
