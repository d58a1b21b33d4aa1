/**
 * Attach and heartbeats at their edges, with real processes: a process attached under a
 * second name, pids that end or are handed out again around an attach, zombies, threads,
 * protected pids, beats from the wrong caller, and absurd numbers through `hamctl`,
 * `mod.ts` and config files.
 */

import { deepEqual as assertEquals, match as assertMatch, ok as assert } from "node:assert/strict";
import { connect } from "../../mod.ts";
import { HamError } from "../../lib/core/errors.ts";
import { HamProcess } from "../support/ham_process.ts";
import { startSelfAttached } from "../support/fault_self_attach.ts";

const code = (c: string) => (err: unknown) => err instanceof HamError && err.code === c;

Deno.test("a self-attached process is one entity: a second name gets EEXIST, from attachSelf and hamctl attach --pid", async () => {
  await using ham = await HamProcess.start({ guardian: false });
  await using me = await connect({ stateDir: ham.stateDir, client: "test" });
  await me.attachSelf("first");
  await assertRejectsWith(me.attachSelf("second"), "EEXIST", /pid \d+ is already entity "first"/);
  // hamctl attach --pid of a self-attached process (another one: this test's process is
  // the HAM's ancestor, protected).
  await using other = await startSelfAttached(ham.stateDir, "other");
  const byPid = await ham.ctl("attach", "third", "--pid", String(other.pid));
  assertEquals(byPid.code, 6, byPid.stderr);
  assertMatch(byPid.stderr, /^hamctl: EEXIST: .*self-attached as entity "other"/);
  const names = (await ham.status()).entities.map((e) => e.name).filter((n) => n !== "@global");
  assertEquals(names.sort(), ["first", "other"]);
  // The same name again is the process's re-attach, as before.
  assertEquals((await me.attachSelf("first")).name, "first");
  await me.detachSelf("first");
  // Once detached, the process may self-attach under another name.
  assertEquals((await me.attachSelf("second")).name, "second");
  await me.detachSelf("second");
});

async function assertRejectsWith(p: Promise<unknown>, c: string, message: RegExp): Promise<void> {
  const err = await p.then(() => null, (e) => e);
  assert(code(c)(err), `expected ${c}, got ${err}`);
  assertMatch((err as HamError).message, message);
}

Deno.test("hamctl apply of an entity whose heartbeat has no threshold applies it and warns on stderr", async () => {
  await using ham = await HamProcess.start({ guardian: false });
  const file = `${ham.stateDir}.yaml`;
  await Deno.writeTextFile(
    file,
    "entities:\n  w:\n    command: [/bin/sleep, '1000']\n    heartbeat: { period: 1s }\n",
  );
  try {
    const r = await ham.ctl("apply", file);
    assertEquals([r.code, r.stdout.trim()], [0, "create w"], r.stderr);
    assertEquals(r.stderr.trim().split("\n"), [
      `hamctl: warning: ${file}: Entity "w" has a heartbeat every 1000 ms with neither a low ` +
      "nor a high threshold: a missed beat fires no condition (missed periods are only counted)",
    ]);
    assertEquals((await ham.ok("status", "w", "--json")).heartbeat?.periodMs, 1000);
    assertMatch(ham.log(), /Entity "w" has a heartbeat every 1000 ms with neither/);
  } finally {
    await Deno.remove(file);
  }
});
