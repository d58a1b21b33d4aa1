/**
 * The foundation, end to end: real `ham` and `hamctl` processes on a temporary state
 * directory, real workers, waits on events with deadlines.
 */

import {
  deepEqual as assertEquals,
  match as assertMatch,
  notEqual as assertNotEquals,
  ok as assert,
} from "node:assert/strict";
import { waitForPath } from "../../lib/os/path_waiter.ts";
import { readDirNames } from "../../lib/os/proc_fs.ts";
import { alive, deadline, HamProcess, until } from "../support/ham_process.ts";
import type { WaitFor } from "../../lib/core/protocol.ts";

/** Runs `cause`, then waits (event-driven) until the entity reaches `what` because of it. */
async function because(ham: HamProcess, entity: string, what: WaitFor, cause: () => void) {
  const since = await ham.seq();
  cause();
  return await ham.waitEvent(entity, what, since);
}

Deno.test("hamctl forms of the foundation issue work exactly as written", async () => {
  await using ham = await HamProcess.start();
  const sleeper = new Deno.Command("/bin/sleep", {
    args: ["1000"],
    env: { HAM_STATE_DIR: ham.stateDir },
  }).spawn();
  try {
    await ham.ok("attach", "web", "--", "/bin/sleep", "1000");
    await ham.ok("attach", "db", "--pid", String(sleeper.pid));
    await ham.ok("condition", "web/death", "death", "--rearm");
    await ham.ok("action", "web/death/restart", "restart", "--rearm");
    await ham.ok("action", "web/death/note", "log", "--message", "web died");
    const web = await ham.ok("status", "web", "--json");
    assertEquals(web.name, "web");
    assertEquals(web.type, "ATTACHED");
    assert(web.pid > 0 && alive(web.pid));
    assertEquals(web.conditions[0].path, "web/death");
    assertEquals(web.conditions[0].actions.map((a: { kind: string }) => a.kind), [
      "restart",
      "log",
    ]);
    const db = await ham.ok("status", "db", "--json");
    assertEquals(db.pid, sleeper.pid);
    assertEquals(db.command, ["/bin/sleep", "1000"]);
    await ham.ok("detach", "web");
    assertEquals((await ham.ctl("status", "web", "--json")).code, 5);
    assert(alive(web.pid), "detach stops monitoring; it does not kill");
    Deno.kill(web.pid, "SIGKILL");
    await ham.ok("stop");
    await deadline(ham.child.status, 10_000, "ham to stop");
  } finally {
    sleeper.kill("SIGKILL");
    await sleeper.status;
  }
});

Deno.test("a rearmed restart brings a killed worker back every time", async () => {
  await using ham = await HamProcess.start();
  await ham.ok("attach", "web", "--", "/bin/sleep", "1000");
  await ham.ok("condition", "web/death", "death", "--rearm");
  await ham.ok("action", "web/death/restart", "restart", "--rearm");
  const pids = new Set<number>();
  for (let i = 1; i <= 3; i++) {
    const before = await ham.ok("status", "web", "--json");
    pids.add(before.pid);
    await because(ham, "web", "restarted", () => Deno.kill(before.pid, "SIGKILL"));
    const after = await ham.ok("status", "web", "--json");
    assertNotEquals(after.pid, before.pid);
    assert(alive(after.pid));
    assertEquals(after.restarts, i);
    assertEquals(after.deaths, i);
    assertEquals(after.lastExit.signal, "SIGKILL");
  }
  assertEquals(pids.size, 3);
});

Deno.test("an entity that is not restarted is removed unless keep-on-death", async () => {
  await using ham = await HamProcess.start();
  await ham.ok("attach", "gone", "--", "/bin/sleep", "1000");
  await ham.ok("attach", "kept", "--keep-on-death", "--", "/bin/sleep", "1000");
  const gone = await ham.ok("status", "gone", "--json");
  const kept = await ham.ok("status", "kept", "--json");
  const since = await ham.seq();
  Deno.kill(gone.pid, "SIGTERM");
  Deno.kill(kept.pid, "SIGTERM");
  await ham.waitEvent("gone", "detached", since);
  await ham.waitEvent("kept", "dead", since);
  assertEquals((await ham.ctl("status", "gone", "--json")).code, 5);
  const k = await ham.ok("status", "kept", "--json");
  assertEquals(k.pid, null);
  assertEquals(k.lastExit.signal, "SIGTERM");
});

Deno.test("a failed restart runs its action-fail list", async () => {
  await using ham = await HamProcess.start();
  const marker = `${ham.stateDir}/fallback-ran`;
  await ham.ok("attach", "web", "--keep-on-death", "--", "/bin/sleep", "1000");
  await ham.ok("condition", "web/death", "death", "--rearm");
  await ham.ok("action", "web/death/restart", "restart", "--rearm", "--", "/nonexistent/web");
  await ham.ok(
    "action-fail",
    "web/death/restart",
    "fallback",
    "execute",
    "--",
    "/usr/bin/touch",
    marker,
  );
  const web = await ham.ok("status", "web", "--json");
  const since = await ham.seq();
  Deno.kill(web.pid, "SIGKILL");
  const fallback = await ham.nextEvent(
    (ev) => ev.type === "action-fail" && ev.entity === "web",
    since,
    "the action-fail execute to run",
  );
  assertEquals(fallback.detail, { kind: "execute", ok: true });
  Deno.statSync(marker);
  const after = await ham.ok("status", "web", "--json");
  assertEquals(after.pid, null);
  // The failed restart was removed (no keep-on-fail), so the rearmed condition is now empty.
  assertEquals(after.conditions.length, 0);
});

Deno.test("a compound restart waits for a path, then runs its execute", async () => {
  await using ham = await HamProcess.start();
  const ready = `${ham.stateDir}/ready`;
  const done = `${ham.stateDir}/reinit-done`;
  await ham.ok(
    "attach",
    "srv",
    "--",
    "/bin/sh",
    "-c",
    `rm -f ${ready}; sleep 0.1; touch ${ready}; exec sleep 1000`,
  );
  await ham.ok("condition", "srv/death", "death", "--rearm");
  await ham.ok("action", "srv/death/restart", "restart", "--rearm");
  await ham.ok("action", "srv/death/wait", "waitfor", "--rearm", "--delay", "5s", "--path", ready);
  await ham.ok("action", "srv/death/reinit", "execute", "--rearm", "--", "/usr/bin/touch", done);
  const srv = await ham.ok("status", "srv", "--json");
  assert(await waitForPath(ready, 10_000), "the first start creates its path");
  const since = await ham.seq();
  Deno.kill(srv.pid, "SIGKILL");
  const reinit = await ham.nextEvent(
    (ev) => ev.type === "action" && ev.entity === "srv" && ev.action === "reinit",
    since,
    "the reinit action to run",
  );
  assertEquals(reinit.detail, { kind: "execute", ok: true });
  Deno.statSync(done);
  const wait = await ham.ok("status", "srv/death/wait", "--json");
  assertEquals(wait.failures, 0);
});

Deno.test("bad input gets errno-style errors and never crashes the HAM", async () => {
  await using ham = await HamProcess.start();
  const bad: Array<[string[], string]> = [
    [["attach", "a/b", "--", "/bin/true"], "EINVAL"],
    [["attach", "x".repeat(300), "--", "/bin/true"], "ENAMETOOLONG"],
    [["attach", "p", "--pid", "999999999"], "Invalid pid"],
    [["condition", "nope/death", "death"], "ENOENT"],
    [["action", "nope/death/r", "restart"], "ENOENT"],
  ];
  for (const [args, code] of bad) {
    const r = await ham.ctl(...args);
    assertNotEquals(r.code, 0, args.join(" "));
    assertMatch(r.stderr, new RegExp(code), args.join(" "));
  }
  await ham.ok("attach", "w", "--", "/bin/sleep", "1000");
  const dup = await ham.ctl("attach", "w", "--", "/bin/sleep", "1000");
  assertEquals(dup.code, 6);
  assertMatch(dup.stderr, /EEXIST/);
  await ham.ok("condition", "w/c", "detach", "--nowait");
  const nowait = await ham.ctl("action", "w/c/x", "waitfor", "--delay", "1s");
  assertMatch(nowait.stderr, /EINVAL/);
  const restartOnDetach = await ham.ctl("action", "w/c/r", "restart");
  assertMatch(restartOnDetach.stderr, /EINVAL/);

  // Raw socket abuse: garbage, oversized line, unknown verb, mid-request disconnect.
  const conn = await Deno.connect({ transport: "unix", path: ham.socket });
  const enc = new TextEncoder();
  await conn.write(enc.encode('{"id":0,"op":"hello","version":1,"client":"fuzz"}\n'));
  await conn.write(enc.encode("not json\n"));
  await conn.write(enc.encode('{"id":5,"op":"frobnicate"}\n'));
  await conn.write(enc.encode('{"id":6,"op":"attach","entity":"z","pid":-4}\n'));
  const buf = new Uint8Array(64 * 1024);
  let text = "";
  while ((text.match(/\n/g) ?? []).length < 4) {
    const n = await conn.read(buf);
    if (n === null) break;
    text += new TextDecoder().decode(buf.subarray(0, n));
  }
  const lines = text.trim().split("\n").map((l) => JSON.parse(l));
  assertEquals(lines[0].ok, true);
  assertEquals(lines[1].error.code, "EPROTO");
  assertEquals(lines[2].error.code, "EPROTO");
  assertEquals(lines[3].error.code, "EINVAL");
  await conn.write(enc.encode('{"id":7,"op":"status"'));
  conn.close();
  const big = await Deno.connect({ transport: "unix", path: ham.socket });
  await big.write(enc.encode('{"id":0,"op":"hello","version":1}\n'));
  const huge = enc.encode("x".repeat(300 * 1024));
  const writing = (async () => {
    for (let off = 0; off < huge.length;) off += await big.write(huge.subarray(off));
  })().catch(() => {});
  let all = "";
  for (;;) {
    const n = await big.read(buf).catch(() => null);
    if (n === null) break;
    all += new TextDecoder().decode(buf.subarray(0, n));
  }
  await writing;
  big.close();
  assertMatch(all, /EMSGSIZE/);
  // Still alive and consistent.
  const w = await ham.ok("status", "w", "--json");
  assert(alive(w.pid));
});

Deno.test(
  "a HAM restarted on its state directory recovers every entity and action",
  async () => {
    // Without a Guardian: with one, killing the HAM causes a takeover, not a restart.
    await using ham = await HamProcess.start({ guardian: false });
    await ham.ok("attach", "alive", "--", "/bin/sleep", "1000");
    await ham.ok("attach", "dies", "--", "/bin/sleep", "1000");
    for (const e of ["alive", "dies"]) {
      await ham.ok("condition", `${e}/death`, "death", "--rearm");
      await ham.ok("action", `${e}/death/restart`, "restart", "--rearm");
      await ham.ok("action", `${e}/death/note`, "log", "--rearm", "--message", `${e} died`);
    }
    const a = await ham.ok("status", "alive", "--json");
    const d = await ham.ok("status", "dies", "--json");
    const since = await ham.seq(); // the event log is durable: numbering goes on after
    ham.child.kill("SIGKILL");
    await ham.child.status;
    Deno.kill(d.pid, "SIGKILL");
    await ham.restart();
    const a2 = await ham.ok("status", "alive", "--json");
    assertEquals(a2.pid, a.pid, "a live process is monitored again, not restarted");
    assertEquals(a2.restarts, 0);
    assertEquals(a2.conditions[0].actions.length, 2);
    await ham.waitEvent("dies", "restarted", since);
    const d2 = await ham.ok("status", "dies", "--json");
    assertNotEquals(d2.pid, d.pid, "the entity that died while no HAM ran was restarted");
    assertEquals(d2.restarts, 1, "exactly once");
    // And the re-adopted process is still watched: kill it, it is restarted.
    await because(ham, "alive", "restarted", () => Deno.kill(a.pid, "SIGKILL"));
    const a3 = await ham.ok("status", "alive", "--json");
    assertNotEquals(a3.pid, a.pid);
  },
);

Deno.test("hamctl attach --cwd names the working directory when it is missing or a file", async () => {
  await using ham = await HamProcess.start({ guardian: false });
  const file = `${ham.stateDir}/not-a-dir`;
  await Deno.writeTextFile(file, "");
  const cases: Array<[string, string]> = [
    [
      `${ham.stateDir}/nonexistent`,
      'ENOENT: Cannot spawn "/bin/sleep": working directory "%" does not exist',
    ],
    [file, 'ENOTDIR: Cannot spawn "/bin/sleep": working directory "%" is not a directory'],
  ];
  for (const [cwd, want] of cases) {
    const r = await ham.ctl("attach", "w", "--cwd", cwd, "--", "/bin/sleep", "5");
    assertNotEquals(r.code, 0);
    assertMatch(r.stderr, new RegExp(RegExp.escape(want.replace("%", cwd))));
  }
  await ham.ok("attach", "w", "--cwd", ham.stateDir, "--", "/bin/sleep", "1000");
  const w = await ham.ok("status", "w", "--json");
  assert(alive(w.pid));
});

Deno.test("a second ham on the same state directory refuses with EBUSY", async () => {
  await using ham = await HamProcess.start();
  const out = await new Deno.Command(`${new URL("../../bin/ham", import.meta.url).pathname}`, {
    args: ["--foreground", "--state-dir", ham.stateDir],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertEquals(out.code, 1);
  assertMatch(new TextDecoder().decode(out.stderr), /EBUSY.*another HAM holds its lock/);
});

Deno.test("a second ham refuses with EBUSY even when the lock file was removed", async () => {
  await using ham = await HamProcess.start();
  const before = await ham.pids();
  // What a clean-up script that takes it for a stale lock file does.
  await Deno.remove(`${ham.stateDir}/ham.lock`);
  const out = await new Deno.Command(`${new URL("../../bin/ham", import.meta.url).pathname}`, {
    args: ["--state-dir", ham.stateDir],
    // So that the cleanup finds a second HAM, if one started.
    env: { HAM_STATE_DIR: ham.stateDir },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assertEquals(out.code, 1, stderr);
  assertMatch(stderr, /EBUSY.*another HAM holds/);
  assertEquals(await ham.pids(), before);
});

Deno.test("a command that daemonizes is followed to the daemon's pid", async () => {
  await using ham = await HamProcess.start();
  const since = await ham.seq();
  const first = await ham.ok(
    "attach",
    "dmn",
    "--keep-on-death",
    "--json",
    "--",
    "/bin/sh",
    "-c",
    "(sleep 1000 >/dev/null 2>&1 &) ; exit 0",
  );
  await ham.ok("condition", "dmn/death", "death", "--rearm");
  await ham.ok("action", "dmn/death/note", "log", "--rearm", "--message", "daemon died");
  const follow = await ham.nextEvent(
    (ev) => ev.type === "follow" && ev.entity === "dmn",
    since,
    "the daemon to be followed",
  );
  const followed = await ham.ok("status", "dmn", "--json");
  assertEquals(followed.pid, follow.detail?.pid);
  assertNotEquals(followed.pid, first.pid);
  assert(alive(followed.pid));
  assertEquals(followed.deaths, 0);
  await because(ham, "dmn", "dead", () => Deno.kill(followed.pid, "SIGSEGV"));
  const st = await ham.ok("status", "dmn", "--json");
  // The daemon was adopted by the HAM (a subreaper), so its exit status is known.
  assertEquals(st.lastExit.signal, "SIGSEGV");
  assertEquals(st.pid, null);
});

Deno.test("attach onto a placeholder keeps the placeholder's keep-on-death", async () => {
  await using ham = await HamProcess.start();
  await ham.ok("entity", "pk", "--keep-on-death");
  await ham.ok("attach", "pk", "--", "/bin/sleep", "1000");
  const pk = await ham.ok("status", "pk", "--json");
  assertEquals(pk.flags, 0x2);
  await because(ham, "pk", "dead", () => Deno.kill(pk.pid, "SIGKILL"));
  const after = await ham.ok("status", "pk", "--json");
  assertEquals([after.pid, after.flags], [null, 0x2]);
});

Deno.test("a failing do-now action is removed like any failing action", async () => {
  await using ham = await HamProcess.start();
  await ham.ok("attach", "web", "--", "/bin/sleep", "1000");
  await ham.ok("condition", "web/up", "raise", "--rearm");
  await ham.ok("action", "web/up/keep", "log", "--message", "stays");
  const since = await ham.seq();
  await ham.ok("action", "web/up/mount", "execute", "--do-now", "--", "/bin/false");
  const ran = await ham.nextEvent(
    (ev) => ev.type === "action" && ev.entity === "web" && ev.action === "mount",
    since,
    "the do-now action to run",
  );
  assertEquals(ran.detail, { kind: "execute", ok: false, now: true });
  const web = await ham.ok("status", "web", "--json");
  assertEquals(web.conditions[0].actions.map((a: { path: string }) => a.path), ["web/up/keep"]);
});

Deno.test("hamctl attach --pid of a thread that is not the process refuses with EINVAL", async () => {
  await using ham = await HamProcess.start({ guardian: false });
  // A Deno process: a few threads from its start.
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", "setInterval(() => {}, 1e9)"],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    const tid = await until(
      () =>
        Promise.resolve(readDirNames(`/proc/${child.pid}/task`)?.find((t) => t !== `${child.pid}`)),
      "a second thread in the child",
    );
    const r = await ham.ctl("attach", "t", "--pid", tid);
    assertNotEquals(r.code, 0);
    assertMatch(
      r.stderr,
      new RegExp(`EINVAL: .*pid ${tid} is a thread of process ${child.pid}, not a process`),
    );
    // The process itself is attached.
    await ham.ok("attach", "t", "--pid", String(child.pid));
    assertEquals((await ham.ok("status", "t", "--json")).pid, child.pid);
    await ham.ok("detach", "t");
  } finally {
    child.kill("SIGKILL");
    await child.status;
  }
});
