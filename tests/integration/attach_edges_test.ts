/**
 * Attach and heartbeats at their edges, with real processes: a process attached under a
 * second name, pids that end or are handed out again around an attach, zombies, threads,
 * protected pids, beats from the wrong caller, and absurd numbers through `hamctl`,
 * `mod.ts` and config files.
 */

import { deepEqual as assertEquals, match as assertMatch, ok as assert } from "node:assert/strict";
import { connect } from "../../mod.ts";
import { HamError } from "../../lib/core/errors.ts";
import { readDirNames } from "../../lib/os/proc_fs.ts";
import { processStat } from "../../lib/os/proc.ts";
import { HamProcess, until } from "../support/ham_process.ts";
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

Deno.test("attach --pid and signal --pid of one of the HAM's threads are refused with EINVAL, naming its process", async () => {
  await using ham = await HamProcess.start({ guardian: false });
  const hamPid = await ham.hamPid();
  const tid = (readDirNames(`/proc/${hamPid}/task`) ?? []).find((t) => t !== String(hamPid));
  assert(tid !== undefined, "the HAM has threads");
  const thread = new RegExp(`EINVAL: .*pid ${tid} is a thread of process ${hamPid}, not a process`);
  const attach = await ham.ctl("attach", "t", "--pid", tid);
  assertEquals(attach.code, 1, attach.stderr);
  assertMatch(attach.stderr, thread);
  await ham.ok("entity", "e");
  await ham.ok("condition", "e/c", "raise", "--rearm");
  // kill() of a thread id signals its whole process: here, the HAM.
  const signal = await ham.ctl("action", "e/c/s", "signal", "--pid", tid, "--signal", "STOP");
  assertEquals(signal.code, 1, signal.stderr);
  assertMatch(signal.stderr, thread);
  const fail = await ham.ctl("action-fail", "e/c/s", "f", "signal", "--pid", tid);
  assertEquals(fail.code, 1, fail.stderr);
  assertEquals(await ham.ok("ping"), "pong");
});

Deno.test("attach --pid of a zombie is refused with ESRCH, and nothing is attached", async () => {
  await using ham = await HamProcess.start({ guardian: false });
  const file = `${ham.stateDir}.zombie`;
  // The child ends once its parent is `sleep 1000`, which never reaps it (a shell might).
  const parent = new Deno.Command("/bin/sh", {
    args: ["-c", `(sleep 0.2; exit 0) & echo $! > ${file}; exec sleep 1000`],
    env: { HAM_STATE_DIR: ham.stateDir },
  }).spawn();
  try {
    const zombie = await until(async () => {
      const pid = Number(await Deno.readTextFile(file).catch(() => ""));
      return pid > 0 && processStat(pid)?.state === "Z" ? pid : null;
    }, "a zombie");
    const r = await ham.ctl("attach", "z", "--pid", String(zombie));
    assertEquals(r.code, 1, r.stderr);
    assertMatch(r.stderr, /^hamctl: ESRCH: /);
    assertEquals((await ham.ctl("status", "z")).code, 5);
  } finally {
    parent.kill("SIGKILL");
    await parent.status;
    await Deno.remove(file).catch(() => {});
  }
});

Deno.test("absurd numbers through hamctl are usage errors naming the option, before anything is sent", async () => {
  await using ham = await HamProcess.start({ guardian: false });
  await ham.ok("entity", "e");
  await ham.ok("condition", "e/c", "raise", "--rearm");
  const since = await ham.seq();
  const cases: string[][] = [];
  for (const v of ["9007199254740992", "2147483648", "-5", "NaN", "1e999", "Infinity", "1e3", ""]) {
    cases.push(["attach", "w", "--pid", "1234", `--heartbeat=${v}`]);
    cases.push(["action", "e/c/x", "execute", `--timeout=${v}`, "--", "/bin/true"]);
    cases.push(["action-fail", "e/c/x", "f", "execute", `--timeout=${v}`, "--", "/bin/true"]);
    cases.push(["action", "e/c/w", "waitfor", `--delay=${v}`]);
  }
  for (const v of ["-1", "NaN", "1e999", "1.5", "9007199254740993"]) {
    cases.push(["attach", "w", "--pid", "1234", "--heartbeat", "1s", `--low=${v}`]);
    cases.push(["attach", "w", `--pid=${v}`]);
  }
  cases.push(["attach", "w", "--pid", "1234", "--heartbeat", "1s", "--high=1000001"]);
  cases.push(["attach", "w", "--pid=4194305"]);
  for (const args of cases) {
    const r = await ham.ctl(...args);
    assertEquals(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assertMatch(r.stderr, /^hamctl: \S+: (EINVAL: )?Invalid /, args.join(" "));
  }
  // Nothing reached the HAM: no change, no refusal.
  assertEquals(await ham.seq(), since);
  assertEquals(await ham.ok("ping"), "pong");
});

Deno.test("absurd numbers through mod.ts get EINVAL and change nothing, NaN and infinities included", async () => {
  await using ham = await HamProcess.start({ guardian: false });
  await using lib = await connect({ stateDir: ham.stateDir, client: "test" });
  const sleeper = new Deno.Command("/bin/sleep", {
    args: ["1000"],
    env: { HAM_STATE_DIR: ham.stateDir },
  }).spawn();
  try {
    const hb = (periodMs: unknown, low: unknown = 1, high: unknown = 0) =>
      ({ periodMs, low, high }) as never;
    const target = { pid: sleeper.pid };
    const absurd = [NaN, Infinity, -Infinity, -1, 2 ** 53, 1.5, "1e999", "5"];
    for (const v of absurd) {
      await assertRejectsWith(lib.attach("w", target, { heartbeat: hb(v) }), "EINVAL", /periodMs/);
      await assertRejectsWith(lib.attach("w", target, { heartbeat: hb(1000, v) }), "EINVAL", /low/);
      await assertRejectsWith(
        lib.attach("w", target, { heartbeat: hb(1000, 0, v) }),
        "EINVAL",
        /high/,
      );
      await assertRejectsWith(lib.attachSelf("me", { heartbeat: hb(v) }), "EINVAL", /periodMs/);
    }
    const cond = await (await lib.entity("e")).condition("c", "raise", { flags: ["rearm"] });
    for (const v of absurd) {
      await assertRejectsWith(
        cond.execute("x", ["/bin/true"], { timeoutMs: v as number }),
        "EINVAL",
        /timeoutMs/,
      );
      await assertRejectsWith(cond.waitfor("w", v as number), "EINVAL", /delayMs/);
    }
    const names = (await ham.status()).entities.map((e) => e.name).filter((n) => n !== "@global");
    assertEquals(names, ["e"]);
    assertEquals((await ham.ok("status", "e/c", "--json")).actions, []);
    assertEquals(await ham.ok("ping"), "pong");
  } finally {
    sleeper.kill("SIGKILL");
    await sleeper.status;
  }
});

Deno.test("absurd numbers in a config file are refused with EINVAL naming the file, line and key", async () => {
  await using ham = await HamProcess.start({ guardian: false });
  const file = `${ham.stateDir}.yaml`;
  const entity = (lines: string) => `entities:\n  w:\n    command: [/bin/sleep, '1000']\n${lines}`;
  const hook = (timeout: string) =>
    entity(
      "    conditions:\n      c:\n        type: raise\n        actions:\n" +
        `          x: { kind: execute, command: [/bin/true], timeout: ${timeout} }\n`,
    );
  const cases: Array<[string, RegExp]> = [
    [entity("    heartbeat: { period: 9007199254740992 }\n"), /heartbeat\.period/],
    [entity("    heartbeat: { period: .nan }\n"), /heartbeat\.period/],
    [entity("    heartbeat: { period: 1e999 }\n"), /heartbeat\.period/],
    [entity("    heartbeat: { period: '-1s' }\n"), /heartbeat\.period/],
    [entity("    heartbeat: { period: 1s, low: .nan }\n"), /heartbeat/],
    [entity("    heartbeat: { period: 1s, high: .inf }\n"), /heartbeat/],
    [entity("    heartbeat: { period: 1s, low: -3 }\n"), /heartbeat/],
    [hook("1e999"), /actions\.x\.timeout/],
    [hook(".nan"), /actions\.x\.timeout/],
    [hook("-1"), /actions\.x\.timeout/],
    [hook("'1e999'"), /actions\.x\.timeout/],
    [hook("9007199254740992"), /actions\.x\.timeout/],
  ];
  try {
    for (const [text, key] of cases) {
      await Deno.writeTextFile(file, text);
      const r = await ham.ctl("apply", file);
      assertEquals(r.code, 1, `${text}\n${r.stderr}`);
      assertMatch(r.stderr, new RegExp(`^hamctl: EINVAL: ${file.replaceAll(".", "\\.")}:\\d+: `));
      assertMatch(r.stderr, key, text);
    }
    assertEquals((await ham.ctl("status", "w")).code, 5, "nothing was applied");
  } finally {
    await Deno.remove(file).catch(() => {});
  }
});

Deno.test("a process that self-attaches its entity again on a second connection moves it there: the first connection's end is not its death", async () => {
  await using ham = await HamProcess.start({ guardian: false });
  await using first = await connect({ stateDir: ham.stateDir, client: "first" });
  await using second = await connect({ stateDir: ham.stateDir, client: "second" });
  const heartbeat = { periodMs: 60_000, low: 5, high: 10 };
  await first.attachSelf("me", { heartbeat });
  await first.heartbeat(); // a heartbeat slot: its file goes when the connection's end is handled
  const slots = () => [...Deno.readDirSync(`${ham.stateDir}/beats`)].map((d) => d.name);
  const firstSlot = slots();
  assertEquals(firstSlot.length, 1, `the first connection's slot file: ${firstSlot}`);
  await second.attachSelf("me", { heartbeat }); // the same process, the same name: its re-attach
  await first.close();
  await until(
    () => Promise.resolve(!slots().includes(firstSlot[0])),
    "the first connection's end handled",
  );
  // Still held (by the second connection): it detaches it, and nothing died.
  await second.detachSelf("me");
  const r = await ham.ok("events", "--entity", "me", "--json");
  const types = (r.events as { type: string }[]).map((e) => e.type);
  assertEquals(types.filter((t) => t === "death"), [], types.join(" "));
  assert(types.includes("reattach") && types.includes("detach"), types.join(" "));
});
