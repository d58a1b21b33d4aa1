import assert from "node:assert/strict";
import type { ExitStatus } from "../../../lib/core/model.ts";
import { processStat } from "../../../lib/os/proc.ts";
import { ProcessWatcher, setChildSubreaper } from "../../../lib/os/process_watcher.ts";
import { ZombieReaper } from "../../../lib/os/reaper.ts";
import { collectExit } from "../../../lib/os/exit_status.ts";
import { libc, WAIT } from "../../../lib/os/libc.ts";
import { startOrphans } from "../../support/orphans.ts";
import { spinUntil, within } from "../../support/within.ts";

// Orphans of the processes these tests start are adopted by the test process itself.
const SUBREAPER = setChildSubreaper();

/**
 * A reaper that may only touch the pids a test hands it ({@linkcode Harness.target}): test
 * files run in parallel in one process, and the children of the others are off limits, as
 * if they were Deno's. Records what it reaped.
 */
class Harness implements Disposable {
  readonly targets = new Set<number>();
  readonly denoChildren = new Set<number>();
  readonly reaped = new Map<number, ExitStatus>();
  readonly reaper: ZombieReaper;
  #waiters = new Map<number, (status: ExitStatus) => void>();

  constructor(
    isWatched: (pid: number) => boolean = () => false,
    collectWatched?: (pid: number) => boolean,
  ) {
    this.reaper = new ZombieReaper({
      isDenoChild: (pid) => !this.targets.has(pid) || this.denoChildren.has(pid),
      isWatched,
      collectWatched,
      onReaped: (pid, status) => {
        this.reaped.set(pid, status);
        this.#waiters.get(pid)?.(status);
      },
    });
  }

  /** Lets the reaper touch `pid`; returns it. */
  target(pid: number): number {
    this.targets.add(pid);
    return pid;
  }

  /** Resolves with the status `pid` was reaped with. */
  reapedOf(pid: number): Promise<ExitStatus> {
    const known = this.reaped.get(pid);
    if (known !== undefined) return Promise.resolve(known);
    return new Promise((resolve) => this.#waiters.set(pid, resolve));
  }

  [Symbol.dispose](): void {
    this.reaper.stop();
  }
}

Deno.test("ZombieReaper reaps an orphan that exits unwatched", async () => {
  assert.equal(SUBREAPER, true);
  using harness = new Harness();
  harness.reaper.start();
  assert.equal(harness.reaper.listening, true);
  await using orphans = await startOrphans("/bin/sh -c 'read x; exit 3'");
  const pid = harness.target(orphans.pids[0]);
  assert.equal(processStat(pid)?.ppid, Deno.pid);
  await orphans.release();
  assert.deepEqual(await within(harness.reapedOf(pid), "the orphan's reaping"), {
    code: 3,
    signal: null,
  });
  assert.equal(processStat(pid), null);
});

Deno.test("ZombieReaper reaps the background job of a shell that exited", async () => {
  using harness = new Harness();
  harness.reaper.start();
  const shell = new Deno.Command("/bin/sh", {
    args: ["-c", "/bin/sleep 0.05 >/dev/null & echo $!; exit 0"],
    stdout: "piped",
  }).spawn();
  const pid = harness.target(Number((await new Response(shell.stdout).text()).trim()));
  assert.equal((await within(shell.status, "the shell's exit")).code, 0);
  const status = await within(harness.reapedOf(pid), "the orphan's reaping");
  assert.deepEqual(status, { code: 0, signal: null });
});

Deno.test("ZombieReaper reports the signal that killed an orphan", async () => {
  using harness = new Harness();
  harness.reaper.start();
  await using orphans = await startOrphans("/bin/sleep 30");
  const pid = harness.target(orphans.pids[0]);
  Deno.kill(pid, "SIGKILL");
  assert.deepEqual(await within(harness.reapedOf(pid), "the orphan's reaping"), {
    code: null,
    signal: "SIGKILL",
  });
});

Deno.test("ZombieReaper leaves the status of a Deno child to Deno", async () => {
  using harness = new Harness();
  harness.reaper.start();
  const child = new Deno.Command("/bin/sh", { args: ["-c", "exit 5"] }).spawn();
  harness.denoChildren.add(harness.target(child.pid));
  // Spinning keeps Deno from reaping its zombie child meanwhile.
  spinUntil(() => processStat(child.pid)?.state === "Z", "the child's exit");
  assert.deepEqual(harness.reaper.sweep(), []);
  assert.equal(processStat(child.pid)?.state, "Z");
  assert.equal((await within(child.status, "Deno's status")).code, 5);
  assert.equal(harness.reaped.has(child.pid), false);
});

Deno.test("ZombieReaper leaves a watched orphan to the watcher, which reaps it", async () => {
  await using watcher = new ProcessWatcher();
  using harness = new Harness((pid) => watcher.isWatching(pid));
  harness.reaper.start();
  await using orphans = await startOrphans("/bin/sleep 30");
  const pid = harness.target(orphans.pids[0]);
  const watch = watcher.watch(pid, processStat(pid)?.startTime ?? null);
  Deno.kill(pid, "SIGKILL");
  assert.deepEqual(await within(watch.exited, "the orphan's death"), {
    code: null,
    signal: "SIGKILL",
  });
  assert.equal(harness.reaped.has(pid), false);
});

Deno.test("ZombieReaper reaps an orphan once a watch that does not reap it settles", async () => {
  await using watcher = new ProcessWatcher();
  using harness = new Harness((pid) => watcher.isWatching(pid));
  harness.reaper.start();
  await using orphans = await startOrphans("/bin/sleep 30");
  const pid = harness.target(orphans.pids[0]);
  const watch = watcher.watch(pid, processStat(pid)?.startTime ?? null, { reap: false });
  Deno.kill(pid, "SIGKILL");
  assert.deepEqual(await within(watch.exited, "the orphan's death"), {
    code: null,
    signal: null,
  });
  assert.deepEqual(await within(harness.reapedOf(pid), "the orphan's reaping"), {
    code: null,
    signal: "SIGKILL",
  });
});

Deno.test("ZombieReaper.sweep() reaps without a SIGCHLD listener", async () => {
  await using watcher = new ProcessWatcher();
  using harness = new Harness();
  assert.equal(harness.reaper.listening, false);
  await using orphans = await startOrphans("/bin/sleep 30");
  const pid = harness.target(orphans.pids[0]);
  // A watch that does not reap tells when the orphan is a zombie.
  const watch = watcher.watch(pid, null, { reap: false });
  Deno.kill(pid, "SIGKILL");
  await within(watch.exited, "the orphan's death");
  assert.equal(processStat(pid)?.state, "Z");
  assert.deepEqual(harness.reaper.sweep(), [pid]);
  assert.deepEqual(harness.reaped.get(pid), { code: null, signal: "SIGKILL" });
  assert.equal(processStat(pid), null);
  assert.deepEqual(harness.reaper.sweep(), []);
});

Deno.test("ZombieReaper.stop() removes the listener and is idempotent", () => {
  using harness = new Harness();
  harness.reaper.start();
  harness.reaper.start();
  assert.equal(harness.reaper.listening, true);
  harness.reaper.stop();
  harness.reaper.stop();
  assert.equal(harness.reaper.listening, false);
});

Deno.test("ZombieReaper hands a watched child that ended to collectWatched on SIGCHLD", async () => {
  const collected = Promise.withResolvers<number>();
  let watched = 0;
  using harness = new Harness((pid) => pid === watched, (pid) => {
    // What a watcher does: collect the status (reaping it), and say so.
    if (collectExit(libc(), WAIT.P_PID, pid) === null) return false;
    collected.resolve(pid);
    return true;
  });
  harness.reaper.start();
  await using orphans = await startOrphans("/bin/sh -c 'read x; exit 4'");
  watched = harness.target(orphans.pids[0]);
  await orphans.release();
  assert.equal(await within(collected.promise, "the watched child's collection"), watched);
  assert.equal(harness.reaped.has(watched), false, "left to its watcher, not reaped");
});
