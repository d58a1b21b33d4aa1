/**
 * The spawner: entity processes lead a session and process group of their own, and a
 * spawn marker counts only with the HAM's own state directory.
 */

import * as assert from "node:assert/strict";
import type { HamError } from "../../../lib/core/errors.ts";
import type { OutputPipes } from "../../../lib/os/entity_output.ts";
import { libc, WAIT } from "../../../lib/os/libc.ts";
import {
  carriesMarker,
  checkSpawnable,
  findCommand,
  findDaemon,
  findSpawned,
  runCommand,
  SPAWN_ID_VAR,
  spawnEntity,
  yieldsFor,
} from "../../../lib/os/spawner.ts";
import { processStat, readCmdline, readEnviron } from "../../../lib/os/proc.ts";
import { readDirNames } from "../../../lib/os/proc_fs.ts";
import { ProcessWatcher, setChildSubreaper } from "../../../lib/os/process_watcher.ts";

Deno.test("spawnEntity() starts the process as the leader of its own session and group", async () => {
  const p = spawnEntity(["/bin/sleep", "1000"], {
    entity: "e",
    spawnId: "s",
    cwd: null,
    env: null,
  });
  try {
    const st = processStat(p.pid);
    assert.deepEqual([st?.pgid, st?.sid], [p.pid, p.pid]);
    assert.notEqual(processStat(Deno.pid)?.pgid, p.pid);
  } finally {
    Deno.kill(p.pid, "SIGKILL");
    await p.status;
  }
});

Deno.test("spawnEntity() with a watcher starts a session leader by posix_spawn and reports its exit", async () => {
  await using watcher = new ProcessWatcher();
  const dir = await Deno.makeTempDir();
  try {
    const output = { stdout: `${dir}/out`, stderr: `${dir}/err` };
    const p = spawnEntity(["sh", "-c", 'echo "$HAM_ENTITY $HAM_SPAWN_ID $X"; kill -9 $$'], {
      entity: "e",
      spawnId: "s1",
      cwd: dir,
      env: { X: "x" },
      output,
    }, watcher);
    assert.deepEqual(await p.status, { code: null, signal: "SIGKILL" });
    assert.equal(await Deno.readTextFile(output.stdout), "e s1 x\n");
    const q = spawnEntity(["/bin/sleep", "1000"], {
      entity: "e",
      spawnId: "s2",
      cwd: null,
      env: null,
    }, watcher);
    assert.ok(watcher.isWatching(q.pid), "watched (and so reaped) by the watcher");
    const st = processStat(q.pid);
    assert.deepEqual([st?.pgid, st?.sid, st?.startTime], [q.pid, q.pid, q.startTime]);
    watcher.signal(q.pid, 15);
    assert.deepEqual(await q.status, { code: null, signal: "SIGTERM" });
    const r = spawnEntity(["/bin/sh", "-c", "exit 3"], {
      entity: "e",
      spawnId: "s3",
      cwd: null,
      env: null,
    }, watcher);
    assert.deepEqual(await r.status, { code: 3, signal: null });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("spawnEntity() with yieldCpu reports the exit of a process that ended while the HAM yielded", async () => {
  await using watcher = new ProcessWatcher();
  for (let i = 0; i < 20; i++) {
    const p = spawnEntity(["/bin/sh", "-c", `exit ${i % 7}`], {
      entity: "e",
      spawnId: `y${i}`,
      cwd: null,
      env: null,
      yieldCpu: true,
    }, watcher);
    assert.equal(typeof p.startTime, "string", "its start time read, even as a zombie");
    const told = new Promise((resolve) => p.onExit(resolve));
    assert.deepEqual(await p.status, { code: i % 7, signal: null });
    assert.deepEqual(await told, { code: i % 7, signal: null });
  }
});

Deno.test("spawnEntity() with a watcher throws ENOENT for a missing command, found or not in PATH", async () => {
  await using watcher = new ProcessWatcher();
  const opts = { entity: "e", spawnId: "s", cwd: null, env: null };
  for (const command of ["no-such-command-here", "/no/such/file"]) {
    assert.throws(
      () => spawnEntity([command], opts, watcher),
      (e: unknown) => (e as HamError).code === "ENOENT" && (e as Error).message.includes(command),
    );
  }
});

Deno.test("spawnEntity() with a watcher throws EACCES for a path it cannot execute (a directory, no x bit)", async () => {
  await using watcher = new ProcessWatcher();
  const dir = await Deno.makeTempDir({ prefix: "ham-spawner-" });
  try {
    const file = `${dir}/not-executable`;
    await Deno.writeTextFile(file, "#!/bin/sh\n", { mode: 0o644 });
    const opts = { entity: "e", spawnId: "s", cwd: null, env: null };
    for (const command of [dir, file]) {
      assert.throws(
        () => spawnEntity([command], opts, watcher),
        (e: unknown) =>
          (e as HamError).code === "EACCES" &&
          (e as Error).message === `Cannot spawn "${command}": permission denied`,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("spawnEntity() names the working directory when it is missing (ENOENT) or not a directory (ENOTDIR)", async () => {
  await using watcher = new ProcessWatcher();
  const dir = await Deno.makeTempDir({ prefix: "ham-spawner-" });
  try {
    const file = `${dir}/file`;
    await Deno.writeTextFile(file, "");
    const cases: Array<[string, string, string]> = [
      [`${dir}/missing`, "ENOENT", "does not exist"],
      [file, "ENOTDIR", "is not a directory"],
      [`${file}/sub`, "ENOTDIR", "is not a directory"],
    ];
    // By posix_spawn (a watcher), by Deno.Command, and by the shell that opens the FIFOs.
    const output = { stdout: `${dir}/out`, stderr: `${dir}/err` };
    const ways: Array<[ProcessWatcher | undefined, OutputPipes | undefined]> = [
      [watcher, undefined],
      [undefined, undefined],
      [undefined, output],
    ];
    for (const [w, out] of ways) {
      for (const [cwd, code, why] of cases) {
        for (const command of ["/bin/sleep", "sleep"]) {
          const opts = {
            entity: "e",
            spawnId: "s",
            cwd,
            env: { PATH: "/usr/bin:/bin" },
            output: out,
          };
          assert.throws(
            () => spawnEntity([command, "5"], opts, w),
            (e: unknown) =>
              (e as HamError).code === code &&
              (e as Error).message ===
                `Cannot spawn "${command}": working directory "${cwd}" ${why}`,
          );
        }
      }
      // A missing command in a good directory is still the command's.
      const opts = { entity: "e", spawnId: "s", cwd: dir, env: null, output: out };
      assert.throws(
        () => spawnEntity(["no-such-command-here"], opts, w),
        (e: unknown) =>
          (e as HamError).code === "ENOENT" &&
          (e as Error).message === `Cannot spawn "no-such-command-here": no such file`,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("checkSpawnable() returns the file a command runs, found as the spawn finds it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ham-spawner-" });
  try {
    await Deno.mkdir(`${dir}/bin`);
    await Deno.writeTextFile(`${dir}/bin/tool`, "#!/bin/sh\n", { mode: 0o755 });
    assert.equal(checkSpawnable(["/bin/sleep", "1"], null, null), "/bin/sleep");
    assert.equal(checkSpawnable(["sleep"], "/", { PATH: "/usr/bin:/bin" }), "/usr/bin/sleep");
    // The entity's own PATH, relative entries relative to its working directory.
    assert.equal(checkSpawnable(["tool"], null, { PATH: `${dir}/bin` }), `${dir}/bin/tool`);
    assert.equal(checkSpawnable(["tool"], dir, { PATH: "bin" }), "bin/tool");
    assert.equal(checkSpawnable(["./bin/tool"], dir, null), "./bin/tool");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("checkSpawnable() refuses what the spawn would, with ENOENT, EACCES or ENOTDIR", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ham-spawner-" });
  try {
    const plain = `${dir}/plain`;
    await Deno.writeTextFile(plain, "#!/bin/sh\n", { mode: 0o644 });
    const cases: Array<[string[], string | null, Record<string, string> | null, string, string]> = [
      [[`${dir}/missing`], null, null, "ENOENT", `"${dir}/missing": no such file`],
      [["no-such-command-here"], null, { PATH: dir }, "ENOENT", "no such file"],
      [["/bin/sleep"], `${dir}/missing`, null, "ENOENT", `"${dir}/missing" does not exist`],
      [["/bin/sleep"], plain, null, "ENOTDIR", `"${plain}" is not a directory`],
      [[`${plain}/x`], null, null, "ENOTDIR", "a component of its path is not a directory"],
      [[plain], null, null, "EACCES", "permission denied (mode 0644: no execute bit)"],
      [[dir], null, null, "EACCES", "permission denied (it is a directory)"],
      [["./plain"], dir, null, "EACCES", `"./plain" ("${dir}/./plain"): permission denied`],
      [["plain"], null, { PATH: dir }, "EACCES", `"plain": permission denied`],
    ];
    for (const [argv, cwd, env, code, why] of cases) {
      assert.throws(
        () => checkSpawnable(argv, cwd, env),
        (e: unknown) => (e as HamError).code === code && (e as Error).message.includes(why),
        `${argv[0]} in ${cwd}: ${code} ${why}`,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("carriesMarker() is false when the marker comes with another HAM's state directory", () => {
  const env = new Map([["HAM_SPAWN_ID", "web#1/web/death:0"], ["HAM_STATE_DIR", "/run/a"]]);
  assert.equal(carriesMarker(env, "web#1/web/death:0", "/run/a"), true);
  assert.equal(carriesMarker(env, "web#1/web/death:0", "/run/b"), false);
  assert.equal(carriesMarker(env, "web#2/web/death:0", "/run/a"), false);
  assert.equal(carriesMarker(env, "web#1/web/death:0", null), true);
  assert.equal(carriesMarker(null, "x", null), false);
});

/**
 * Kills every process carrying `spawnId` (one may fork as it goes: until none is left) and
 * reaps them: they are this process's orphans. No other process is touched (other test
 * files may run beside this one, in this process).
 */
async function endMarked(spawnId: string): Promise<void> {
  const info = new Uint8Array(128);
  const seen = new Set<number>();
  for (let tries = 0; tries < 500; tries++) {
    const marked = (readDirNames("/proc") ?? []).map(Number).filter((pid) =>
      pid > 0 && processStat(pid)?.state !== "Z" &&
      readEnviron(pid)?.get("HAM_SPAWN_ID") === spawnId
    );
    for (const pid of marked) {
      seen.add(pid);
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* gone */ }
    }
    if (marked.length === 0) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  // ECHILD at once for one that is not this process's child.
  for (const pid of seen) libc().waitid(WAIT.P_PID, pid, info, WAIT.WEXITED);
  if (seen.size === 0) throw new Error(`no process carried ${spawnId}`);
}

Deno.test("findCommand() finds an execute's command while it runs, never what it forked", async () => {
  const spawnId = `command-test-${Deno.pid}`;
  const dir = await Deno.makeTempDir();
  try {
    // A helper in the background (its pid written first), then the command runs on as sleep.
    const cmd = runCommand(
      ["/bin/sh", "-c", `sleep 1004 & echo $! >${dir}/helper; exec sleep 1005`],
      { [SPAWN_ID_VAR]: spawnId },
      null,
    );
    let helper = 0;
    for (let i = 0; i < 400 && !helper; i++) {
      helper = Number(await Deno.readTextFile(`${dir}/helper`).catch(() => "")) || 0;
      if (!helper) await new Promise((r) => setTimeout(r, 5));
    }
    assert.ok(helper > 0, "the helper's pid");
    try {
      assert.equal(findCommand(spawnId), cmd.pid);
      Deno.kill(cmd.pid, "SIGKILL");
      await cmd.status;
      // The helper still carries the marker: a look for any process finds it, not this one.
      assert.equal(findSpawned(spawnId), helper);
      assert.equal(findCommand(spawnId), null);
    } finally {
      await endMarked(spawnId);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("findDaemon() finds the first-forked daemon even while it is exec'ing", async () => {
  // The command forks a daemon (which exec's twice: setsid, then sh) and a plain child, and
  // exits at once: findDaemon() runs while the daemon is often in the middle of an exec,
  // when its environment reads empty (about 1 in 25 rounds here before readEnviron() read
  // such a process again; the plain child was followed instead).
  assert.equal(setChildSubreaper(), true);
  await using watcher = new ProcessWatcher();
  const dir = await Deno.makeTempDir();
  const wrong: string[] = [];
  try {
    for (let round = 0; round < 40; round++) {
      const spawnId = `daemon-test-${round}`;
      // The command writes the daemon's pid before it exits ($! of its first job).
      const script = `setsid sh -c 'sleep 1003 & exec sleep 1001' & echo $! >${dir}/${round}; ` +
        `sleep 1002 & exit 0`;
      const p = spawnEntity(["/bin/sh", "-c", script], {
        entity: "e",
        spawnId,
        cwd: null,
        env: null,
      }, watcher);
      assert.deepEqual(await p.status, { code: 0, signal: null });
      try {
        const daemon = findDaemon(Deno.pid, spawnId, new Set());
        const expected = Number(await Deno.readTextFile(`${dir}/${round}`));
        if (daemon !== expected) {
          wrong.push(`round ${round}: ${daemon} (${readCmdline(daemon ?? 0)}), not ${expected}`);
        }
      } finally {
        await endMarked(spawnId);
      }
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  assert.deepEqual(wrong, []);
});

Deno.test("yieldsFor(): a restart yields under the fair policies only, never under real-time ones", () => {
  assert.deepEqual([0, 1, 2, 3, 5, 6].map(yieldsFor), [true, false, false, true, true, false]);
  assert.equal(yieldsFor(libc().sched_getscheduler(0)), true, "this process: SCHED_OTHER");
});

Deno.test({
  name: "yieldsFor(): a process run under SCHED_FIFO (chrt -f) is told not to yield",
  ignore: Deno.uid() !== 0 || !["/usr/bin/chrt", "/bin/chrt"].some((p) => {
    try {
      return Deno.statSync(p).isFile;
    } catch {
      return false;
    }
  }),
  async fn() {
    const root = new URL("../../../", import.meta.url).pathname;
    const code = `import { libc } from "${root}lib/os/libc.ts";
import { yieldsFor } from "${root}lib/os/spawner.ts";
const p = libc().sched_getscheduler(0);
console.log(p, yieldsFor(p));`;
    const out = await new Deno.Command("chrt", {
      args: [
        "-f",
        "1",
        `${root}bin/deno`,
        "eval",
        "--allow-ffi",
        "--allow-read",
        "--allow-env",
        code,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout).trim();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    assert.equal(text, "1 false");
  },
});
