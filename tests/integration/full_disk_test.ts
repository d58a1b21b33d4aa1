/**
 * A full disk: the state directory on a small tmpfs, the HAM's and the Guardian's log inside
 * it. Requests that need the journal get ENOSPC, reads keep working, the HAM and its Guardian
 * live on, lost log lines are counted, and service resumes by itself when space frees.
 */

import { deepEqual, equal, match, ok } from "node:assert/strict";
import { HamProcess, until } from "../support/ham_process.ts";
import { mountTmpfs } from "../support/tmpfs.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

/**
 * Makes entities until the journal refuses one with ENOSPC: the journal's last page may
 * still have room once the disk is full (tmpfs allocates pages). The names acknowledged.
 */
async function fillJournal(ham: HamProcess): Promise<string[]> {
  const acknowledged: string[] = [];
  await using c = await ham.client();
  for (let i = 0; i < 1000; i++) {
    const answer = await c.request("entity", { entity: `e${i}`, flags: 0 }).then(
      () => "ok",
      (err) => String(err.code),
    );
    if (answer !== "ok") {
      equal(answer, "ENOSPC");
      break;
    }
    acknowledged.push(`e${i}`);
  }
  return acknowledged;
}

Deno.test(
  "ham answers ENOSPC when the disk is full and resumes when space frees",
  opts,
  async () => {
    await using fs = await mountTmpfs(8 << 20, "the full-disk test");
    if (fs === null) return;
    const stateDir = `${fs.path}/state`;
    await Deno.mkdir(stateDir, { mode: 0o700 });
    await using ham = await HamProcess.start({ stateDir, args: ["--log", `${stateDir}/ham.log`] });
    const before = await ham.pids();
    await ham.ok("attach", "web", "--", "/bin/sleep", "1000");
    await ham.ok("condition", "web/death", "death", "--rearm");
    await ham.ok("action", "web/death/note", "log", "--message", "web died");
    const web = (await ham.ok("status", "web", "--json")).pid;

    const filler = await fs.fill([`${stateDir}/ham.log`]);
    const acknowledged = await fillJournal(ham);
    const refusedName = `e${acknowledged.length}`;
    const refused = await ham.ctl("entity", refusedName);
    equal(refused.code, 1, refused.stderr);
    match(refused.stderr, /ENOSPC/);
    // A death while the disk is full: logged (lines lost, not fatal), its records refused.
    const since = await ham.seq();
    Deno.kill(web, "SIGKILL");
    await ham.waitEvent("web", "dead", since);
    // Reads work.
    for (let i = 0; i < 3; i++) equal((await ham.ctl("status", "--json")).code, 0);
    const full = await ham.status();
    ok(full.logLinesLost > 0, `lost log lines are counted (${full.logLinesLost})`);
    equal(full.entities.some((e) => e.name === refusedName), false, "nothing refused appears");
    for (const name of acknowledged) ok(full.entities.some((e) => e.name === name), name);

    const freed = await ham.seq();
    await Deno.remove(filler);
    // The death refused while the disk was full is handled once the journal takes it.
    await ham.waitEvent("web", "detached", freed, 15_000);
    await ham.ok("entity", "db");
    const after = await ham.status();
    ok(after.entities.some((e) => e.name === "db"));
    equal(after.entities.some((e) => e.name === "web"), false, "web's death was handled");
    const pids = await ham.pids();
    equal(pids.hamPid, before.hamPid, "the HAM lived through the full disk");
    equal(pids.guardianPid, before.guardianPid, "so did its Guardian");
    const log = await Deno.readTextFile(`${stateDir}/ham.log`);
    match(log, /\d+ log lines were lost \(.*No space left on device/i);
  },
);

/** The live processes of entity `name` running `/bin/sleep ARG` (by their environment). */
async function processesOfEntity(name: string, arg: string): Promise<number[]> {
  // /proc/PID/environ of another process is readable by a shell, not by Deno without -A.
  const script = `for f in $(grep -lzx -- "HAM_ENTITY=$1" /proc/[0-9]*/environ 2>/dev/null); do
    d=\${f%/environ}
    [ "$(tr '\\0' ' ' < $d/cmdline 2>/dev/null)" = "/bin/sleep $2 " ] || continue
    [ "$(cut -d')' -f2 $d/stat 2>/dev/null | cut -d' ' -f2)" = Z ] && continue
    echo \${d#/proc/}
  done; true`;
  const found = await new Deno.Command("/bin/sh", {
    args: ["-c", script, "sh", name, arg],
    stdout: "piped",
    stderr: "null",
  }).output();
  return new TextDecoder().decode(found.stdout).split("\n").filter((l) => /^\d+$/.test(l))
    .map(Number).sort((a, b) => a - b);
}

Deno.test(
  "a restart, an operator's restart and an abnormal death during a full disk: nothing taken back, each process once",
  opts,
  async () => {
    const ARGS: Record<string, string> = { r: "100001", c: "100002", b: "100003" };
    await using fs = await mountTmpfs(8 << 20, "the full-disk restart test");
    if (fs === null) return;
    const stateDir = `${fs.path}/state`;
    await Deno.mkdir(stateDir, { mode: 0o700 });
    await using ham = await HamProcess.start({ stateDir, args: ["--log", `${stateDir}/ham.log`] });
    // r restarts after a backoff; c has no restart action (an operator restarts it); b's
    // abnormal death is noted, and it is restarted at once.
    await ham.ok("attach", "r", "--", "/bin/sleep", "100001");
    await ham.ok("condition", "r/death", "death", "--rearm");
    await ham.ok(
      "action",
      "r/death/again",
      "restart",
      "--rearm",
      "--backoff",
      "4s",
      "--intensity",
      "0",
    );
    await ham.ok("attach", "c", "--keep-on-death", "--", "/bin/sleep", "100002");
    await ham.ok("attach", "b", "--", "/bin/sleep", "100003");
    await ham.ok("condition", "b/ab", "abnormal-death", "--rearm");
    await ham.ok("action", "b/ab/note", "log", "--message", "b crashed", "--rearm");
    await ham.ok("condition", "b/death", "death", "--rearm");
    await ham.ok("action", "b/death/again", "restart", "--rearm", "--intensity", "0");
    const pidOf = async (name: string) =>
      (await ham.status()).entities.find((e) => e.name === name)?.pid ?? null;
    /** The pid `name` runs with once it is other than `old`. */
    const newPid = (name: string, old: number | null, what: string) =>
      until(
        async () => {
          const pid = await pidOf(name);
          return pid !== null && pid !== old ? pid : null;
        },
        what,
        20_000,
      );
    const [r0, c0, b0] = [await pidOf("r"), await pidOf("c"), await pidOf("b")];

    // r's second death is recorded before the disk fills; its restart waits out the backoff.
    let since = await ham.seq();
    Deno.kill(r0!, "SIGKILL");
    await ham.waitEvent("r", "restarted", since);
    const rA = await pidOf("r");
    since = await ham.seq();
    Deno.kill(rA!, "SIGKILL");
    await ham.waitEvent("r", "dead", since);
    const filler = await fs.fill([`${stateDir}/ham.log`]);
    await fillJournal(ham);
    // The restart spawns while the journal refuses its record: kept, not taken back.
    const r1 = await newPid("r", rA, "r restarted during the full disk");
    await ham.ok("restart", "c");
    Deno.kill(b0!, "SIGSEGV");
    equal((await ham.ctl("entity", "refused")).code, 1, "requests still get ENOSPC");

    await Deno.remove(filler);
    const c1 = await newPid("c", c0, "c restarted once space freed");
    const b1 = await newPid("b", b0, "b restarted once space freed");
    await until(async () => (await ham.ctl("entity", "db")).code === 0 || null, "the journal");
    const b = await ham.ok("status", "b", "--json");
    equal(
      b.conditions.find((x: { path: string }) => x.path === "b/ab").fired,
      1,
      "abnormal-death fired",
    );
    equal(b.lastExit.signal, "SIGSEGV");
    for (const [name, pid] of [["r", r1], ["c", c1], ["b", b1]] as const) {
      equal(await pidOf(name), pid, `${name} as it ran`);
      const live = await processesOfEntity(name, ARGS[name]);
      deepEqual(live, [pid], `${name} runs once: ${live} (status: ${pid})`);
    }
    // What is durable says the same: a takeover finds each process, and starts none.
    const old = await ham.killHam();
    await ham.waitTakeover(old);
    for (const [name, pid] of [["r", r1], ["c", c1], ["b", b1]] as const) {
      equal(await pidOf(name), pid, `${name} after the takeover`);
      deepEqual(
        await processesOfEntity(name, ARGS[name]),
        [pid],
        `${name} runs once after the takeover`,
      );
    }
  },
);

Deno.test(
  "a Guardian takes over while the disk is full, and journals the HAM failure once space frees",
  opts,
  async () => {
    await using fs = await mountTmpfs(8 << 20, "the full-disk takeover test");
    if (fs === null) return;
    const stateDir = `${fs.path}/state`;
    await Deno.mkdir(stateDir, { mode: 0o700 });
    await using ham = await HamProcess.start({ stateDir, args: ["--log", `${stateDir}/ham.log`] });
    await ham.ok("attach", "web", "--keep-on-death", "--", "/bin/sleep", "1000");
    await ham.ok("condition", "web/death", "death", "--rearm");
    await ham.ok("action", "web/death/restart", "restart", "--rearm");
    const web = (await ham.ok("status", "web", "--json")).pid;
    const filler = await fs.fill([`${stateDir}/ham.log`]);
    await fillJournal(ham);
    // The HAM dies while nothing more fits in the journal, not even the HAM failure.
    const dead = await ham.killHam("SIGKILL");
    const first = await ham.waitTakeover(dead);
    equal((await ham.ok("status", "web", "--json")).pid, web, "web is watched, not restarted");
    await Deno.remove(filler);
    // The HAM that took over handles deaths, once their records can be written.
    const since = await ham.seq();
    Deno.kill(web, "SIGKILL");
    await ham.waitEvent("web", "restarted", since, 15_000);
    // The failure is a fact: it was written once the journal took it, so the next
    // Guardian, which knows only the journal, counts it.
    Deno.kill(first.hamPid, "SIGKILL");
    await ham.waitTakeover(first.hamPid);
    equal((await ham.status()).hamFailures, 2);
  },
);
