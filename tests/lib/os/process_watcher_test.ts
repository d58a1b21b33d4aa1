import assert from "node:assert/strict";
import { HamError } from "../../../lib/core/errors.ts";
import { processStartTime, processStat } from "../../../lib/os/proc.ts";
import { ProcessWatcher, setChildSubreaper } from "../../../lib/os/process_watcher.ts";
import { libc, SYS } from "../../../lib/os/libc.ts";
import { killAndReap, startOrphans } from "../../support/orphans.ts";
import { spinUntil, within } from "../../support/within.ts";
import { posixSpawn } from "../../../lib/os/posix_spawn.ts";

// Orphans of the processes these tests start are adopted by the test process itself.
const SUBREAPER = setChildSubreaper();
const NO_SUCH_PID = 0x3fff_fff0; // above PID_MAX_LIMIT: never a process

function startTimeOf(pid: number): string {
  const startTime = processStartTime(pid);
  assert.ok(startTime !== null, `pid ${pid} should be alive`);
  return startTime;
}

function assertHamError(fn: () => unknown, code: string, message?: RegExp): void {
  assert.throws(fn, (err) => {
    assert.ok(err instanceof HamError);
    assert.equal(err.code, code);
    if (message) assert.match(err.message, message);
    return true;
  });
}

/** Starts `/bin/sleep 30` as a child of Deno (Deno reaps it). */
function spawnSleep(): Deno.ChildProcess {
  return new Deno.Command("/bin/sleep", { args: ["30"], stdout: "null", stderr: "null" }).spawn();
}

/** Starts `/bin/sh -c script` as a child of Deno; the script prints a pid and closes stdout. */
async function spawnHelper(script: string): Promise<{ helper: Deno.ChildProcess; pid: number }> {
  const helper = new Deno.Command("/bin/sh", {
    args: ["-c", script],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const pid = Number((await new Response(helper.stdout).text()).trim());
  return { helper, pid };
}

Deno.test("setChildSubreaper() makes the test process adopt orphaned grandchildren", async () => {
  assert.equal(SUBREAPER, true);
  await using orphans = await startOrphans("/bin/sleep 30");
  assert.equal(processStat(orphans.pids[0])?.ppid, Deno.pid);
});

Deno.test("ProcessWatcher uses pidfds on this kernel", async () => {
  await using watcher = new ProcessWatcher();
  assert.equal(watcher.mode, "pidfd");
});

Deno.test("ProcessWatcher.watch() resolves with the exit code when an adopted orphan exits", async () => {
  await using watcher = new ProcessWatcher();
  await using orphans = await startOrphans("/bin/sh -c 'read x; exit 7'");
  const [pid] = orphans.pids;
  const watch = watcher.watch(pid, startTimeOf(pid));
  assert.equal(watch.pid, pid);
  await orphans.release();
  assert.deepEqual(await within(watch.exited, "the orphan's exit"), { code: 7, signal: null });
  assert.equal(processStat(pid), null, "the orphan should have been reaped");
});

Deno.test("ProcessWatcher.watch() resolves with the signal when an adopted orphan is killed", async () => {
  await using watcher = new ProcessWatcher();
  await using orphans = await startOrphans("/bin/sleep 30");
  const [pid] = orphans.pids;
  const watch = watcher.watch(pid, startTimeOf(pid));
  Deno.kill(pid, "SIGKILL");
  assert.deepEqual(await within(watch.exited, "the orphan's death"), {
    code: null,
    signal: "SIGKILL",
  });
});

Deno.test("ProcessWatcher.watch() resolves with an unknown status when the process is not its child", async () => {
  await using watcher = new ProcessWatcher();
  const { helper, pid } = await spawnHelper(
    "/bin/sleep 30 >/dev/null 2>&1 & p=$!; echo $p; exec 1>&-; wait $p",
  );
  try {
    const watch = watcher.watch(pid, startTimeOf(pid));
    Deno.kill(pid, "SIGKILL");
    assert.deepEqual(await within(watch.exited, "the sleep's death"), { code: null, signal: null });
    assert.equal((await within(helper.status, "the helper's exit")).code, 137);
  } finally {
    killAndReap(pid);
    await helper[Symbol.asyncDispose]();
  }
});

Deno.test("ProcessWatcher.watch() does not reap a Deno child when reap is false", async () => {
  await using watcher = new ProcessWatcher();
  await using child = new Deno.Command("/bin/sh", {
    args: ["-c", "read x; exit 3"],
    stdin: "piped",
  }).spawn();
  const first = watcher.watch(child.pid, startTimeOf(child.pid), { reap: false });
  const second = watcher.watch(child.pid, null, { reap: false });
  await child.stdin.close();
  assert.deepEqual(await within(first.exited, "the child's exit"), { code: null, signal: null });
  assert.deepEqual(await within(second.exited, "the child's exit"), { code: null, signal: null });
  assert.equal((await within(child.status, "Deno's status")).code, 3);
});

Deno.test("ProcessWatcher.watch() notices a pid watched while the poll call is already waiting", async () => {
  await using watcher = new ProcessWatcher();
  await using first = spawnSleep();
  await using second = spawnSleep();
  watcher.watch(first.pid, startTimeOf(first.pid), { reap: false });
  // Let the poll call start on the thread pool with only the first pidfd in it.
  await new Promise((resolve) => setTimeout(resolve, 0));
  const watch = watcher.watch(second.pid, startTimeOf(second.pid), { reap: false });
  second.kill("SIGKILL");
  assert.deepEqual(await within(watch.exited, "the second death", 2000), {
    code: null,
    signal: null,
  });
});

Deno.test("ProcessWatcher.isWatching() is true from watch() until the watch settles", async () => {
  await using watcher = new ProcessWatcher();
  await using orphans = await startOrphans("/bin/sleep 30");
  const [pid] = orphans.pids;
  assert.equal(watcher.isWatching(pid), false);
  const watch = watcher.watch(pid, startTimeOf(pid));
  assert.equal(watcher.isWatching(pid), true);
  watcher.signal(pid, 9);
  await within(watch.exited, "the orphan's death");
  assert.equal(watcher.isWatching(pid), false);
  const cancelled = watcher.watch(Deno.pid, null, { reap: false });
  cancelled.cancel();
  assert.equal(watcher.isWatching(Deno.pid), false);
});

Deno.test("ProcessWatcher.watch() throws ESRCH for a pid that does not exist", async () => {
  await using watcher = new ProcessWatcher();
  assertHamError(
    () => watcher.watch(NO_SUCH_PID, null),
    "ESRCH",
    new RegExp(`^Cannot watch pid ${NO_SUCH_PID}: no such process$`),
  );
  assertHamError(() => watcher.watch(-1, null), "EINVAL");
});

Deno.test("ProcessWatcher.watch() throws ESRCH when the start time differs", async () => {
  await using watcher = new ProcessWatcher();
  await using child = spawnSleep();
  assertHamError(() => watcher.watch(child.pid, "1"), "ESRCH", /pid reused/);
});

Deno.test("ProcessWatcher.watch() throws ESRCH for a zombie", async () => {
  await using watcher = new ProcessWatcher();
  // The helper becomes a sleep that never reaps its child.
  const { helper, pid } = await spawnHelper(
    "/bin/sleep 30 >/dev/null 2>&1 & echo $!; exec 1>&- /bin/sleep 31",
  );
  try {
    const watch = watcher.watch(pid, startTimeOf(pid), { reap: false });
    Deno.kill(pid, "SIGKILL");
    await within(watch.exited, "the child's death");
    assert.equal(processStat(pid)?.state, "Z");
    assertHamError(() => watcher.watch(pid, null), "ESRCH", /no such process/);
  } finally {
    await helper[Symbol.asyncDispose]();
    killAndReap(pid);
  }
});

Deno.test("Watch.cancel() resolves exited with null and stops watching", async () => {
  await using watcher = new ProcessWatcher();
  await using child = spawnSleep();
  const startTime = startTimeOf(child.pid);
  const cancelled = watcher.watch(child.pid, startTime, { reap: false });
  cancelled.cancel();
  cancelled.cancel();
  assert.equal(await within(cancelled.exited, "the cancellation"), null);
  const watch = watcher.watch(child.pid, startTime, { reap: false });
  child.kill("SIGKILL");
  assert.deepEqual(await within(watch.exited, "the death"), { code: null, signal: null });
});

Deno.test("Watch.onExit() calls back before exited's reactions; a throwing callback harms no other", async () => {
  const logged: string[] = [];
  await using watcher = new ProcessWatcher({ log: (level, msg) => logged.push(`${level} ${msg}`) });
  await using orphans = await startOrphans("/bin/sleep 30");
  const [pid] = orphans.pids;
  const startTime = startTimeOf(pid);
  const order: string[] = [];
  const first = watcher.watch(pid, startTime);
  const second = watcher.watch(pid, startTime);
  first.exited.then(() => order.push("first exited"));
  first.onExit(() => {
    order.push("first callback");
    throw new Error("boom");
  });
  second.onExit((st) => order.push(`second callback ${st.signal}`));
  Deno.kill(pid, "SIGKILL");
  await within(second.exited, "the death");
  await Promise.resolve();
  assert.deepEqual(order, ["first callback", "second callback SIGKILL", "first exited"]);
  assert.deepEqual(logged, [`warn Handling the exit of pid ${pid} failed: Error: boom`]);
  // Given after the exit was delivered: called all the same, a microtask later.
  const late = Promise.withResolvers<string | null>();
  first.onExit((st) => late.resolve(st.signal));
  assert.equal(await within(late.promise, "the late callback"), "SIGKILL");
});

Deno.test("Watch.onExit() is never called for a cancelled watch", async () => {
  await using watcher = new ProcessWatcher();
  await using child = spawnSleep();
  const startTime = startTimeOf(child.pid);
  const called: string[] = [];
  const cancelled = watcher.watch(child.pid, startTime, { reap: false });
  cancelled.onExit(() => called.push("cancelled"));
  cancelled.cancel();
  const watch = watcher.watch(child.pid, startTime, { reap: false });
  watch.onExit(() => called.push("watched"));
  child.kill("SIGKILL");
  await within(watch.exited, "the death");
  cancelled.onExit(() => called.push("cancelled, late"));
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(called, ["watched"]);
});

Deno.test("ProcessWatcher.signal() delivers SIGTERM through the watched pidfd", async () => {
  await using watcher = new ProcessWatcher();
  await using child = spawnSleep();
  const watch = watcher.watch(child.pid, startTimeOf(child.pid), { reap: false });
  watcher.signal(child.pid, 15);
  assert.equal((await within(child.status, "the child's exit")).signal, "SIGTERM");
  assert.deepEqual(await within(watch.exited, "the death"), { code: null, signal: null });
});

Deno.test("ProcessWatcher.signal() checks the start time of an unwatched pid", async () => {
  await using watcher = new ProcessWatcher();
  await using child = spawnSleep();
  const startTime = startTimeOf(child.pid);
  assertHamError(() => watcher.signal(child.pid, 9, "1"), "ESRCH", /pid reused/);
  assertHamError(() => watcher.signal(child.pid, 99), "EINVAL", /invalid signal 99/);
  assertHamError(() => watcher.signal(NO_SUCH_PID, 15), "ESRCH", /no such process/);
  watcher.signal(child.pid, 0, startTime);
  watcher.signal(child.pid, 9, startTime);
  assert.equal((await within(child.status, "the child's exit")).signal, "SIGKILL");
});

Deno.test("ProcessWatcher.close() resolves pending watches with null", async () => {
  const watcher = new ProcessWatcher();
  await using a = spawnSleep();
  await using b = spawnSleep();
  const watches = [a, b].map((c) => watcher.watch(c.pid, null, { reap: false }));
  await within(watcher.close(), "close()");
  await watcher.close();
  for (const watch of watches) assert.equal(await watch.exited, null);
  assertHamError(() => watcher.watch(a.pid, null), "ECANCELED", /the watcher is closed/);
});

Deno.test("ProcessWatcher.watch() reports each of 200 orphans watched at once", async () => {
  await using watcher = new ProcessWatcher();
  await using orphans = await startOrphans("/bin/sleep 30", 200);
  assert.equal(orphans.pids.length, 200);
  const watches = orphans.pids.map((pid) => watcher.watch(pid, startTimeOf(pid)));
  for (const pid of orphans.pids) watcher.signal(pid, 9);
  const statuses = await within(Promise.all(watches.map((w) => w.exited)), "200 deaths");
  for (const status of statuses) assert.deepEqual(status, { code: null, signal: "SIGKILL" });
});

Deno.test("ProcessWatcher in proc-poll mode reports exits and delivers signals", async () => {
  await using watcher = new ProcessWatcher({ forceProcPoll: true, procPollIntervalMs: 20 });
  assert.equal(watcher.mode, "proc-poll");
  await using orphans = await startOrphans("/bin/sh -c 'read x; exit 7'");
  await using child = spawnSleep();
  const [pid] = orphans.pids;
  const orphan = watcher.watch(pid, startTimeOf(pid));
  const deno = watcher.watch(child.pid, startTimeOf(child.pid), { reap: false });
  assertHamError(() => watcher.watch(NO_SUCH_PID, null), "ESRCH");
  await orphans.release();
  assert.deepEqual(await within(orphan.exited, "the orphan's exit"), { code: 7, signal: null });
  assertHamError(() => watcher.signal(child.pid, 15, "1"), "ESRCH", /pid reused/);
  watcher.signal(child.pid, 15);
  assert.equal((await within(child.status, "the child's exit")).signal, "SIGTERM");
  assert.deepEqual(await within(deno.exited, "the child's death"), { code: null, signal: null });
});

/** An open pidfd on `pid` (the test owns it until it hands it over). */
function pidfdOf(pid: number): number {
  const fd = libc().syscall(SYS.pidfd_open, pid, 0);
  assert.ok(fd >= 0, `pidfd_open(${pid}) failed`);
  return fd;
}

Deno.test("ProcessWatcher.watch() uses an adopted pidfd, which reports a death that came before the watch", async () => {
  await using watcher = new ProcessWatcher();
  await using child = spawnSleep();
  const startTime = startTimeOf(child.pid);
  watcher.adopt(child.pid, pidfdOf(child.pid), startTime);
  child.kill("SIGKILL");
  await child.status; // Dead and reaped by Deno: the pid names nothing now.
  // A watch by pid alone would fail with ESRCH; the adopted pidfd still refers to it.
  const watch = watcher.watch(child.pid, startTime, { reap: false });
  assert.deepEqual(await within(watch.exited, "the adopted death"), { code: null, signal: null });
});

Deno.test("ProcessWatcher.watch() ignores an adopted pidfd whose start time differs and opens its own", async () => {
  await using watcher = new ProcessWatcher();
  await using child = spawnSleep();
  await using other = spawnSleep();
  // A pidfd on another process, under the child's pid with a start time the child lacks.
  watcher.adopt(child.pid, pidfdOf(other.pid), "1");
  const watch = watcher.watch(child.pid, startTimeOf(child.pid), { reap: false });
  // Only the child dies: a watch on the other process's pidfd would never see it.
  child.kill("SIGKILL");
  assert.deepEqual(await within(watch.exited, "the death"), { code: null, signal: null });
  other.kill("SIGKILL");
});

/**
 * Runs in a process of its own (see the test below) under a hard limit of 64 descriptors:
 * a pidfd opened while descriptors were left, then every descriptor taken, then the pidfd
 * adopted and watched as a takeover does (the watcher's first watch: its poller has no
 * eventfd yet). Prints what happened as JSON.
 */
const ADOPT_OUT_OF_DESCRIPTORS = `
  import { ProcessWatcher } from "${new URL(
  "../../../lib/os/process_watcher.ts",
  import.meta.url,
)}";
  import { processStartTime } from "${new URL("../../../lib/os/proc.ts", import.meta.url)}";
  import { holdReserve } from "${new URL("../../../lib/os/fd_reserve.ts", import.meta.url)}";
  import { libc, SYS } from "${new URL("../../../lib/os/libc.ts", import.meta.url)}";
  const watcher = new ProcessWatcher({ procPollIntervalMs: 20 });
  holdReserve(); // As the HAM does: /proc stays readable when out of descriptors.
  const child = new Deno.Command("/bin/sleep", { args: ["30"], stdout: "null", stderr: "null" })
    .spawn();
  const startTime = processStartTime(child.pid);
  const fd = libc().syscall(SYS.pidfd_open, child.pid, 0);
  const filler = [];
  for (;;) {
    try {
      filler.push(Deno.openSync("/dev/null"));
    } catch {
      break;
    }
  }
  watcher.adopt(child.pid, fd, startTime);
  let watch = null, error = null;
  try {
    watch = watcher.watch(child.pid, startTime, { reap: false });
  } catch (err) {
    error = String(err);
  }
  const polled = watcher.polledForWantOfDescriptors;
  for (const f of filler) f.close();
  // Alive: not reported dead for want of a descriptor; then its death is seen.
  const early = await Promise.race([watch?.exited, new Promise((r) => setTimeout(() => r("alive"), 200))]);
  child.kill("SIGKILL");
  const exited = watch ? await watch.exited : null;
  await child.status;
  await watcher.close();
  console.log(JSON.stringify({ error, polled, early, exited }));
`;

Deno.test("ProcessWatcher.watch() of an adopted pidfd watches by /proc when out of descriptors instead of failing", async () => {
  const out = await new Deno.Command("/bin/sh", {
    args: [
      "-c",
      'ulimit -n 64 && exec "$@"',
      "sh",
      new URL("../../../bin/deno", import.meta.url).pathname,
      "eval",
      "--quiet",
      ADOPT_OUT_OF_DESCRIPTORS,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  assert.deepEqual(JSON.parse(text), {
    error: null,
    polled: 1,
    early: "alive",
    exited: { code: null, signal: null },
  });
});

Deno.test("ProcessWatcher.collect() reports an ended child at once, before the poll does", async () => {
  await using watcher = new ProcessWatcher();
  const req = { env: {}, cwd: null, stdout: null, stderr: null };
  const pid = posixSpawn({ ...req, path: "/bin/sleep", argv: ["sleep", "1000"] });
  const watch = watcher.watch(pid, processStat(pid)?.startTime ?? null);
  assert.equal(watcher.collect(pid), false, "still running");
  Deno.kill(pid, "SIGKILL");
  // Synchronously: the poll's answer cannot be handled meanwhile.
  spinUntil(() => processStat(pid)?.state === "Z", "the child to be a zombie");
  assert.equal(watcher.collect(pid), true);
  assert.equal(watcher.isWatching(pid), false);
  assert.deepEqual(await watch.exited, { code: null, signal: "SIGKILL" });
  assert.equal(watcher.collect(pid), false, "reported once");
});

Deno.test("ProcessWatcher.collect() leaves a child to Deno when a watch does not reap", async () => {
  await using watcher = new ProcessWatcher();
  await using child = new Deno.Command("/bin/sleep", { args: ["1000"] }).spawn();
  const watch = watcher.watch(child.pid, null, { reap: false });
  child.kill("SIGKILL");
  spinUntil(() => processStat(child.pid)?.state === "Z", "the child to be a zombie");
  assert.equal(watcher.collect(child.pid), false);
  assert.equal((await child.status).signal, "SIGKILL", "collected by Deno");
  await watch.exited;
});
