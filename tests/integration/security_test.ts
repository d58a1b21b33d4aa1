/**
 * Access control through real processes: a root HAM, and `hamctl` run as a real
 * unprivileged user (`tests/support/unprivileged.ts`), with the groups each case needs.
 * The policy grants by gid, so one user covers every role: gid 47002 reads, 47003 reports,
 * 47004 administers; 47001 owns the socket (`--socket-group`) and has no role.
 */

import assert from "node:assert/strict";
import { BIN, hamctl, HamProcess, until } from "../support/ham_process.ts";
import { type Unprivileged, unprivileged } from "../support/unprivileged.ts";
import type { HamEvent } from "../../lib/core/protocol.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const SOCKET = 47001, READ = 47002, REPORT = 47003, ADMIN = 47004;

const who = {
  none: { gid: SOCKET, groups: [SOCKET] },
  read: { gid: READ, groups: [SOCKET, READ] },
  report: { gid: REPORT, groups: [SOCKET, REPORT] },
  admin: { gid: ADMIN, groups: [SOCKET, ADMIN] },
};

let cached: Promise<Unprivileged | string> | null = null;

/** The test user, or null after printing why these tests are skipped. */
async function user(): Promise<Unprivileged | null> {
  const u = await (cached ??= unprivileged());
  if (typeof u === "string") {
    console.log(`skipped: ${u}`);
    return null;
  }
  return u;
}

/** A root HAM whose state directory the socket group may enter, with the role policy. */
async function sharedHam(): Promise<HamProcess> {
  const dir = await Deno.makeTempDir({ prefix: "ham-test-" });
  Deno.chownSync(dir, 0, SOCKET);
  Deno.chmodSync(dir, 0o750);
  Deno.writeTextFileSync(
    `${dir}/policy`,
    `# roles by gid\nread gid:${READ}\nreport gid:${REPORT}\nadmin gid:${ADMIN}\n`,
  );
  return await HamProcess.start({
    stateDir: dir,
    guardian: false,
    args: ["--socket-group", String(SOCKET)],
  });
}

function refused(r: { code: number; stderr: string }, verb: string, role: string): void {
  assert.equal(r.code, 1, r.stderr);
  assert.match(
    r.stderr,
    new RegExp(
      `hamctl: EPERM: Permission denied: "${verb}" needs the ${role} role; uid \\d+ pid \\d+ has`,
    ),
  );
}

async function audits(ham: HamProcess): Promise<HamEvent[]> {
  const r = await ham.ok("events", "--json");
  return (r.events as HamEvent[]).filter((e) => e.type === "audit");
}

Deno.test(
  "a user with no grant is refused every verb, however loose the socket's mode",
  opts,
  async () => {
    const u = await user();
    if (u === null) return;
    await using ham = await sharedHam();
    refused(await u.hamctl(ham.stateDir, ["ping"], who.none), "ping", "read");
    refused(await u.hamctl(ham.stateDir, ["status"], who.none), "status", "read");
    // Loosen every mode: the HAM still checks each request.
    Deno.chmodSync(ham.stateDir, 0o755);
    Deno.chmodSync(ham.socket, 0o666);
    refused(
      await u.hamctl(ham.stateDir, ["attach", "x", "--", "/bin/true"], { groups: [] }),
      "attach",
      "admin",
    );
    const seen = (await audits(ham)).filter((e) => e.detail?.uid === u.uid);
    assert.deepEqual(seen.map((e) => [e.detail?.verb, e.detail?.outcome]), [
      ["ping", "refused"],
      ["status", "refused"],
      ["attach", "refused"],
    ]);
    assert.ok(seen.every((e) => typeof e.detail?.pid === "number" && e.detail.pid > 1));
    assert.equal(seen[2].entity, "x");
  },
);

Deno.test(
  "each role may use its verbs and is refused the next role's, with EPERM naming it",
  opts,
  async () => {
    const u = await user();
    if (u === null) return;
    await using ham = await sharedHam();
    await ham.ok("entity", "app");
    // read
    assert.equal((await u.hamctl(ham.stateDir, ["ping"], who.read)).code, 0);
    const status = await u.hamctl(ham.stateDir, ["status", "app", "--json"], who.read);
    assert.equal(status.code, 0, status.stderr);
    const policy = await u.hamctl(ham.stateDir, ["policy"], who.read);
    assert.match(policy.stdout, /read gid:47002/);
    assert.match(policy.stdout, /# your role: read/);
    refused(await u.hamctl(ham.stateDir, ["raise", "app"], who.read), "raise", "report");
    refused(await u.hamctl(ham.stateDir, ["state", "app", "2"], who.read), "state", "report");
    // report
    assert.equal((await u.hamctl(ham.stateDir, ["raise", "app"], who.report)).code, 0);
    assert.equal((await u.hamctl(ham.stateDir, ["state", "app", "2"], who.report)).code, 0);
    assert.equal((await u.hamctl(ham.stateDir, ["status"], who.report)).code, 0);
    refused(
      await u.hamctl(ham.stateDir, ["attach", "w", "--", "/bin/sleep", "60"], who.report),
      "attach",
      "admin",
    );
    refused(await u.hamctl(ham.stateDir, ["stop"], who.report), "stop", "admin");
    refused(
      await u.hamctl(ham.stateDir, ["action", "app/c/a", "execute", "--", "/bin/true"], who.report),
      "action",
      "admin",
    );
    // admin: the HAM runs the command (as itself), and the change is audited with the caller
    const attach = await u.hamctl(
      ham.stateDir,
      ["attach", "w", "--", "/bin/sleep", "60"],
      who.admin,
    );
    assert.equal(attach.code, 0, attach.stderr);
    assert.equal((await u.hamctl(ham.stateDir, ["detach", "w"], who.admin)).code, 0);
    // Detach never kills: end the worker here, so nothing is left behind.
    const worker = Number(attach.stdout.trim());
    assert.ok(worker > 1, attach.stdout);
    Deno.kill(worker, "SIGKILL");
    const mine = (await audits(ham)).filter((e) => e.detail?.uid === u.uid);
    const accepted = mine.filter((e) => e.detail?.outcome === "accepted");
    assert.deepEqual(accepted.map((e) => [e.detail?.verb, e.entity, e.detail?.role]), [
      ["attach", "w", "admin"],
      ["detach", "w", "admin"],
    ]);
    assert.deepEqual(
      mine.filter((e) => e.detail?.outcome === "refused").map((e) => e.detail?.verb),
      ["raise", "state", "attach", "stop", "action"],
    );
    // A named subscriber's place in its channel is kept for it: a reader may not move it.
    const named = await u.hamctl(
      ham.stateDir,
      ["events", "--follow", "--channel", "ops", "--subscriber", "pager"],
      who.read,
    );
    assert.equal(named.code, 1, named.stderr);
    assert.match(
      named.stderr,
      /EPERM: Permission denied: "subscribe" as a named subscriber \("pager"\) needs the report role/,
    );
  },
);

Deno.test(
  "a reader takes a handle on an entity by name, and a reporter publishes a state through it",
  opts,
  async () => {
    const u = await user();
    if (u === null) return;
    await using ham = await sharedHam();
    await ham.ok("entity", "app");
    // A handle is a look-up (QNX's ham_entity_handle): it asks no more than the read role.
    const read = await u.client([ham.stateDir, "app", "handle"], who.read);
    assert.equal(read.stdout.trim(), "ok EPERM", read.stderr);
    const report = await u.client([ham.stateDir, "app", "handle"], who.report);
    assert.equal(report.stdout.trim(), "ok ok", report.stderr);
    assert.equal((await ham.ok("status", "app", "--json")).state, 3);
    const missing = await u.client([ham.stateDir, "nope", "handle"], who.read);
    assert.equal(missing.stdout.trim(), "ENOENT EPERM", missing.stderr);
  },
);

Deno.test(
  "attach-self takes the caller's own pid or a child's, never another process's",
  opts,
  async () => {
    const u = await user();
    if (u === null) return;
    await using ham = await sharedHam();
    const { hamPid } = await ham.pids();
    assert.equal((await u.client([ham.stateDir, "me", "self"], who.report)).stdout.trim(), "ok");
    assert.equal((await u.client([ham.stateDir, "kid", "child"], who.report)).stdout.trim(), "ok");
    for (const spoof of [String(hamPid), String(Deno.pid), "1"]) {
      const r = await u.client([ham.stateDir, "spoof", spoof], who.report);
      assert.match(
        r.stdout,
        new RegExp(
          `^EPERM: Cannot self-attach entity "spoof" as pid ${spoof}: it is not the caller`,
        ),
        r.stderr,
      );
    }
    // A reader may not self-attach at all.
    const r = await u.client([ham.stateDir, "me", "self"], who.read);
    assert.match(r.stdout, /^EPERM: Permission denied: "attach-self" needs the report role/);
    const status = await ham.ok("status", "--json");
    assert.ok(!JSON.stringify(status).includes('"spoof"'));
  },
);

Deno.test(
  "a process that self-attaches without the admin role names no command the HAM would run",
  opts,
  async () => {
    const u = await user();
    if (u === null) return;
    await using ham = await sharedHam();
    // Its own command line is not recorded: a restart of it (here through a placeholder's
    // restart action an admin set up, without a command) would run it as root.
    await ham.ok("entity", "web");
    await ham.ok("condition", "web/death", "death", "--rearm");
    await ham.ok("action", "web/death/restart", "restart", "--rearm");
    const report = await u.client([ham.stateDir, "web", "command"], who.report);
    assert.equal(report.stdout.trim(), "null", report.stderr);
    // Nor, with the admin role, is another user's: its process may rewrite its command line.
    const admin = await u.client([ham.stateDir, "own", "command"], who.admin);
    assert.equal(admin.stdout.trim(), "null", admin.stderr);
    // The HAM's own user's is recorded (as for attach --pid).
    const root = await new Deno.Command(`${BIN}/deno`, {
      args: [
        "run",
        "--allow-all",
        new URL("../support/attach_self_client.ts", import.meta.url).pathname,
        ham.stateDir,
        "mine",
        "command",
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.match(new TextDecoder().decode(root.stdout).trim(), /^\[".*deno/);
    // attach --pid of another user's process records no command either.
    const theirs = new Deno.Command("setpriv", {
      args: [`--reuid=${u.uid}`, `--regid=${u.gid}`, "--clear-groups", "/bin/sleep", "1000"],
      stdout: "null",
      stderr: "null",
    }).spawn();
    try {
      await until(async () => {
        const r = await new Deno.Command("stat", {
          args: ["-c", "%u", `/proc/${theirs.pid}`],
          stdout: "piped",
        }).output();
        return new TextDecoder().decode(r.stdout).trim() === String(u.uid) || null;
      }, "the process to run as the test user");
      await ham.ok("attach", "theirs", "--pid", String(theirs.pid));
      assert.equal((await ham.ok("status", "theirs", "--json")).command, null);
      await ham.ok("detach", "theirs");
    } finally {
      theirs.kill("SIGKILL");
      await theirs.status;
    }
  },
);

Deno.test(
  "an unprivileged process gets a heartbeat slot file of its own uid from a root HAM, and beats through it",
  opts,
  async () => {
    const u = await user();
    if (u === null) return;
    await using ham = await sharedHam();
    const r = await u.client([ham.stateDir, "slotted", "slot"], who.report);
    assert.equal(r.stdout.trim(), `slot marked uid=${u.uid}`, r.stderr);
    // Its slot file went with its connection.
    await until(
      () => Promise.resolve([...Deno.readDirSync(`${ham.stateDir}/beats`)].length === 0 || null),
      "the slot file removed",
    );
    const mode = Deno.statSync(`${ham.stateDir}/beats`).mode! & 0o777;
    assert.equal(mode, 0o711, "the slot directory is reachable, not listable");
  },
);

Deno.test(
  "hamctl says permission denied, not that no HAM runs, when it cannot reach the socket",
  opts,
  async () => {
    const u = await user();
    if (u === null) return;
    await using ham = await HamProcess.start({ guardian: false });
    const r = await u.hamctl(ham.stateDir, ["ping"], { groups: [] });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^hamctl: EPERM: Cannot connect to the HAM at ".*": permission denied/);
  },
);

Deno.test(
  "hamctl logs names the log and why when its user may not read the HAM's logs",
  opts,
  async () => {
    const u = await user();
    if (u === null) return;
    await using ham = await sharedHam();
    const pid = Number(
      (await ham.ctl("attach", "talk", "--", "/bin/sh", "-c", "echo hello; exec sleep 60")).stdout,
    );
    try {
      const log = `${ham.stateDir}/logs/talk.log`;
      await until(
        () => Deno.readTextFile(log).then((t) => t.includes("hello") || null, () => null),
        "the entity's line in its log",
      );
      const r = await u.hamctl(ham.stateDir, ["logs", "talk"], who.admin);
      assert.equal(r.code, 1, r.stderr);
      assert.equal(
        r.stderr.trim(),
        `hamctl: EPERM: Cannot read the log of entity "talk" at "${log}": permission denied ` +
          `(the entities' logs are readable by the HAM's user only)`,
      );
    } finally {
      Deno.kill(pid, "SIGKILL");
    }
  },
);

Deno.test(
  "attach --pid and signal --pid refuse pid 1, the HAM, its Guardian and its ancestors",
  opts,
  async () => {
    await using ham = await HamProcess.start();
    const { hamPid, guardianPid } = await ham.pids();
    assert.ok(guardianPid !== null);
    await ham.ok("entity", "e");
    await ham.ok("condition", "e/c", "raise", "--rearm");
    const cases: Array<[number, RegExp]> = [
      [1, /pid 1 is init/],
      [hamPid, new RegExp(`pid ${hamPid} is the HAM \\(protected\\)`)],
      [guardianPid, new RegExp(`pid ${guardianPid} is the HAM's Guardian`)],
      [Deno.pid, new RegExp(`pid ${Deno.pid} is an ancestor of the HAM`)],
    ];
    for (const [pid, why] of cases) {
      const attach = await ham.ctl("attach", `p${pid}`, "--pid", String(pid));
      assert.equal(attach.code, 1, attach.stderr);
      assert.match(attach.stderr, /^hamctl: EPERM: Cannot attach pid/);
      assert.match(attach.stderr, why);
      const signal = await ham.ctl(
        "action",
        "e/c/s",
        "signal",
        "--pid",
        String(pid),
        "--signal",
        "SIGSTOP",
        "--do-now",
      );
      assert.equal(signal.code, 1, signal.stderr);
      assert.match(signal.stderr, /^hamctl: EPERM: Cannot signal pid/);
      assert.match(signal.stderr, why);
      const fail = await ham.ctl("action-fail", "e/c/s", "f", "signal", "--pid", String(pid));
      assert.equal(fail.code, 1);
    }
    // The HAM was not stopped, and stop ends both: nothing restarts the Guardian.
    assert.equal(await ham.ok("ping"), "pong");
    const stop = await hamctl(ham.stateDir, "stop", "--wait", "--timeout", "10s");
    assert.equal(stop.code, 0, stop.stderr);
    await ham.child.status;
    for (const pid of [hamPid, guardianPid]) {
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline && isRunning(pid)) await new Promise((r) => setTimeout(r, 20));
      assert.ok(!isRunning(pid), `pid ${pid} still runs after stop`);
    }
  },
);

function isRunning(pid: number): boolean {
  try {
    Deno.kill(pid, "SIGCONT");
    return true;
  } catch {
    return false;
  }
}

Deno.test(
  "ham refuses a planted symbolic log or journal and leaves their targets alone",
  opts,
  async () => {
    const base = await Deno.makeTempDir({ prefix: "ham-test-" });
    try {
      for (const planted of ["ham.log", "journal"]) {
        const dir = `${base}/${planted}-state`;
        Deno.mkdirSync(dir, { mode: 0o700 });
        const target = `${base}/${planted}-target`;
        if (planted === "journal") Deno.mkdirSync(target);
        else Deno.writeTextFileSync(target, "precious\n");
        Deno.symlinkSync(target, `${dir}/${planted}`);
        const out = await new Deno.Command(
          `${new URL("../../bin", import.meta.url).pathname}/ham`,
          {
            args: ["--state-dir", dir, "--foreground", "--no-guardian", "--log", `${dir}/ham.log`],
            stdout: "piped",
            stderr: "piped",
            env: { HAM_STATE_DIR: dir },
          },
        ).output();
        const stderr = new TextDecoder().decode(out.stderr);
        assert.equal(out.code, 1, stderr);
        assert.match(stderr, /EPERM: Cannot (open|use directory) ".*": it is a symbolic link/);
        if (planted === "journal") assert.deepEqual([...Deno.readDirSync(target)], []);
        else assert.equal(Deno.readTextFileSync(target), "precious\n");
      }
    } finally {
      await Deno.remove(base, { recursive: true });
    }
  },
);

Deno.test(
  "ham refuses a state directory owned by another user or writable by others",
  opts,
  async () => {
    const u = await user();
    if (u === null) return;
    const dir = await Deno.makeTempDir({ prefix: "ham-test-" });
    try {
      const start = () =>
        new Deno.Command(`${new URL("../../bin", import.meta.url).pathname}/ham`, {
          args: ["--state-dir", dir, "--no-guardian"],
          stdout: "piped",
          stderr: "piped",
          env: { HAM_STATE_DIR: dir },
        }).output();
      Deno.chownSync(dir, u.uid, u.gid);
      let out = await start();
      assert.equal(out.code, 1);
      assert.match(
        new TextDecoder().decode(out.stderr),
        new RegExp(
          `ham: EPERM: Cannot use state directory ".*": it is owned by uid ${u.uid}, not by this HAM's uid 0`,
        ),
      );
      Deno.chownSync(dir, 0, 0);
      Deno.chmodSync(dir, 0o777);
      out = await start();
      assert.equal(out.code, 1);
      assert.match(
        new TextDecoder().decode(out.stderr),
        /writable by its group and others \(mode 0777\)/,
      );
      assert.deepEqual([...Deno.readDirSync(dir)], [], "nothing was written into it");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test("ham --policy FILE refuses a policy file others may change", opts, async () => {
  const dir = await Deno.makeTempDir({ prefix: "ham-test-" });
  try {
    const file = `${dir}.policy`;
    Deno.writeTextFileSync(file, "read gid:5\n");
    Deno.chmodSync(file, 0o666);
    const out = await new Deno.Command(`${new URL("../../bin", import.meta.url).pathname}/ham`, {
      args: ["--state-dir", dir, "--no-guardian", "--foreground", "--policy", file],
      stdout: "piped",
      stderr: "piped",
      env: { HAM_STATE_DIR: dir },
    }).output();
    assert.equal(out.code, 1);
    assert.match(
      new TextDecoder().decode(out.stderr),
      /Cannot use policy file ".*": it is writable by its group or others \(mode 0666\)/,
    );
    Deno.removeSync(file);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test(
  "hamctl without --state-dir finds the HAM on /run/ham from a plain root shell",
  opts,
  async () => {
    if (Deno.uid() !== 0) return void console.log("skipped: not running as root");
    try {
      const held = await Deno.open("/run/ham/ham.lock", { read: true });
      const free = await held.tryLock(true);
      held.close();
      if (!free) return void console.log("skipped: a HAM already serves /run/ham");
    } catch { /* no HAM there */ }
    await using ham = await HamProcess.start({ stateDir: "/run/ham", guardian: false });
    // A plain root shell: no XDG_RUNTIME_DIR, no HAM_STATE_DIR, through the launcher.
    const out = await new Deno.Command("env", {
      args: ["-i", "PATH=/usr/bin:/bin", "HOME=/root", `${BIN}/hamctl`, "ping"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dec = new TextDecoder();
    assert.equal(out.code, 0, dec.decode(out.stderr));
    assert.equal(dec.decode(out.stdout).trim(), "pong");
    assert.equal(await ham.ok("ping"), "pong");
  },
);

Deno.test(
  "hamctl of a user without XDG_RUNTIME_DIR looks in ~/.local/state/ham",
  opts,
  async () => {
    const u = await user();
    if (u === null) return;
    const r = await u.hamctl("", ["ping"], who.none);
    assert.equal(r.code, 3, r.stderr);
    assert.match(
      r.stderr,
      /^hamctl: EBADF: Cannot connect to the HAM at ".*\/home\/\.local\/state\/ham\/ham\.sock": not running/,
    );
  },
);

Deno.test(
  "the read role may read an item's flags (control get-flags), as status shows them, and not change them",
  opts,
  async () => {
    const u = await user();
    if (u === null) return;
    await using ham = await sharedHam();
    await ham.ok("entity", "app");
    const got = await u.hamctl(ham.stateDir, ["flags", "app", "get", "--json"], who.read);
    assert.equal(got.code, 0, got.stderr);
    assert.equal(typeof JSON.parse(got.stdout).flags, "number", got.stdout);
    refused(await u.hamctl(ham.stateDir, ["disable", "app"], who.read), "control", "admin");
    refused(
      await u.hamctl(ham.stateDir, ["flags", "app", "add", "keep-on-death"], who.read),
      "control",
      "admin",
    );
    // A look is not audited; the refusals are.
    const mine = (await audits(ham)).filter((e) => e.detail?.uid === u.uid);
    assert.deepEqual(mine.map((e) => [e.detail?.verb, e.detail?.outcome]), [
      ["control", "refused"],
      ["control", "refused"],
    ]);
  },
);

Deno.test(
  "check-attach needs the admin role: a reader's apply --dry-run goes on without it, a reader's apply is refused before any change",
  opts,
  async () => {
    const u = await user();
    if (u === null) return;
    await using ham = await sharedHam();
    const f = `${ham.stateDir}.yaml`;
    Deno.writeTextFileSync(f, 'entities:\n  w:\n    command: ["/bin/sleep", "60"]\n');
    Deno.chmodSync(f, 0o644);
    try {
      const dry = await u.hamctl(ham.stateDir, ["apply", f, "--dry-run"], who.read);
      assert.deepEqual([dry.code, dry.stdout], [0, "create w\nDry run: 1 changes not applied\n"]);
      const apply = await u.hamctl(ham.stateDir, ["apply", f], who.read);
      assert.equal(apply.code, 1, apply.stderr);
      assert.match(
        apply.stderr,
        /^hamctl: EPERM: .*:2: key "entities\.w": cannot create w: Permission denied: "check-attach" needs the admin role; .*; nothing was changed\n$/,
      );
      assert.deepEqual((await ham.status()).entities, []);
      // An admin's apply: the check is only a look, not audited; the attach is.
      const applied = await u.hamctl(ham.stateDir, ["apply", f], who.admin);
      assert.equal(applied.code, 0, applied.stderr);
      const mine = (await audits(ham)).filter((e) => e.detail?.uid === u.uid);
      assert.deepEqual(mine.map((e) => [e.detail?.verb, e.detail?.outcome]), [
        ["check-attach", "refused"],
        ["check-attach", "refused"],
        ["attach", "accepted"],
      ]);
    } finally {
      Deno.removeSync(f);
    }
  },
);
