/**
 * The check that a HAM still does its job after something was done to it (its start-up
 * pages dropped, its memory trimmed): it attaches a command, restarts it when killed, and
 * its Guardian takes over with the entity still running.
 *
 * @module
 */

import { ok } from "node:assert/strict";
import { type HamProcess, until } from "./ham_process.ts";

/** Attach, death, restart, status and a takeover: code the HAM may not have run yet. */
export async function assertStillWorks(ham: HamProcess): Promise<void> {
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
}
