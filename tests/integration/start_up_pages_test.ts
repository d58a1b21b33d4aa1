/**
 * A HAM and its Guardian drop the start-up pages of the Deno executable
 * (`lib/os/start_up_pages.ts`) 2 s after they start, and go on working: the HAM starts,
 * watches and restarts a process afterwards, and the Guardian takes over.
 */

import { ok } from "node:assert/strict";
import { HamProcess, until } from "../support/ham_process.ts";

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
  const since = await ham.seq();
  await ham.ok("attach", "w", "--", "/bin/sleep", "1000");
  await ham.ok("condition", "w/death", "death");
  await ham.ok("action", "w/death/again", "restart");
  const first = (await ham.ok("status", "w", "--json")).pid as number;
  Deno.kill(first, "SIGKILL");
  await ham.waitEvent("w", "restarted", since);
  const old = await ham.hamPid();
  await ham.killHam("SIGKILL");
  await until(async () => (await ham.hamPid().catch(() => old)) !== old || null, "a takeover");
  const st = await ham.ok("status", "w", "--json");
  ok(st.pid !== first && st.pid !== null, `running again: ${st.pid}`);
});
