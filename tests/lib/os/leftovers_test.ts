/**
 * findLeftovers() with real processes: a shell carrying a spawn marker leads its own
 * session (as the HAM starts entities) and forks children, which it then waits for.
 */

import * as assert from "node:assert/strict";
import { findLeftovers, type LeftoverQuery, parsePids } from "../../../lib/os/leftovers.ts";
import { childrenOf, processStat, readCmdline } from "../../../lib/os/proc.ts";
import { procReader } from "../../../lib/os/proc_scan.ts";
import { setChildSubreaper } from "../../../lib/os/process_watcher.ts";
import { denoChildren } from "../../../lib/os/spawner.ts";
import { until } from "../../support/ham_process.ts";
import { endByPidfd, killAndReap } from "../../support/orphans.ts";
import { libc } from "../../../lib/os/libc.ts";
import { openPidfd } from "../../../lib/os/pidfd.ts";

Deno.test("findLeftovers() finds the marker's carriers and the group's unmarked members, not others", async () => {
  const spawnId = crypto.randomUUID();
  // A plain child; one that left the group (setsid); one that cleared its environment
  // (still in the group); one carrying another spawn's marker (in the group too).
  const script = "sleep 1001 >/dev/null & echo $!; setsid sleep 1002 >/dev/null & echo $!; " +
    "env -i sleep 1003 >/dev/null & echo $!; HAM_SPAWN_ID=other sleep 1004 >/dev/null & " +
    "echo $!; exec >/dev/null; wait";
  const leader = new Deno.Command("/bin/sh", {
    args: ["-c", script],
    env: { HAM_SPAWN_ID: spawnId },
    detached: true,
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const kids = (await new Response(leader.stdout).text()).trim().split("\n").map(Number);
  try {
    assert.equal(kids.length, 4);
    const [plain, left, cleared, other] = kids;
    // Each runs its sleep (environment and group as the test means them) once it has exec'd.
    await until(
      () => Promise.resolve(kids.every((p) => readCmdline(p)?.[0] === "sleep") || null),
      "the children to exec sleep",
    );
    const pgid = leader.pid;
    const query: LeftoverQuery = {
      spawnId,
      group: pgid,
      since: processStat(pgid)?.startTime ?? null,
      spare: null,
      skip: new Set([pgid]),
    };
    const found = findLeftovers(query);
    assert.deepEqual(found.map((l) => l.pid), [plain, left, cleared]);
    assert.ok(!found.some((l) => l.pid === other));
    for (const l of found) assert.equal(processStat(l.pid)?.startTime, l.startTime);
    // Without the group (its leader's start time unknown): the marker's carriers only.
    const byMarker = findLeftovers({ ...query, group: null, since: null });
    assert.deepEqual(byMarker.map((l) => l.pid), [plain, left]);
    // Processes that started before the one that ended are not its children (in a group
    // of its pid, they are in a group of a pid the kernel handed out again).
    const later = findLeftovers({ ...query, since: String(Number(query.since) + 1e9) });
    assert.deepEqual(later, []);
    // A spared pid (a followed daemon) is left out.
    const spared = findLeftovers({ ...query, spare: plain });
    assert.deepEqual(spared.map((l) => l.pid), [left, cleared]);
    // The leader ends: its children are re-parented to this process (a subreaper), and
    // found among its descendants alone (the kernel's children lists) as among all.
    assert.ok(setChildSubreaper());
    leader.kill("SIGKILL");
    await leader.status;
    assert.deepEqual(findLeftovers({ ...query, local: true }), found);
  } finally {
    try {
      leader.kill("SIGKILL");
    } catch { /* gone */ }
    await leader.status;
    for (const pid of kids) killAndReap(pid);
  }
});

Deno.test("findLeftovers() does not look below a child of this process older than the one that ended", async () => {
  assert.ok(setChildSubreaper());
  const spawnId = crypto.randomUUID();
  // An older child (as the Guardian is; here an orphan adopted by this process) that forks,
  // on its stdin's word, a process carrying the marker: not a descendant of the process
  // that ended, so not its leftover.
  const parent = new Deno.Command("/bin/sh", {
    args: [
      "-c",
      "exec 3<&0; (read -r go <&3; sleep 1006 >/dev/null 3<&- & echo $!; exec >/dev/null 3<&-; " +
      "wait) & echo $!",
    ],
    env: { HAM_SPAWN_ID: spawnId },
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const lines = parent.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const older = Number((await lines.read()).value!.trim());
  await parent.status;
  let ended: Deno.ChildProcess | null = null;
  let stray = 0;
  try {
    const olderStart = processStat(older)!.startTime;
    // The one that ends must have started at a later clock tick than the older child.
    ended = await until(async () => {
      const p = new Deno.Command("/bin/sleep", { args: ["1007"], detached: true }).spawn();
      if (processStat(p.pid)!.startTime !== olderStart) return p;
      p.kill("SIGKILL");
      await p.status;
      return null;
    }, "a process started at a later clock tick");
    const writer = parent.stdin.getWriter();
    await writer.write(new TextEncoder().encode("go\n"));
    stray = Number((await lines.read()).value!.trim());
    await until(() => Promise.resolve(readCmdline(stray)?.[0] === "sleep" || null), "sleep");
    assert.equal(processStat(stray)?.ppid, older);
    const query: LeftoverQuery = {
      spawnId,
      group: ended.pid,
      since: processStat(ended.pid)!.startTime,
      spare: null,
      skip: new Set([ended.pid]),
    };
    // Among every process it is found (it carries the marker and started later) ...
    assert.ok(findLeftovers(query).some((l) => l.pid === stray));
    // ... but not among this process's descendants: the older child's subtree is not walked.
    const local = findLeftovers({ ...query, local: true });
    const started = (pid: number) => `${pid} started ${processStat(pid)?.startTime}`;
    assert.deepEqual(local, [], [older, ended.pid, stray].map(started).join(", "));
    await writer.close();
  } finally {
    if (stray) killAndReap(stray);
    killAndReap(older);
    await lines.cancel().catch(() => {});
    if (ended) {
      ended.kill("SIGKILL");
      await ended.status;
    }
  }
});

Deno.test("findLeftovers() neither reads nor walks below a child this process started through Deno", async () => {
  // A shell stands for the HAM (findLeftovers takes the pid whose children it walks: the
  // HAM's main thread). It starts A, a shell whose child carries the marker, and B, which
  // carries it itself. With A registered as started through Deno (as the HAM registers the
  // Guardian and every `execute` command), only B is a leftover, and A's stat is not read.
  const spawnId = crypto.randomUUID();
  const top = new Deno.Command("/bin/sh", {
    args: [
      "-c",
      "sh -c 'sleep 1011 & wait' & echo $!; sleep 1012 & echo $!; exec >/dev/null; wait",
    ],
    env: { HAM_SPAWN_ID: spawnId },
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const lines = top.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (text.split("\n").length < 3) text += (await lines.read()).value ?? "";
  const [a, b] = text.trim().split("\n").map(Number);
  const inner = await until(() => Promise.resolve(childrenOf(a)[0] ?? null), "A's sleep");
  await until(() => Promise.resolve(readCmdline(inner)?.[0] === "sleep" || null), "sleep");
  // Ended through pidfds opened while they live: killed by pid once one of them had ended
  // (and been reaped by its shell), a pid could name another test's child by then.
  const fds = [inner, b, a].map((pid) => openPidfd(libc(), "watch", pid));
  const statted = new Set<number>();
  const view = { ...procReader, stat: (pid: number) => (statted.add(pid), procReader.stat(pid)) };
  denoChildren.add(a);
  try {
    const query: LeftoverQuery = {
      spawnId,
      group: null,
      since: processStat(top.pid)!.startTime,
      spare: null,
      skip: new Set([top.pid]),
      local: true,
    };
    const found = findLeftovers(query, top.pid, view).map((l) => l.pid);
    assert.deepEqual(found, [b]);
    assert.ok(!statted.has(a) && !statted.has(inner), "neither read nor walked");
    denoChildren.delete(a);
    const all = findLeftovers(query, top.pid, view).map((l) => l.pid);
    assert.deepEqual(all, [a, inner, b].sort((x, y) => x - y), "without it: A and its child too");
  } finally {
    denoChildren.delete(a);
    // The shell first: its children are then this process's (a subreaper), to reap.
    top.kill("SIGKILL");
    await top.status;
    await endByPidfd([inner, b, a], fds);
    await lines.cancel().catch(() => {});
  }
});

Deno.test("parsePids() reads a children list as the kernel writes it", () => {
  const bytes = (s: string) => new TextEncoder().encode(s);
  assert.deepEqual(parsePids(bytes("")), []);
  assert.deepEqual(parsePids(bytes("12 345 ")), [12, 345]);
  assert.deepEqual(parsePids(bytes("7")), [7]);
  assert.deepEqual(parsePids(bytes("4194304 1 \n")), [4194304, 1]);
});
