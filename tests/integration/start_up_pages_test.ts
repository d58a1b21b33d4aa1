/**
 * A HAM and its Guardian drop the start-up pages of the Deno executable
 * (`lib/os/start_up_pages.ts`) 2 s after they start, and go on working: the HAM starts,
 * watches and restarts a process afterwards, and the Guardian takes over.
 */

import { ok } from "node:assert/strict";
import { HamProcess, until } from "../support/ham_process.ts";
import { assertStillWorks } from "../support/still_works.ts";

/** The KiB a process's "dropped" log line reports, once it is logged. */
function dropped(log: string, who: "HAM" | "Guardian"): number | null {
  const m = new RegExp(`debug: ${who} \\d+: dropped (\\d+) KiB of start-up pages`).exec(log);
  return m ? Number(m[1]) : null;
}

Deno.test("the HAM and its Guardian drop their start-up pages and go on working", async () => {
  await using ham = await HamProcess.start();
  const hamKiB = await until(
    () => Promise.resolve(dropped(ham.log(), "HAM")),
    "the HAM's dropped pages",
  );
  const guardianKiB = await until(
    () => Promise.resolve(dropped(ham.log(), "Guardian")),
    "the Guardian's dropped pages",
  );
  ok(hamKiB > 1024 && guardianKiB > 1024, `HAM ${hamKiB} KiB, Guardian ${guardianKiB} KiB`);

  // Code that has not run since: attach, death, restart, status, takeover.
  await assertStillWorks(ham);
});
