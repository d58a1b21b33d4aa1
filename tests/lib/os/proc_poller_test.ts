import assert from "node:assert/strict";
import { collectExit } from "../../../lib/os/exit_status.ts";
import { libc, WAIT } from "../../../lib/os/libc.ts";
import { processStartTime } from "../../../lib/os/proc.ts";
import { type ProcItem, ProcPoller } from "../../../lib/os/proc_poller.ts";
import { setChildSubreaper } from "../../../lib/os/process_watcher.ts";
import { startOrphans } from "../../support/orphans.ts";
import { within } from "../../support/within.ts";

/** A poller checking every 10 ms whose exits are awaited per pid. */
function recordingPoller() {
  const exits: Array<[number, boolean]> = [];
  const waiters = new Map<number, (zombie: boolean) => void>();
  const poller = new ProcPoller<ProcItem>(10, (item, zombie) => {
    exits.push([item.pid, zombie]);
    waiters.get(item.pid)?.(zombie);
  });
  const exitOf = (pid: number) => new Promise<boolean>((resolve) => waiters.set(pid, resolve));
  return { poller, exits, exitOf };
}

function startTimeOf(pid: number): string {
  const startTime = processStartTime(pid);
  assert.ok(startTime !== null);
  return startTime;
}

Deno.test("ProcPoller reports a process that became a zombie, with zombie true", async () => {
  assert.equal(setChildSubreaper(), true);
  const { poller, exits, exitOf } = recordingPoller();
  await using orphans = await startOrphans("/bin/sleep 30");
  const [pid] = orphans.pids;
  const exited = exitOf(pid);
  poller.add({ pid, startTime: startTimeOf(pid) });
  Deno.kill(pid, "SIGKILL");
  assert.equal(await within(exited, "the orphan's death"), true);
  assert.deepEqual(collectExit(libc(), WAIT.P_PID, pid), { code: null, signal: "SIGKILL" });
  assert.deepEqual(exits, [[pid, true]]);
  await poller.close();
});

Deno.test("ProcPoller reports a process whose start time differs, with zombie false", async () => {
  const { poller, exitOf } = recordingPoller();
  await using child = new Deno.Command("/bin/sleep", { args: ["30"] }).spawn();
  const exited = exitOf(child.pid);
  poller.add({ pid: child.pid, startTime: "1" });
  assert.equal(await within(exited, "the report"), false);
  await poller.close();
});

Deno.test("ProcPoller reports a process that vanished, with zombie false", async () => {
  const { poller, exitOf } = recordingPoller();
  const child = new Deno.Command("/bin/sleep", { args: ["30"] }).spawn();
  const item = { pid: child.pid, startTime: startTimeOf(child.pid) };
  child.kill("SIGKILL");
  await child.status; // Deno reaped it: the pid is gone
  const exited = exitOf(child.pid);
  poller.add(item);
  assert.equal(await within(exited, "the report"), false);
  await poller.close();
});

Deno.test("ProcPoller.delete() stops checking an item", async () => {
  const { poller, exits, exitOf } = recordingPoller();
  await using child = new Deno.Command("/bin/sleep", { args: ["30"] }).spawn();
  // Both would be reported at the first check: their start time differs.
  const deleted = { pid: child.pid, startTime: "1" };
  const kept = { pid: Deno.pid, startTime: "1" };
  poller.add(deleted);
  poller.delete(deleted);
  poller.delete(deleted);
  const exited = exitOf(Deno.pid);
  poller.add(kept);
  await within(exited, "the report");
  assert.deepEqual(exits, [[Deno.pid, false]]);
  await poller.close();
});
