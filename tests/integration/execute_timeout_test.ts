/**
 * The time limit of `execute` actions, with real processes: a hung command is ended
 * (SIGTERM, then SIGKILL after `executeStopTimeoutMs`) with what it forked, its action
 * fails with ETIMEDOUT and its fail list runs; a command in flight when the HAM dies is
 * waited for by the HAM that takes over (within what is left of its limit), never started
 * again.
 */

import { deepEqual as assertEquals, match as assertMatch, ok as assert } from "node:assert/strict";
import { DEFAULTS } from "../../lib/core/defaults.ts";
import type { HamEvent } from "../../lib/core/protocol.ts";
import { alive, HamProcess, until } from "../support/ham_process.ts";

/** The pids a command wrote to `file`, one a line. */
async function pidsIn(file: string): Promise<number[]> {
  const text = await Deno.readTextFile(file).catch(() => "");
  return text.split("\n").filter((l) => l !== "").map(Number);
}

/** The first pid a command wrote to `file`, once one did. */
function firstPid(file: string): Promise<number> {
  return until(async () => (await pidsIn(file))[0], `a pid in ${file}`);
}

const isAction = (action: string) => (ev: HamEvent) =>
  ev.type === "action" && ev.entity === "w" && ev.action === action;

Deno.test("hamctl action execute --timeout ends a hung command and what it forked, fails it with ETIMEDOUT and runs its fail list", async () => {
  await using ham = await HamProcess.start({ guardian: false });
  const file = `${ham.stateDir}.pids`;
  try {
    await ham.ok("attach", "w", "--", "/bin/sleep", "1000");
    await ham.ok("condition", "w/c", "raise", "--rearm", "--keep-on-empty");
    await ham.ok(
      "action",
      "w/c/hook",
      "execute",
      "--timeout",
      "300ms",
      "--",
      "/bin/sh",
      "-c",
      // Its pid, then its child's.
      `echo $$ >> ${file}; sleep 1000 & echo $! >> ${file}; wait`,
    );
    await ham.ok("action-fail", "w/c/hook", "note", "log", "--message", "hook timed out");
    const hook = await ham.ok("status", "w/c/hook", "--json");
    assertEquals(hook.params.timeoutMs, 300);
    const since = await ham.seq();
    await ham.ok("raise", "w");
    const [sh, sleep] = await until(async () => {
      const pids = await pidsIn(file);
      return pids.length === 2 ? pids : null;
    }, "the command's pid and its child's");
    const failed = await ham.nextEvent(isAction("hook"), since, "the hook's outcome");
    assertEquals(failed.detail, { kind: "execute", ok: false, error: "ETIMEDOUT" });
    const note = await ham.nextEvent(
      (ev) => ev.type === "action-fail" && ev.action === "hook/note",
      since,
      "the fail list",
    );
    assertEquals(note.detail, { kind: "log", ok: true });
    assert(!alive(sh), "the command is gone");
    assert(!alive(sleep), "what it forked is gone");
    assertMatch(
      ham.log(),
      /Action "w\/c\/hook" failed: ETIMEDOUT: "\/bin\/sh" \(pid \d+\) still ran after its time limit of 300 ms/,
    );
    assertMatch(ham.log(), /hook timed out/);
  } finally {
    await Deno.remove(file).catch(() => {});
    await Deno.remove(`${file}.child`).catch(() => {});
  }
});

Deno.test("an execute that ignores SIGTERM past its time limit gets SIGKILL after executeStopTimeoutMs", async () => {
  await using ham = await HamProcess.start({ guardian: false });
  const file = `${ham.stateDir}.pids`;
  try {
    await ham.ok("attach", "w", "--", "/bin/sleep", "1000");
    await ham.ok("condition", "w/c", "raise", "--rearm");
    await ham.ok(
      "action",
      "w/c/hook",
      "execute",
      "--rearm",
      "--keep-on-fail",
      "--timeout",
      "100ms",
      "--",
      "/bin/sh",
      "-c",
      // Ignored signals stay ignored in what it forks: its sleep ignores SIGTERM too.
      `trap '' TERM; echo $$ >> ${file}; sleep 1000; true`,
    );
    const since = await ham.seq();
    const t0 = Date.now();
    await ham.ok("raise", "w");
    const sh = await firstPid(file);
    const failed = await ham.nextEvent(
      isAction("hook"),
      since,
      "the hook's outcome",
      DEFAULTS.executeStopTimeoutMs + 10_000,
    );
    const took = Date.now() - t0;
    assertEquals(failed.detail, { kind: "execute", ok: false, error: "ETIMEDOUT" });
    assert(took >= DEFAULTS.executeStopTimeoutMs, `ended after ${took} ms, before the grace`);
    assert(!alive(sh));
    assertMatch(
      ham.log(),
      /Action "w\/c\/hook": \d process\(es\) of its command still there: sending SIGKILL/,
    );
    // Kept on fail, and still there.
    assertEquals((await ham.ok("status", "w/c/hook", "--json")).failures, 1);
  } finally {
    await Deno.remove(file).catch(() => {});
    await Deno.remove(`${file}.child`).catch(() => {});
  }
});

Deno.test("an execute in flight when the HAM dies is waited for by the HAM that takes over, never started again", async () => {
  await using ham = await HamProcess.start();
  const file = `${ham.stateDir}.pids`;
  const go = `${ham.stateDir}.go`;
  try {
    await ham.ok("attach", "w", "--", "/bin/sleep", "1000");
    await ham.ok("condition", "w/c", "raise", "--rearm");
    // The hook runs until the test lets it finish.
    await ham.ok(
      "action",
      "w/c/hook",
      "execute",
      "--rearm",
      "--",
      "/bin/sh",
      "-c",
      `echo $$ >> ${file}; while [ ! -e ${go} ]; do sleep 0.05; done`,
    );
    await ham.ok("raise", "w");
    const first = await firstPid(file);
    const since = await ham.seq();
    const old = await ham.killHam("SIGKILL");
    await ham.waitTakeover(old);
    await until(
      () =>
        Promise.resolve(
          /waiting for pid \d+, the command the previous HAM started/.test(ham.log()),
        ),
      "the HAM that took over to wait for the hook",
    );
    assert(alive(first), "the previous HAM's command runs on");
    await Deno.writeTextFile(go, "");
    const done = await ham.nextEvent(isAction("hook"), since, "the step's end", 20_000);
    assertEquals(done.detail, { kind: "execute", ok: true });
    assertEquals(await pidsIn(file), [first], "started once");
  } finally {
    await Deno.remove(file).catch(() => {});
    await Deno.remove(go).catch(() => {});
  }
});

Deno.test("a helper a fail list's command left running is neither waited for nor ended by the HAM that takes over", async () => {
  await using ham = await HamProcess.start();
  const file = `${ham.stateDir}.pids`;
  const go = `${ham.stateDir}.go`;
  try {
    await ham.ok("attach", "w", "--", "/bin/sleep", "1000");
    await ham.ok("condition", "w/c", "raise", "--rearm");
    await ham.ok("action", "w/c/a", "execute", "--rearm", "--", "/bin/sh", "-c", "exit 1");
    // The fail list's command starts a helper in the background (its pid written) and ends.
    await ham.ok(
      "action-fail",
      "w/c/a",
      "f",
      "execute",
      "--timeout",
      "1s",
      "--",
      "/bin/sh",
      "-c",
      `sleep 1000 & echo $! >> ${file}`,
    );
    await ham.ok("action", "w/c/hold", "waitfor", "--rearm", "--delay", "60s", "--path", go);
    await ham.ok("action", "w/c/after", "log", "--rearm", "--message", "after the hold");
    const since = await ham.seq();
    await ham.ok("raise", "w");
    const helper = await firstPid(file);
    await ham.nextEvent(
      (ev) => ev.type === "action-fail" && ev.action === "a/f",
      since,
      "the fail list's command to end",
    );
    // The run waits at "hold" when the HAM dies.
    const old = await ham.killHam("SIGKILL");
    await ham.waitTakeover(old);
    const resumed = await ham.seq();
    await Deno.writeTextFile(go, "");
    await ham.nextEvent(isAction("after"), resumed, "the run to go on", 20_000);
    assert(alive(helper), "the helper runs on: it is not the fail list's command");
    assert(!/waiting for pid \d+, the command of action-fail/.test(ham.log()));
  } finally {
    const pids = await pidsIn(file);
    for (const pid of pids) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* gone */ }
    }
    await Deno.remove(file).catch(() => {});
    await Deno.remove(go).catch(() => {});
  }
});
