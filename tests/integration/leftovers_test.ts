/**
 * An entity's own children, with real `ham`, Guardian and `hamctl` processes: a script that
 * forks 50 children and exits leaves none of them running (kill mode `control-group`, the
 * default), before its restart; one that ignores SIGTERM gets SIGKILL; with
 * `--kill-mode process` they are kept and listed under the entity, across a takeover; a
 * daemonizing command keeps its daemon (and the daemon's worker) and loses the rest.
 */

import * as assert from "node:assert/strict";
import { processStat, readCmdline } from "../../lib/os/proc.ts";
import { readDirNames } from "../../lib/os/proc_fs.ts";
import { connect } from "../../lib/client/ham.ts";
import { HamProcess, processesOf, until } from "../support/ham_process.ts";

/**
 * The live children a {@linkcode forker} script started: its process group's members but
 * itself (read through libc, as the test's permissions require).
 */
function childrenOf(pgid: number): Map<number, string> {
  const members = new Map<number, string>();
  for (const name of readDirNames("/proc") ?? []) {
    if (!/^\d+$/.test(name)) continue;
    const st = processStat(Number(name));
    if (!st || st.pgid !== pgid || st.pid === pgid || st.state === "Z") continue;
    members.set(st.pid, st.startTime);
  }
  return members;
}

/** True while the process with that start time exists (a zombie too: it is not reaped). */
function exists(pid: number, startTime: string): boolean {
  return processStat(pid)?.startTime === startTime;
}

/** Waits until none of `procs` exists any more (ended and reaped). */
async function allGone(procs: Map<number, string>, what: string, ms = 20_000): Promise<void> {
  await until(
    () => Promise.resolve([...procs].every(([pid, st]) => !exists(pid, st)) || null),
    what,
    ms,
  );
}

/**
 * A forking script in `dir`: it forks `children` copies of `child`, says it is ready (a
 * file), waits for the test's go (a line on a FIFO: no process of its own while it waits)
 * and exits 3; started again once `done` exists, it just runs.
 */
class Forker {
  readonly dir: string;
  readonly argv: string[];

  private constructor(dir: string, children: number, child: string) {
    this.dir = dir;
    const script = `[ -e ${dir}/done ] && exec sleep 1000\n` +
      `i=0; while [ $i -lt ${children} ]; do ${child} & i=$((i+1)); done\n` +
      `: > ${dir}/ready; read go < ${dir}/go; exit 3`;
    this.argv = ["/bin/sh", "-c", script];
  }

  static async create(children: number, child = "sleep 1000"): Promise<Forker> {
    const dir = await Deno.makeTempDir();
    const made = await new Deno.Command("mkfifo", { args: [`${dir}/go`] }).output();
    assert.equal(made.code, 0, "mkfifo");
    return new Forker(dir, children, child);
  }

  /** Waits until every child was forked. */
  async ready(): Promise<void> {
    await until(
      () => Deno.stat(`${this.dir}/ready`).then(() => true, () => null),
      "the script's children to be started",
      20_000,
    );
  }

  /** Lets the script exit 3 (a copy started after this just runs). */
  async go(): Promise<void> {
    await Deno.writeTextFile(`${this.dir}/done`, "");
    await Deno.writeTextFile(`${this.dir}/go`, "go\n");
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Deno.remove(this.dir, { recursive: true });
  }
}

Deno.test(
  "an entity's 50 leftover children are ended (and reaped) when it dies, before its restart",
  async () => {
    await using ham = await HamProcess.start();
    await using script = await Forker.create(50);
    const attached = await ham.ok("attach", "kids", "--json", "--", ...script.argv);
    await ham.ok("condition", "kids/death", "death", "--rearm");
    await ham.ok("action", "kids/death/again", "restart", "--rearm");
    await script.ready();
    const pid: number = attached.pid;
    // Its own process group: the HAM spawned it as the leader of one.
    assert.equal(processStat(pid)?.pgid, pid);
    assert.equal(processStat(pid)?.sid, pid);
    const children = childrenOf(pid);
    assert.equal(children.size, 50, "the 50 children are in the entity's group");
    const status = await ham.ok("status", "kids", "--json");
    assert.equal(status.killMode, "control-group");
    const since = await ham.seq();
    await script.go();
    const ended = await ham.nextEvent(
      (ev) => ev.type === "leftovers" && ev.entity === "kids",
      since,
      "the leftovers to be found",
      20_000,
    );
    assert.equal(ended.detail?.action, "ended");
    assert.deepEqual(
      [...(ended.detail?.pids as number[])].sort((a, b) => a - b),
      [...children.keys()].sort((a, b) => a - b),
    );
    const restarted = await ham.nextEvent(
      (ev) => ev.type === "restart" && ev.entity === "kids",
      since,
      "the restart",
      30_000,
    );
    // The restart waited for them: none of the old children is still running.
    const running = [...children].filter(([p, st]) =>
      exists(p, st) && processStat(p)?.state !== "Z"
    );
    assert.deepEqual(running, [], "no old child runs when the new copy starts");
    await allGone(children, "the 50 children to be reaped");
    const after = await ham.ok("status", "kids", "--json");
    assert.equal(after.pid, restarted.detail?.pid);
    assert.equal(after.lastExit.code, 3);
    assert.deepEqual(after.leftovers, []);
    assert.match(ham.log(), /left 50 process\(es\) behind: ending them/);
  },
);

Deno.test("a leftover that ignores SIGTERM gets SIGKILL after the grace", async () => {
  await using ham = await HamProcess.start({ guardian: false });
  await using script = await Forker.create(2, `sh -c 'trap "" TERM; exec sleep 1000'`);
  const attached = await ham.ok("attach", "stub", "--json", "--", ...script.argv);
  await script.ready();
  // Until each child has exec'd its sleep, it is a shell about to ignore SIGTERM.
  const children = await until(() => {
    const c = childrenOf(attached.pid);
    const slept = [...c.keys()].every((p) => readCmdline(p)?.join(" ") === "sleep 1000");
    return Promise.resolve(c.size === 2 && slept ? c : null);
  }, "the two children to run sleep");
  const since = await ham.seq();
  await script.go();
  await ham.waitEvent("stub", "dead", since, 20_000);
  await allGone(children, "the SIGTERM-proof children to be killed", 30_000);
  assert.match(ham.log(), /leftover process\(es\) still there: sending SIGKILL/);
});

Deno.test(
  "hamctl attach --kill-mode process keeps the leftovers and lists them, across a takeover",
  async () => {
    await using ham = await HamProcess.start();
    await using script = await Forker.create(5);
    let children = new Map<number, string>();
    try {
      const attached = await ham.ok(
        "attach",
        "keep",
        "--keep-on-death",
        "--kill-mode",
        "process",
        "--json",
        "--",
        ...script.argv,
      );
      await script.ready();
      children = childrenOf(attached.pid);
      assert.equal(children.size, 5);
      const since = await ham.seq();
      await script.go();
      const kept = await ham.nextEvent(
        (ev) => ev.type === "leftovers" && ev.entity === "keep",
        since,
        "the leftovers to be found",
        20_000,
      );
      assert.equal(kept.detail?.action, "kept");
      const pids = [...children.keys()].sort((a, b) => a - b);
      const listed = await until(async () => {
        const s = await ham.ok("status", "keep", "--json");
        return s.leftovers.length === 5 ? s : null;
      }, "the leftovers to be listed");
      assert.equal(listed.killMode, "process");
      assert.deepEqual(listed.leftovers, pids);
      for (const [pid, st] of children) assert.ok(exists(pid, st), `pid ${pid} still runs`);
      const text = await ham.ok("status", "keep");
      assert.match(text, /Kill Mode\s+: process/);
      assert.match(text, new RegExp(`Leftovers\\s+: ${pids.join(" ")}`));
      // And in the status mirror.
      const info = `${ham.stateDir}/status/keep/.info`;
      await until(
        () => Deno.readTextFile(info).then((t) => /Leftovers\s+: \d+/.test(t) || null, () => null),
        "the status mirror to list the leftovers",
      );

      // One ends: it drops off the list.
      Deno.kill(pids[0], "SIGKILL");
      await until(async () => {
        const s = await ham.ok("status", "keep", "--json");
        return s.leftovers.length === 4 ? s : null;
      }, "the ended leftover to drop off the list");

      // The option and the list survive a takeover.
      const old = await ham.killHam("SIGKILL");
      await ham.waitTakeover(old);
      const taken = await ham.ok("status", "keep", "--json");
      assert.equal(taken.killMode, "process");
      assert.deepEqual(taken.leftovers, pids.slice(1));
      // And the new HAM watches them.
      Deno.kill(pids[1], "SIGKILL");
      await until(async () => {
        const s = await ham.ok("status", "keep", "--json");
        return s.leftovers.length === 3 ? s : null;
      }, "the new HAM to drop an ended leftover");
    } finally {
      for (const pid of children.keys()) {
        try {
          Deno.kill(pid, "SIGKILL");
        } catch { /* gone */ }
      }
    }
  },
);

Deno.test(
  "a daemonizing command keeps its daemon and the daemon's worker; its other leftover is ended",
  async () => {
    await using ham = await HamProcess.start({ guardian: false });
    const since = await ham.seq();
    // The daemon (first forked: the lowest pid) leaves the group and forks a worker; the
    // command also leaves a plain background child behind.
    const script = `setsid sh -c 'sleep 1003 & exec sleep 1001' & sleep 1002 & exit 0`;
    await ham.ok("attach", "dmn", "--keep-on-death", "--", "/bin/sh", "-c", script);
    const follow = await ham.nextEvent(
      (ev) => ev.type === "follow" && ev.entity === "dmn",
      since,
      "the daemon to be followed",
    );
    const daemon = follow.detail?.pid as number;
    const byArgs = async (arg: string) =>
      (await processesOf(ham.stateDir)).filter((p) => readCmdline(p)?.join(" ") === arg);
    await until(
      async () => (await byArgs("sleep 1002")).length === 0 || null,
      "the other leftover to be ended",
    ).catch((err) => {
      throw new Error(`${err.message}\n${ham.log()}`);
    });
    // The daemon is followed as soon as the command exits: it may not have exec'd yet.
    await until(
      () => Promise.resolve(readCmdline(daemon)?.join(" ") === "sleep 1001" || null),
      `the daemon to run "sleep 1001" (it runs ${readCmdline(daemon)?.join(" ")})`,
    );
    const worker = await until(async () => (await byArgs("sleep 1003"))[0], "the worker");
    assert.equal(processStat(worker)?.ppid, daemon, "the worker is the daemon's");
    const st = await ham.ok("status", "dmn", "--json");
    assert.equal(st.pid, daemon);
    assert.deepEqual(st.leftovers, []);
  },
);

Deno.test("Ham.attach() passes killMode, and status shows the default otherwise", async () => {
  await using ham = await HamProcess.start({ guardian: false });
  await using lib = await connect({ stateDir: ham.stateDir, client: "test" });
  await lib.attach("kept", { argv: ["/bin/sleep", "1000"] }, { killMode: "process" });
  await lib.attach("plain", { argv: ["/bin/sleep", "1000"] });
  const bad = await ham.ctl("attach", "x", "--kill-mode", "group", "--", "/bin/true");
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /Invalid --kill-mode "group": expected control-group or process/);
  const view = await ham.status();
  const mode = (name: string) => view.entities.find((e) => e.name === name)?.killMode;
  assert.deepEqual([mode("kept"), mode("plain")], ["process", "control-group"]);
});
