/**
 * Race-free scripting with real processes: `--version`, `hamctl kill`, `wait --pid`,
 * `restart --wait`, `list`, and `stop` waiting until the HAM and its Guardian are gone.
 */

import { deepEqual as assertEquals, match as assertMatch, ok as assert } from "node:assert/strict";
import { alive, BIN, HamProcess, until } from "../support/ham_process.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

async function run(cmd: string, ...args: string[]) {
  const out = await new Deno.Command(`${BIN}/${cmd}`, { args, stdout: "piped", stderr: "piped" })
    .output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("ham --version and hamctl --version print the package version", async () => {
  const pkg = JSON.parse(await Deno.readTextFile(new URL("../../package.json", import.meta.url)));
  assertEquals(pkg.version, "0.2.0");
  for (const cmd of ["ham", "hamctl"]) {
    const r = await run(cmd, "--version");
    assertEquals([r.code, r.stdout, r.stderr], [0, `ham ${pkg.version}\n`, ""]);
  }
});

async function restartingWeb(ham: HamProcess): Promise<number> {
  await ham.ok("attach", "web", "--", "/bin/sleep", "1000");
  await ham.ok("condition", "web/death", "death", "--rearm");
  await ham.ok("action", "web/death/restart", "restart", "--rearm");
  return (await ham.ok("status", "web", "--json")).pid;
}

Deno.test(
  "hamctl kill then wait --pid returns once the entity runs with another pid",
  opts,
  async () => {
    await using ham = await HamProcess.start();
    const old = await restartingWeb(ham);
    assertEquals(await ham.ok("kill", "web", "--signal", "KILL"), "");
    // However late the wait starts (the restart takes ms, hamctl ~100 ms), it cannot miss it.
    assertEquals(
      await ham.ok("wait", "web", "--for", "restarted", "--pid", String(old)),
      "restarted",
    );
    const now = await ham.ok("status", "web", "--json");
    assert(now.pid !== old && alive(now.pid));
    assertEquals(now.lastExit.signal, "SIGKILL");
    // Already running with another pid: at once.
    assertEquals(
      await ham.ok("wait", "web", "--for", "restarted", "--pid", String(old)),
      "restarted",
    );
    const r = await ham.ctl(
      "wait",
      "web",
      "--for",
      "restarted",
      "--pid",
      String(now.pid),
      "--timeout",
      "200ms",
    );
    assertEquals(r.code, 4);
  },
);

Deno.test("hamctl kill fails with ESRCH for an entity without a process", opts, async () => {
  await using ham = await HamProcess.start();
  await ham.ok("entity", "later");
  const r = await ham.ctl("kill", "later");
  assertEquals(r.code, 1);
  assertMatch(r.stderr, /^hamctl: ESRCH: Cannot signal entity "later": it has no process/);
  assertEquals((await ham.ctl("kill", "nobody")).code, 5);
  assertEquals((await ham.ctl("kill", "web", "--signal", "NOPE")).code, 2);
});

Deno.test(
  "hamctl restart --wait restarts through the restart action without firing death",
  opts,
  async () => {
    await using ham = await HamProcess.start();
    const old = await restartingWeb(ham);
    await ham.ok("action", "web/death/note", "log", "--message", "web died");
    const pid = Number(await ham.ok("restart", "web", "--wait"));
    assert(pid !== old && alive(pid));
    await until(() => Promise.resolve(!alive(old) || null), "the old process to end");
    const web = await ham.ok("status", "web", "--json");
    assertEquals([web.pid, web.restarts, web.conditions[0].fired], [pid, 1, 0]);
    // Without a restart action: its own command, and a kept-on-death entity is started again.
    await ham.ok("attach", "plain", "--keep-on-death", "--", "/bin/sleep", "1000");
    const plainOld = (await ham.ok("status", "plain", "--json")).pid;
    const plain = Number(await ham.ok("restart", "plain", "--wait"));
    assert(plain !== plainOld && alive(plain));
    // A disabled entity is started again too, and stays disabled.
    await ham.ok("disable", "plain");
    const off = Number(await ham.ok("restart", "plain", "--wait"));
    assert(off !== plain && alive(off));
    assertEquals((await ham.ok("status", "plain", "--json")).enabled, false);
    // A placeholder has no command.
    await ham.ok("entity", "ghost");
    assertEquals((await ham.ctl("restart", "ghost")).code, 1);
  },
);

Deno.test(
  "hamctl restart past the restart limit is refused with EBUSY before anything is stopped",
  opts,
  async () => {
    await using ham = await HamProcess.start();
    await ham.ok("attach", "rl", "--", "/bin/sleep", "1000");
    await ham.ok("condition", "rl/death", "death", "--rearm");
    await ham.ok("action", "rl/death/restart", "restart", "--rearm", "--intensity", "2");
    for (let i = 0; i < 2; i++) await ham.ok("restart", "rl", "--wait");
    const running = (await ham.ok("status", "rl", "--json")).pid;
    const refused = await ham.ctl("restart", "rl", "--wait");
    assertEquals(refused.code, 1, refused.stderr);
    assertMatch(refused.stderr, /^hamctl: EBUSY: .*restart limit is reached \(2 restarts within/);
    assert(alive(running));
    assertEquals((await ham.ok("status", "rl", "--json")).pid, running);
  },
);

Deno.test(
  "hamctl attach --wait reports a command that ends as it starts, at once",
  opts,
  async () => {
    await using ham = await HamProcess.start();
    const t0 = performance.now();
    const gone = await ham.ctl("attach", "fl", "--wait", "--timeout", "60s", "--", "/bin/false");
    assertEquals(gone.code, 1, gone.stderr);
    assertMatch(
      gone.stderr,
      /^hamctl: ESRCH: Entity "fl" \(pid \d+\) exited with code 1 as it started \(removed/,
    );
    const kept = await ham.ctl(
      "attach",
      "fk",
      "--keep-on-death",
      "--wait",
      "--",
      "/bin/sh",
      "-c",
      "exit 3",
    );
    assertEquals(kept.code, 1, kept.stderr);
    assertMatch(kept.stderr, /exited with code 3 as it started\n$/);
    assert(performance.now() - t0 < 30_000, "not waited out");
    const pid = Number(await ham.ok("attach", "ok", "--wait", "--", "/bin/sleep", "1000"));
    assert(alive(pid));
  },
);

Deno.test(
  "hamctl list shows one line per entity with state, restarts, uptime, last exit",
  opts,
  async () => {
    await using ham = await HamProcess.start();
    const old = await restartingWeb(ham);
    await ham.ok("entity", "ghost");
    await ham.ok("attach", "off", "--", "/bin/sleep", "1000");
    await ham.ok("disable", "off");
    await ham.ok("kill", "web", "--signal", "KILL");
    await ham.ok("wait", "web", "--for", "restarted", "--pid", String(old));
    const text = (await ham.ctl("list")).stdout.trimEnd().split("\n");
    assertMatch(text[0], /^NAME\s+PID\s+STATE\s+RESTARTS\s+UPTIME\s+LAST EXIT$/);
    assertMatch(text[1], /^web\s+\d+\s+running\s+1\s+\d+s\s+SIGKILL$/);
    assertMatch(text[2], /^ghost\s+-\s+placeholder\s+0\s+-\s+-$/);
    assertMatch(text[3], /^off\s+\d+\s+disabled\s+0\s+\d+s\s+-$/);
    const json = await ham.ok("list", "--json");
    assertEquals(json.entities.map((e: { name: string; state: string }) => [e.name, e.state]), [
      ["web", "running"],
      ["ghost", "placeholder"],
      ["off", "disabled"],
    ]);
    assert(json.entities[0].uptimeMs >= 0 && json.entities[0].lastExit.signal === "SIGKILL");
    // The same last exit: list's time in ms since the epoch, status's an ISO string (each
    // kept as scripts know it; see the README).
    const at = json.entities[0].lastExit.at;
    const status = (await ham.ok("status", "web", "--json")).lastExit.at;
    assertEquals([typeof at, typeof status], ["number", "string"]);
    assertEquals(new Date(at).toISOString(), status);
  },
);

Deno.test(
  "hamctl stop waits until the HAM and Guardian are gone and prints nothing",
  opts,
  async () => {
    await using ham = await HamProcess.start();
    const { hamPid, guardianPid } = await ham.pids();
    const r = await ham.ctl("stop");
    assertEquals([r.code, r.stdout, r.stderr], [0, "", ""]);
    assert(!alive(hamPid) && !alive(guardianPid!));
    await ham.restart();
    const again = await ham.pids();
    const n = await ham.ctl("stop", "--no-wait");
    assertEquals([n.code, n.stdout], [0, ""]);
    await until(
      () => Promise.resolve((!alive(again.hamPid) && !alive(again.guardianPid!)) || null),
      "exit",
    );
  },
);
