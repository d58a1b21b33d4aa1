import assert from "node:assert/strict";
import {
  collectExit,
  decodeSiginfo,
  hasEndedChild,
  unknownStatus,
} from "../../../lib/os/exit_status.ts";
import { libc, WAIT } from "../../../lib/os/libc.ts";
import { ProcessWatcher, setChildSubreaper } from "../../../lib/os/process_watcher.ts";
import { startOrphans } from "../../support/orphans.ts";
import { within } from "../../support/within.ts";

const CLD_EXITED = 1;
const CLD_KILLED = 2;
const CLD_DUMPED = 3;
const CLD_STOPPED = 5;

/** An x86-64 `siginfo_t` as `waitid()` fills it for a child. */
function siginfo(code: number, pid: number, status: number): Uint8Array {
  const info = new Uint8Array(128);
  const view = new DataView(info.buffer);
  view.setInt32(0, 17, true); // si_signo = SIGCHLD
  view.setInt32(8, code, true);
  view.setInt32(16, pid, true);
  view.setInt32(24, status, true);
  return info;
}

Deno.test("decodeSiginfo() returns the exit code of a process that exited", () => {
  assert.deepEqual(decodeSiginfo(siginfo(CLD_EXITED, 42, 7)), { code: 7, signal: null });
  assert.deepEqual(decodeSiginfo(siginfo(CLD_EXITED, 42, 0)), { code: 0, signal: null });
});

Deno.test("decodeSiginfo() returns the signal that killed a process, core dumped or not", () => {
  assert.deepEqual(decodeSiginfo(siginfo(CLD_KILLED, 42, 9)), { code: null, signal: "SIGKILL" });
  assert.deepEqual(decodeSiginfo(siginfo(CLD_DUMPED, 42, 11)), { code: null, signal: "SIGSEGV" });
});

Deno.test("decodeSiginfo() returns an unknown status when nothing was collected", () => {
  assert.deepEqual(decodeSiginfo(new Uint8Array(128)), unknownStatus());
  assert.deepEqual(decodeSiginfo(siginfo(CLD_STOPPED, 42, 19)), { code: null, signal: null });
});

Deno.test("decodeSiginfo() reads a siginfo_t at an offset in a larger buffer", () => {
  const buffer = new Uint8Array(256);
  buffer.set(siginfo(CLD_EXITED, 42, 3), 64);
  assert.deepEqual(decodeSiginfo(buffer.subarray(64, 192)), { code: 3, signal: null });
});

Deno.test("collectExit() returns null for a process that is not our child", () => {
  assert.equal(collectExit(libc(), WAIT.P_PID, 1), null);
});

Deno.test("collectExit() returns null while a child runs, then reaps it once it exited", async () => {
  assert.equal(setChildSubreaper(), true);
  await using watcher = new ProcessWatcher();
  await using orphans = await startOrphans("/bin/sh -c 'read x; exit 4'");
  const [pid] = orphans.pids;
  assert.equal(collectExit(libc(), WAIT.P_PID, pid), null);
  // A watch that does not reap tells when the orphan has exited.
  const watch = watcher.watch(pid, null, { reap: false });
  await orphans.release();
  await within(watch.exited, "the orphan's exit");
  assert.deepEqual(collectExit(libc(), WAIT.P_PID, pid), { code: 4, signal: null });
  assert.equal(collectExit(libc(), WAIT.P_PID, pid), null);
});

Deno.test("hasEndedChild() sees a child that ended without collecting it", async () => {
  assert.equal(setChildSubreaper(), true);
  await using watcher = new ProcessWatcher();
  await using orphans = await startOrphans("/bin/sh -c 'read x; exit 5'");
  const [pid] = orphans.pids;
  const watch = watcher.watch(pid, null, { reap: false });
  await orphans.release();
  await within(watch.exited, "the orphan's exit");
  // Other test files' children may have ended too: only the positive answer is certain.
  assert.equal(hasEndedChild(libc()), true);
  assert.deepEqual(collectExit(libc(), WAIT.P_PID, pid), { code: 5, signal: null });
});
