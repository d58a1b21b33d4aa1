/**
 * The Guardian, end to end: real `ham` processes with their Guardians, killed with real
 * signals; real workers; waits on events and on the socket with deadlines.
 */

import {
  deepEqual as assertEquals,
  match as assertMatch,
  notEqual as assertNotEquals,
  ok as assert,
  rejects,
} from "node:assert/strict";
import { connect } from "../../lib/client/ham.ts";
import { HamError } from "../../lib/core/errors.ts";
import { JournalTail } from "../../lib/store/journal_tail.ts";
import { processStartTime, processStat } from "../../lib/os/proc.ts";
import { readDirNames } from "../../lib/os/proc_fs.ts";
import type { EntityView } from "../../lib/core/status_view.ts";
import { alive, HamProcess, processesOf, until } from "../support/ham_process.ts";
import { startSelfAttached } from "../support/fault_self_attach.ts";

/** True once every thread of `pid` is stopped (a SIGSTOP is delivered asynchronously). */
function stopped(pid: number): boolean {
  const tids = readDirNames(`/proc/${pid}/task`) ?? [];
  return tids.length > 0 && tids.every((t) => processStat(Number(t))?.state === "T");
}

/** Attaches `n` sleeping workers `w0`… with a rearmed death → restart + log each. */
async function workers(ham: HamProcess, n: number): Promise<void> {
  await using c = await connect({ stateDir: ham.stateDir, client: "test" });
  for (let i = 0; i < n; i++) {
    const w = await c.attach(`w${i}`, { argv: ["/bin/sleep", "1000"] });
    const death = await w.condition("death", "death", { flags: ["rearm"] });
    await death.restart("restart", { flags: ["rearm"] });
    await death.log("note", `w${i} died`, { flags: ["rearm"] });
  }
}

/** The bytes of a snapshot taken after seq 0 in `dir`, or null. */
function snapshotImage(dir: string): Uint8Array | null {
  try {
    for (const f of Deno.readDirSync(dir)) {
      if (/^\d{16}\.snap$/.test(f.name) && Number(f.name.slice(0, 16)) > 0) {
        return Deno.readFileSync(`${dir}/${f.name}`);
      }
    }
  } catch { /* No snapshot directory yet. */ }
  return null;
}

function existsSync(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

async function entity(ham: HamProcess, name: string): Promise<EntityView> {
  return await ham.ok("status", name, "--json");
}

Deno.test(
  "a Guardian takes over a SIGKILLed HAM with the full state and the same workers",
  async () => {
    await using ham = await HamProcess.start();
    await workers(ham, 3);
    await ham.ok("entity", "later");
    await ham.ok("condition", "later/up", "attach");
    await ham.ok("action", "later/up/note", "log", "--message", "later attached");
    const before = await ham.ok("status", "--json");
    const starts = before.entities.map((e: EntityView) => e.pid && processStartTime(e.pid));
    // As it mirrors, the Guardian joins the full status answer of its copy ahead of need.
    await until(
      () =>
        Promise.resolve(/Guardian: full status answer joined at seq \d+/.test(ham.log()) || null),
      "the Guardian to join the full status answer",
    );
    const dead = await ham.killHam("SIGKILL");
    const pids = await ham.waitTakeover(dead);
    assertNotEquals(pids.guardianPid, dead);
    const after = await ham.ok("status", "--json");
    assertEquals(after.entities, before.entities, "entities, conditions and actions as before");
    assertEquals(after.hamPid, pids.hamPid);
    assertEquals(after.hamFailures, 1);
    assert(after.lastTakeover !== null);
    for (const [i, e] of after.entities.entries()) {
      if (e.pid === null) continue;
      assert(alive(e.pid), `${e.name} is still running: not restarted, not signalled`);
      assertEquals(processStartTime(e.pid), starts[i], `${e.name} is the same process`);
    }
    // A worker killed after the takeover is restarted by the new HAM.
    const since = await ham.seq();
    Deno.kill(before.entities[1].pid, "SIGKILL");
    await ham.waitEvent("w1", "restarted", since);
    const w1 = await entity(ham, "w1");
    assertNotEquals(w1.pid, before.entities[1].pid);
    assertEquals([w1.restarts, w1.deaths], [1, 1]);
    assert(ham.log().includes("took over from HAM"));
    // Hot standby: the state handed over from the live copy, the processes watched by the
    // pidfds the Guardian opened while mirroring.
    assertMatch(ham.log(), /took over from HAM .*\(state from the live copy /);
    // It had run the takeover's code once, on a scratch state of its own, when it started.
    assertMatch(ham.log(), /Guardian \d+ rehearsed a takeover in /);
    // pidfds and output FIFOs the Guardian opened while mirroring (three spawned workers).
    assertMatch(
      ham.log(),
      /taking over \(3 processes watched ahead by pidfd, the output FIFOs of 3 held open, the full status answer (joined|to join)\)/,
    );
  },
);

Deno.test("a Guardian that took over removes the output FIFOs no entity has, once it answers", async () => {
  await using ham = await HamProcess.start();
  await workers(ham, 1);
  const pipes = `${ham.stateDir}/pipes`;
  const own = [...Deno.readDirSync(pipes)].map((f) => f.name).sort();
  assertEquals(own.length, 2, "w0's stdout and stderr FIFOs");
  // What a HAM that died between removing an entity and its FIFOs leaves.
  Deno.writeTextFileSync(`${pipes}/ghost.stdout`, "");
  const dead = await ham.killHam("SIGKILL");
  await ham.waitTakeover(dead);
  await until(
    () => Promise.resolve(!existsSync(`${pipes}/ghost.stdout`) || null),
    "the FIFO of no entity to be removed after the takeover",
  );
  assertEquals([...Deno.readDirSync(pipes)].map((f) => f.name).sort(), own);
});

Deno.test(
  "a full status after a takeover is each entity's own status, before and after more changes",
  async () => {
    await using ham = await HamProcess.start();
    await workers(ham, 2);
    await ham.ok("entity", "later");
    await ham.ok("condition", "later/up", "attach");
    await ham.ok("action", "later/up/note", "log", "--message", "later attached");
    await ham.ok("entity", "gone");
    await ham.ok("detach", "gone");
    const guardian = (await ham.pids()).guardianPid;
    // The Guardian renders the full status answer of what it mirrored, and hands it over.
    await until(
      () => Promise.resolve(/Guardian: full status answer rendered for/.test(ham.log()) || null),
      "the Guardian to render the full status answer",
    );
    const dead = await ham.killHam("SIGKILL");
    await ham.waitTakeover(dead);
    assert(ham.log().includes(`Guardian ${guardian} took over`));
    await using c = await connect({ stateDir: ham.stateDir, client: "test" });
    const matches = async (what: string, names: string[]) => {
      const full = await c.status() as { entities: EntityView[] };
      assertEquals(full.entities.map((e) => e.name), names, what);
      for (const e of full.entities) assertEquals(e, await c.status(e.name), `${what}: ${e.name}`);
    };
    await matches("after the takeover", ["w0", "w1", "later"]);
    // Changes after it: a death and restart, a new condition, a detach, a new entity.
    const w0 = await c.status("w0") as EntityView;
    const since = await ham.seq();
    Deno.kill(w0.pid!, "SIGKILL");
    await ham.waitEvent("w0", "restarted", since);
    await ham.ok("condition", "w1/gone", "death");
    await ham.ok("detach", "later");
    await ham.ok("entity", "last");
    await matches("after more changes", ["w0", "w1", "last"]);
  },
);

Deno.test("a worker killed while no HAM is up is handled exactly once", async () => {
  await using ham = await HamProcess.start();
  await workers(ham, 2);
  const w0 = await entity(ham, "w0");
  const dead = await ham.killHam("SIGKILL");
  Deno.kill(w0.pid!, "SIGKILL");
  await ham.waitTakeover(dead);
  const restarted = await until(async () => {
    const e = await entity(ham, "w0");
    return e.pid !== w0.pid && e.pid !== null ? e : null;
  }, "w0 to be restarted after the takeover");
  assertEquals([restarted.restarts, restarted.deaths], [1, 1]);
  await using c = await connect({ stateDir: ham.stateDir });
  const { events } = await c.events({ entity: "w0" });
  assertEquals(events.filter((e) => e.type === "restart").length, 1);
  const w1 = await entity(ham, "w1");
  assertEquals([w1.restarts, w1.deaths], [0, 0]);
});

Deno.test("a SIGKILLed Guardian is replaced by its HAM", async () => {
  await using ham = await HamProcess.start();
  const { hamPid, guardianPid } = await ham.pids();
  await ham.killGuardian("SIGKILL");
  const next = await ham.waitGuardian(guardianPid);
  const st = await ham.status();
  assertEquals([st.hamPid, st.guardianPid, st.guardianFailures, st.hamFailures], [
    hamPid,
    next,
    1,
    0,
  ]);
});

Deno.test("hamctl stop ends the HAM and its Guardian", async () => {
  await using ham = await HamProcess.start();
  await workers(ham, 1);
  const { hamPid, guardianPid } = await ham.pids();
  const w0 = await entity(ham, "w0");
  await ham.ok("stop", "--wait");
  await until(() => Promise.resolve(!alive(hamPid) && !alive(guardianPid!) || null), "both");
  const left = await processesOf(ham.stateDir);
  assert(!left.includes(hamPid) && !left.includes(guardianPid!), `left: ${left}`);
  assert(alive(w0.pid!), "a stop leaves the workers running");
  Deno.kill(w0.pid!, "SIGKILL"); // No HAM owns it any more: the test does.
});

Deno.test("SIGTERM to a HAM with a Guardian causes a takeover, not a stop", async () => {
  await using ham = await HamProcess.start();
  await workers(ham, 1);
  const w0 = await entity(ham, "w0");
  const dead = await ham.killHam("SIGTERM");
  await ham.waitTakeover(dead);
  const st = await ham.status();
  assertEquals(st.hamFailures, 1);
  assertEquals(st.entities[0].pid, w0.pid);
  assert(ham.log().includes("exiting on SIGTERM"));
});

Deno.test("SIGINT to the HAM and its Guardian (Ctrl-C) ends both, and the log says so", async () => {
  await using ham = await HamProcess.start();
  const { hamPid, guardianPid } = await ham.pids();
  // Its handlers are installed once it says it is watching (a signal before would be the
  // runtime's default).
  await until(
    () => Promise.resolve(ham.log().includes(`Guardian ${guardianPid} watching`) || null),
    "the Guardian to be watching",
  );
  // A terminal's Ctrl-C signals its whole foreground process group.
  Deno.kill(guardianPid!, "SIGINT");
  Deno.kill(hamPid, "SIGINT");
  await until(() => Promise.resolve(!alive(hamPid) && !alive(guardianPid!) || null), "both");
  assertMatch(ham.log(), new RegExp(`HAM ${hamPid} exiting on SIGINT`));
  assertMatch(
    ham.log(),
    new RegExp(`Guardian ${guardianPid} exiting on SIGINT: nothing takes over from HAM ${hamPid}`),
  );
});

Deno.test("an action list cut by the HAM's death is resumed, not repeated", async () => {
  await using ham = await HamProcess.start();
  const out = `${ham.stateDir}/list-out`;
  await ham.ok("attach", "w", "--", "/bin/sleep", "1000");
  await ham.ok("condition", "w/death", "death");
  await ham.ok("action", "w/death/a", "execute", "--", "/bin/sh", "-c", `printf a >> ${out}`);
  await ham.ok("action", "w/death/wait", "waitfor", "--delay", "3000ms");
  await ham.ok("action", "w/death/b", "execute", "--", "/bin/sh", "-c", `printf b >> ${out}`);
  const w = await entity(ham, "w");
  const dead = await ham.hamPid(); // Asked now: a busy machine's handshake could outlast the wait.
  using tail = JournalTail.open(ham.stateDir);
  Deno.kill(w.pid!, "SIGKILL");
  // Kill the HAM during the waitfor, once the first action's completion is in the journal.
  await until(() => {
    tail.catchUp();
    return Promise.resolve([...tail.state.runs.values()].some((r) => r.next === 1) || null);
  }, "the first action to complete");
  Deno.kill(dead, "SIGKILL");
  assertEquals(Deno.readTextFileSync(out), "a");
  await ham.waitTakeover(dead);
  const text = await until(async () => {
    const t = await Deno.readTextFile(out);
    return t.includes("b") ? t : null;
  }, "the last action to run");
  assertEquals(text, "ab");
});

Deno.test("a self-attached client re-attaches by itself after a takeover", async () => {
  await using ham = await HamProcess.start();
  await using client = await startSelfAttached(ham.stateDir, "selfie");
  const before = await entity(ham, "selfie");
  assertEquals([before.type, before.pid], ["ATTACHEDSELF", client.pid]);
  const dead = await ham.killHam("SIGKILL");
  await ham.waitTakeover(dead);
  await using c = await connect({ stateDir: ham.stateDir });
  await until(async () => {
    const { events } = await c.events({ entity: "selfie" });
    return events.some((e) => e.type === "reattach") || null;
  }, "the client to re-attach");
  const after = await entity(ham, "selfie");
  assertEquals([after.type, after.pid, after.deaths], ["ATTACHEDSELF", client.pid, 0]);
  // Its connection is its life again: the new HAM sees it die.
  const since = await ham.seq();
  client.child.kill("SIGKILL");
  await ham.waitEvent("selfie", "dead", since);
});

Deno.test("a self-attached entity another client detached stays gone after a takeover", async () => {
  await using ham = await HamProcess.start();
  await using me = await connect({ stateDir: ham.stateDir, client: "test" });
  await me.attachSelf("zombie");
  await ham.ok("detach", "zombie"); // Acknowledged: durable before the HAM dies.
  const generation = me.client.generation;
  const dead = await ham.killHam("SIGKILL");
  await ham.waitTakeover(dead);
  await until(
    () => Promise.resolve(me.client.generation !== generation || null),
    "the client to lose its connection",
  );
  await me.ping(); // Waits for the reconnection, and the renewals made on it.
  const isEnoent = (err: unknown) => err instanceof HamError && err.code === "ENOENT";
  await rejects(me.status("zombie"), isEnoent);
  const { events } = await me.events({ entity: "zombie" });
  assertEquals(
    events.map((e) => e.type).filter((t) => ["attach", "reattach", "detach"].includes(t)),
    ["attach", "detach"],
  );
  // The process hears of it: a beat for it is refused.
  await rejects(me.heartbeat("zombie"), isEnoent);
  // Forgotten, it holds no claim: the process self-attaches again, under another name (a
  // process is one self-attached entity at a time).
  await me.attachSelf("kept");
  const kept = await entity(ham, "kept");
  assertEquals([kept.type, kept.pid], ["ATTACHEDSELF", Deno.pid]);
  await me.detachSelf("kept");
});

Deno.test("a HAM restarted after both the HAM and its Guardian died recovers", async () => {
  await using ham = await HamProcess.start();
  await workers(ham, 2);
  const w0 = await entity(ham, "w0");
  const w1 = await entity(ham, "w1");
  const { hamPid, guardianPid } = await ham.pids();
  Deno.kill(hamPid, "SIGSTOP"); // So that it cannot start another Guardian.
  Deno.kill(guardianPid!, "SIGKILL");
  Deno.kill(hamPid, "SIGKILL");
  await ham.child.status;
  Deno.kill(w1.pid!, "SIGKILL");
  await ham.restart();
  const st = await ham.status();
  assertEquals(st.entities.find((e) => e.name === "w0")!.pid, w0.pid);
  const restarted = await until(async () => {
    const e = await entity(ham, "w1");
    return e.pid !== w1.pid && e.pid !== null ? e : null;
  }, "w1 to be restarted");
  assertEquals([restarted.restarts, restarted.deaths], [1, 1]);
});

Deno.test(
  "a Guardian takes over from a binary snapshot image plus the journal after it",
  async () => {
    await using ham = await HamProcess.start({ env: { HAM_COMPACT_RECORDS: "20" } });
    await workers(ham, 6); // More than 20 records: the HAM compacts.
    const snapshots = `${ham.stateDir}/snapshot`;
    const image = await until(() => Promise.resolve(snapshotImage(snapshots)), "a snapshot");
    assertEquals(new TextDecoder().decode(image.subarray(0, 4)), "HAMT");
    await ham.ok("state", "w2", "5"); // Only in the journal after the snapshot.
    const before = await ham.ok("status", "--json");
    const dead = await ham.killHam("SIGKILL");
    const pids = await ham.waitTakeover(dead);
    const after = await ham.ok("status", "--json");
    assertEquals(after.entities, before.entities);
    assertEquals((await entity(ham, "w2")).state, 5);
    const started = [...ham.log().matchAll(/HAM (\d+) started on .*, snapshot at (\d+),/g)];
    assertEquals(Number(started.at(-1)?.[1]), pids.hamPid);
    assert(Number(started.at(-1)?.[2]) > 0, "the new HAM started from a snapshot");
  },
);

Deno.test("an error nothing catches ends the HAM, logged, and its Guardian takes over", async () => {
  const killFile = await Deno.makeTempFile();
  await Deno.remove(killFile);
  await using ham = await HamProcess.start({ env: { HAM_TEST_KILL_AT: killFile } });
  const worker = Number(await ham.ok("attach", "w", "--", "/bin/sleep", "1000"));
  const { hamPid } = await ham.pids();
  // The next step of the engine throws where nothing catches it (what a bug would do).
  await Deno.writeTextFile(killFile, "throw:1");
  await ham.ctl("attach", "x", "--", "/bin/sleep", "1001");
  const after = await ham.waitTakeover(hamPid);
  assert(after.hamPid !== hamPid);
  assert(alive(worker), "the worker runs on");
  assertEquals((await ham.ok("status", "w", "--json")).pid, worker);
  assertMatch(ham.log(), /ham \d+: fatal: an uncaught error: Error: test error at step/);
});

Deno.test(
  "a Guardian whose HAM was replaced while it was stopped never takes over, not even after a stop",
  async () => {
    await using ham = await HamProcess.start();
    const first = await ham.pids();
    const stale = first.guardianPid!;
    await until(
      () => Promise.resolve(ham.log().includes(`Guardian ${stale} watching HAM`)),
      "the Guardian to watch its HAM",
    );
    // Stopped for longer than its HAM lives: it sees neither the death nor the new HAM.
    Deno.kill(stale, "SIGSTOP");
    await until(() => Promise.resolve(stopped(stale)), "the Guardian to stop");
    Deno.kill(first.hamPid, "SIGKILL");
    await ham.child.status;
    try {
      await ham.restart(); // A new HAM on the state directory, with a Guardian of its own.
      const second = await ham.pids();
      assertNotEquals(second.guardianPid, stale);
      Deno.kill(stale, "SIGCONT");
      // The new HAM dies: its own Guardian takes over, not the stale one.
      Deno.kill(second.hamPid, "SIGKILL");
      const third = await ham.waitTakeover(second.hamPid);
      assertEquals(third.hamPid, second.guardianPid);
      // A stop ends everything: the stale Guardian, once it gets the lock, exits.
      const stop = await ham.ctl("stop", "--wait", "--timeout", "10s");
      assertEquals(stop.code, 0, stop.stderr);
      await until(() => Promise.resolve(!alive(stale)), "the stale Guardian to exit");
      assertMatch(
        ham.log(),
        new RegExp(`Guardian ${stale} exiting: HAM ${first.hamPid}, which it guards, was replaced`),
      );
    } finally {
      try {
        Deno.kill(stale, "SIGCONT");
      } catch { /* gone */ }
    }
  },
);

Deno.test("an operator's restart cut by the HAM's death is finished by the HAM that takes over", async () => {
  await using ham = await HamProcess.start();
  // A worker that takes a while to end on SIGTERM, and a death condition that must not fire.
  await ham.ok(
    "attach",
    "w",
    "--",
    "/bin/sh",
    "-c",
    'trap "sleep 0.5; exit 0" TERM; while :; do sleep 0.05; done',
  );
  await ham.ok("condition", "w/death", "death", "--rearm");
  await ham.ok("action", "w/death/note", "log", "--rearm", "--message", "w died by itself");
  const old = (await entity(ham, "w")).pid!;
  await ham.ok("restart", "w");
  const dead = await ham.killHam("SIGKILL");
  await ham.waitTakeover(dead);
  const restarted = await until(async () => {
    const e = await entity(ham, "w").catch(() => null);
    return e && e.pid !== null && e.pid !== old ? e : null;
  }, "w to be restarted");
  assertEquals(restarted.restarts, 1);
  assert(!ham.log().includes("w died by itself"), "the death the operator caused fires nothing");
});

Deno.test("an operator's restart journaled just before the HAM died is carried out with a SIGTERM by the HAM that takes over", async () => {
  const killFile = await Deno.makeTempFile();
  await Deno.remove(killFile);
  await using ham = await HamProcess.start({ env: { HAM_TEST_KILL_AT: killFile } });
  const termed = `${ham.stateDir}.term`;
  try {
    // A worker that tells when it gets SIGTERM (a SIGKILL it cannot tell).
    await ham.ok(
      "attach",
      "w",
      "--",
      "/bin/sh",
      "-c",
      `trap "echo > ${termed}; exit 0" TERM; while :; do sleep 0.05; done`,
    );
    const old = (await entity(ham, "w")).pid!;
    const { hamPid } = await ham.pids();
    // The HAM dies once the request is in the journal, before it signals anything.
    await Deno.writeTextFile(killFile, "wrote restart-request:1");
    await ham.ctl("restart", "w");
    await ham.waitTakeover(hamPid);
    // Well before the SIGKILL that restartStopTimeoutMs (10 s) would send instead.
    await until(
      () => Deno.stat(termed).then(() => true, () => null),
      "the worker to get SIGTERM",
      5_000,
    );
    const restarted = await until(async () => {
      const e = await entity(ham, "w").catch(() => null);
      return e && e.pid !== null && e.pid !== old ? e : null;
    }, "w to be restarted");
    assertEquals(restarted.restarts, 1);
  } finally {
    await Deno.remove(termed).catch(() => {});
  }
});
