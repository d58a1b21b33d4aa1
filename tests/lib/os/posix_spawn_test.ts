/**
 * `posixSpawn()`: a process in a session of its own, with its standard streams, working
 * directory and environment as asked, no other descriptor, and spawn errors as HamErrors.
 */

import * as assert from "node:assert/strict";
import { HamError } from "../../../lib/core/errors.ts";
import { collectExit } from "../../../lib/os/exit_status.ts";
import { cString, libc, WAIT } from "../../../lib/os/libc.ts";
import { keptFileActions, posixSpawn } from "../../../lib/os/posix_spawn.ts";
import { DEFAULTS } from "../../../lib/core/defaults.ts";
import { processStat } from "../../../lib/os/proc.ts";
import { until } from "../../support/ham_process.ts";

/** Waits (with a deadline) for the child `pid` to end, and reaps it. */
function reap(pid: number) {
  return until(() => Promise.resolve(collectExit(libc(), WAIT.P_PID, pid)), `pid ${pid} to end`);
}

Deno.test("posixSpawn() starts a session leader with the streams, directory and environment asked", async () => {
  const dir = await Deno.makeTempDir();
  // A descriptor without close-on-exec: the child must not get it all the same.
  const leak = libc().open(cString("/dev/null"), 0);
  try {
    const out = `${dir}/out`, err = `${dir}/err`;
    const script = 'echo "$HAM_T $(pwd)"; ls /proc/$$/fd; echo oops >&2; ' +
      'read -r line || echo "stdin empty"; ps -o pgid=,sid= -p $$';
    const pid = posixSpawn({
      path: "/bin/sh",
      argv: ["sh", "-c", script],
      env: { HAM_T: "marker", PATH: "/usr/bin:/bin" },
      cwd: dir,
      stdout: out,
      stderr: err,
    });
    assert.deepEqual(await reap(pid), { code: 0, signal: null });
    const lines = (await Deno.readTextFile(out)).trim().split("\n");
    assert.equal(lines[0], `marker ${await Deno.realPath(dir)}`);
    // 0, 1, 2, and the descriptor ls opened to read the directory: nothing inherited.
    assert.ok(leak > 3);
    assert.ok(lines.slice(1, -2).every((fd) => Number(fd) <= 3), `fds: ${lines}`);
    assert.equal(lines.at(-2), "stdin empty");
    assert.deepEqual(lines.at(-1)!.trim().split(/\s+/).map(Number), [pid, pid]);
    assert.equal(await Deno.readTextFile(err), "oops\n");
  } finally {
    libc().close(leak);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("posixSpawn() leaves the streams alone when none are given, and the child is ours to reap", async () => {
  const pid = posixSpawn({
    path: "/bin/sleep",
    argv: ["sleep", "1000"],
    env: {},
    cwd: null,
    stdout: null,
    stderr: null,
  });
  const st = processStat(pid);
  assert.equal(st?.ppid, Deno.pid);
  assert.equal(st?.sid, pid);
  Deno.kill(pid, "SIGKILL");
  assert.deepEqual(await reap(pid), { code: null, signal: "SIGKILL" });
});

Deno.test("posixSpawn() throws ENOENT for a missing file and EACCES for one it cannot execute", async () => {
  const req = { env: {}, cwd: null, stdout: null, stderr: null };
  assert.throws(
    () => posixSpawn({ ...req, path: "/nonexistent/prog", argv: ["prog"] }),
    (e: unknown) =>
      e instanceof HamError && e.code === "ENOENT" && /"prog": no such file/.test(e.message),
  );
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/plain`, "not a program\n");
    assert.throws(
      () => posixSpawn({ ...req, path: `${dir}/plain`, argv: ["plain"] }),
      (e: unknown) => e instanceof HamError && e.code === "EACCES",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("posixSpawn() reuses the file actions of the same streams and directory, and keeps a bounded number", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = `${dir}/out`;
    const req = { path: "/bin/sh", env: { PATH: "/usr/bin:/bin" }, cwd: dir, stderr: null };
    // The same streams and directory twice (a restart): both processes get them.
    const real = await Deno.realPath(dir);
    for (const word of ["first", "second"]) {
      const pid = posixSpawn({ ...req, argv: ["sh", "-c", `echo ${word} $(pwd)`], stdout: out });
      assert.deepEqual(await reap(pid), { code: 0, signal: null });
      assert.equal(await Deno.readTextFile(out), `${word} ${real}\n`);
      await Deno.truncate(out);
    }
    // More distinct streams than are kept: the oldest are let go, every spawn still right.
    const many = DEFAULTS.spawnActionsKept + 5;
    for (let i = 0; i < many; i++) {
      const pid = posixSpawn({ ...req, argv: ["sh", "-c", `echo ${i}`], stdout: `${dir}/o${i}` });
      assert.deepEqual(await reap(pid), { code: 0, signal: null });
      assert.ok(keptFileActions() <= DEFAULTS.spawnActionsKept);
    }
    for (const i of [0, many - 1]) assert.equal(await Deno.readTextFile(`${dir}/o${i}`), `${i}\n`);
    // The first streams were let go: asked again, they are made anew, and still right.
    const pid = posixSpawn({ ...req, argv: ["sh", "-c", "echo third"], stdout: out });
    assert.deepEqual(await reap(pid), { code: 0, signal: null });
    assert.equal(await Deno.readTextFile(out), "third\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
