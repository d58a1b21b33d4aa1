/**
 * A HAM and its Guardian trim their memory once quiet after start-up (`lib/os/quiet_trim.ts`):
 * each logs the trim, and its V8 heap is smaller after it, which it can only be when the
 * daemon runs with `--expose-gc` (bin/ham for the HAM, `selfCommand()` for the Guardian).
 */

import { ok } from "node:assert/strict";
import { HamProcess, until } from "../support/ham_process.ts";
import { assertStillWorks } from "../support/still_works.ts";

/** The V8 heap before and after a daemon's first trim, in MiB, once it is logged. */
function trimmed(log: string, who: "HAM" | "Guardian"): [number, number] | null {
  const m = new RegExp(
    `debug: ${who} \\d+: quiet, trimmed its memory in [\\d.]+ ms \\(V8 heap ([\\d.]+) → ([\\d.]+) MiB\\)`,
  ).exec(log);
  return m ? [Number(m[1]), Number(m[2])] : null;
}

Deno.test("the HAM and its Guardian trim their memory once quiet, and go on working", async () => {
  await using ham = await HamProcess.start();
  const [hamBefore, hamAfter] = await until(
    () => Promise.resolve(trimmed(ham.log(), "HAM")),
    "the HAM's trim",
  );
  const [guardianBefore, guardianAfter] = await until(
    () => Promise.resolve(trimmed(ham.log(), "Guardian")),
    "the Guardian's trim",
  );
  ok(hamAfter < hamBefore, `HAM: V8 heap ${hamBefore} → ${hamAfter} MiB`);
  ok(guardianAfter < guardianBefore, `Guardian: V8 heap ${guardianBefore} → ${guardianAfter} MiB`);

  await assertStillWorks(ham);
});
