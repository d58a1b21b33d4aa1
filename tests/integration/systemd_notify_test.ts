/**
 * systemd integration with a datagram listener standing in for systemd: `ham --foreground`
 * with `NOTIFY_SOCKET` sends READY=1 once the socket accepts, STATUS= lines, WATCHDOG=1
 * when `WATCHDOG_USEC` is set, and after a Guardian takeover MAINPID=<new HAM>; and the
 * shipped unit file has the forms the issue names.
 */

import { deepEqual as assertEquals, match as assertMatch, ok as assert } from "node:assert/strict";
import { deadline, HamProcess } from "../support/ham_process.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const DENO = Deno.execPath();

/** The stand-in: its datagrams as they come. */
class Listener implements AsyncDisposable {
  readonly messages: string[] = [];
  #child: Deno.ChildProcess;
  #waiters: (() => void)[] = [];
  #done: Promise<void>;

  constructor(readonly path: string) {
    this.#child = new Deno.Command(DENO, {
      args: [
        "run",
        "--unstable-net",
        "--allow-read",
        "--allow-write",
        "--allow-net",
        new URL("../support/notify_listener.ts", import.meta.url).pathname,
        path,
      ],
      stdout: "piped",
      stderr: "null",
    }).spawn();
    let ready!: () => void;
    const started = new Promise<void>((r) => (ready = r));
    const stdout = this.#child.stdout;
    this.#done = (async () => {
      let buf = "";
      for await (const chunk of stdout.pipeThrough(new TextDecoderStream())) {
        buf += chunk;
        let nl;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line === "listening") ready();
          else this.messages.push(JSON.parse(line));
          for (const w of this.#waiters.splice(0)) w();
        }
      }
    })();
    this.started = started;
  }

  readonly started: Promise<void>;

  /** Waits for a datagram with a line matching `re`; returns that line. */
  async line(re: RegExp, what: string, ms = 15_000): Promise<string> {
    return await deadline(
      (async () => {
        for (;;) {
          const hit = this.messages.flatMap((m) => m.split("\n")).find((l) => re.test(l));
          if (hit) return hit;
          await new Promise<void>((r) => this.#waiters.push(r));
        }
      })(),
      ms,
      `${what}; got ${JSON.stringify(this.messages)}`,
    );
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.#child.kill();
    } catch { /* exited */ }
    await this.#child.status;
    await this.#done.catch(() => {});
    await Deno.remove(this.path).catch(() => {});
  }
}

Deno.test(
  "ham --foreground notifies READY=1, STATUS=, WATCHDOG=1, and MAINPID= after a takeover",
  opts,
  async () => {
    const path = `${await Deno.makeTempDir()}/notify.sock`;
    await using sd = new Listener(path);
    await deadline(sd.started, 15_000, "the listener");
    await using ham = await HamProcess.start({
      env: { NOTIFY_SOCKET: path, WATCHDOG_USEC: "400000" },
    });
    await sd.line(/^READY=1$/, "READY=1");
    assertMatch(await sd.line(/^STATUS=/, "STATUS"), /^STATUS=0 entities, 0 running/);
    await sd.line(/^WATCHDOG=1$/, "WATCHDOG=1");
    // READY came once the socket accepted: nothing before it but nothing after the start.
    assertEquals(
      sd.messages.flatMap((m) => m.split("\n")).filter((l) => l === "READY=1").length,
      1,
    );
    await ham.ok("attach", "web", "--", "/bin/sleep", "1000");
    await ham.ok("condition", "web/death", "death", "--rearm");
    await ham.ok("action", "web/death/restart", "restart", "--rearm");
    await ham.ok("kill", "web");
    await sd.line(
      /^STATUS=1 entities, 1 running; last: restart of web$/,
      "a STATUS after the restart",
    );
    // The workers never see the variable (it is not theirs to use).
    const pid = (await ham.ok("status", "web", "--json")).pid;
    // Another process's environ is Deno's to read only with --allow-all: cat reads it.
    const out = await new Deno.Command("cat", { args: [`/proc/${pid}/environ`], stdout: "piped" })
      .output();
    const env = new TextDecoder().decode(out.stdout).split("\0");
    assert(env.includes("HAM_ENTITY=web"), `the environment was read: ${env}`);
    assert(!env.some((v) => /^(HAM_)?NOTIFY_SOCKET=/.test(v)), `${env}`);
    const old = await ham.killHam();
    const { hamPid } = await ham.waitTakeover(old);
    assertEquals(await sd.line(/^MAINPID=/, "MAINPID"), `MAINPID=${hamPid}`);
    const before = sd.messages.length;
    await sd.line(/^WATCHDOG=1$/, "WATCHDOG=1 from the new HAM");
    await deadline(
      (async () => {
        while (!sd.messages.slice(before).some((m) => m === "WATCHDOG=1")) {
          await new Promise((r) => setTimeout(r, 50));
        }
      })(),
      15_000,
      "a WATCHDOG=1 after the takeover",
    );
    await Deno.remove(path.slice(0, path.lastIndexOf("/")), { recursive: true }).catch(() => {});
  },
);

Deno.test(
  "ham --foreground --config keeps NOTIFY_SOCKET from the entities it starts before READY=1",
  opts,
  async () => {
    const dir = await Deno.makeTempDir();
    const path = `${dir}/notify.sock`;
    const config = `${dir}/ham.yaml`;
    // The file's entity is started before the HAM says READY=1, and restarted after.
    await Deno.writeTextFile(
      config,
      "entities:\n  web:\n    command: [/bin/sleep, '1000']\n    conditions:\n" +
        "      death: { type: death, flags: [rearm], actions: { r: { kind: restart, " +
        "flags: [rearm] } } }\n",
    );
    await using sd = new Listener(path);
    await deadline(sd.started, 15_000, "the listener");
    await using ham = await HamProcess.start({
      env: { NOTIFY_SOCKET: path },
      args: ["--config", config],
    });
    await sd.line(/^READY=1$/, "READY=1");
    const environOf = async (pid: number) => {
      // Another process's environ is Deno's to read only with --allow-all: cat reads it.
      const out = await new Deno.Command("cat", { args: [`/proc/${pid}/environ`], stdout: "piped" })
        .output();
      return new TextDecoder().decode(out.stdout).split("\0");
    };
    const first = (await ham.ok("status", "web", "--json")).pid;
    const env = await environOf(first);
    assert(env.includes("HAM_ENTITY=web"), `the environment was read: ${env}`);
    assert(!env.some((v) => /^(HAM_)?NOTIFY_SOCKET=/.test(v)), `${env}`);
    await ham.ok("kill", "web", "--signal", "KILL");
    await ham.ok("wait", "web", "--for", "restarted", "--pid", String(first));
    const again = await environOf((await ham.ok("status", "web", "--json")).pid);
    assert(again.includes("HAM_ENTITY=web"), `the environment was read: ${again}`);
    assert(!again.some((v) => /^(HAM_)?NOTIFY_SOCKET=/.test(v)), `${again}`);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  },
);

Deno.test("contrib/systemd/ham.service is a notify unit that stops through hamctl", async () => {
  const unit = await Deno.readTextFile(
    new URL("../../contrib/systemd/ham.service", import.meta.url),
  );
  for (
    const line of ["Type=notify", "NotifyAccess=all", "Restart=on-failure", "NoNewPrivileges=true"]
  ) {
    assertMatch(unit, new RegExp(`^${line}$`, "m"));
  }
  assertMatch(unit, /^ExecStart=\S*ham --foreground/m);
  assertMatch(unit, /^ExecStop=\S*hamctl (--state-dir \S+ )?stop/m);
  assertMatch(unit, /^WatchdogSec=/m);
});

Deno.test("contrib/systemd/ham.service puts each setting in the section systemd reads it from", async () => {
  const path = new URL("../../contrib/systemd/ham.service", import.meta.url).pathname;
  const sections = new Map<string, string[]>();
  let section = "";
  for (const line of (await Deno.readTextFile(path)).split("\n")) {
    const head = /^\[(\w+)\]$/.exec(line);
    if (head) section = head[1];
    else if (/^\w+=/.test(line)) {
      sections.set(section, [...sections.get(section) ?? [], line.slice(0, line.indexOf("="))]);
    }
  }
  // Start limits are [Unit] settings: in [Service] systemd ignores StartLimitIntervalSec.
  for (const key of ["Description", "Documentation", "After", "StartLimitIntervalSec"]) {
    assert(sections.get("Unit")?.includes(key), `${key} in [Unit]: ${[...sections]}`);
  }
  for (const key of ["Type", "ExecStart", "ExecStop", "KillMode", "Restart", "WatchdogSec"]) {
    assert(sections.get("Service")?.includes(key), `${key} in [Service]: ${[...sections]}`);
  }
  assert(!sections.get("Service")?.some((k) => k.startsWith("StartLimit")), `${[...sections]}`);
  // Where systemd's own checker is installed, it knows every key.
  const verify = await new Deno.Command("systemd-analyze", {
    args: ["verify", path],
    stdout: "piped",
    stderr: "piped",
  }).output().catch(() => null);
  if (verify === null) return;
  const said = new TextDecoder().decode(verify.stderr);
  assert(!/Unknown (key|section)|Invalid|Failed to parse/.test(said), said);
});
