import assert from "node:assert/strict";
import { hamctl, parseHamctl } from "../../cli/hamctl.ts";
import type { WireRequest } from "../../lib/core/protocol.ts";
import { decodeRequest } from "../../lib/core/request_decoder.ts";

const D = "/tmp/ham-test-dir";

/**
 * The request `hamctl --state-dir D ARGS...` would send. It goes through the HAM's own
 * decoder, so a request the HAM would refuse fails the test that made it.
 */
async function request(...args: string[]): Promise<WireRequest> {
  const inv = await parseHamctl(["--state-dir", D, ...args]);
  assert.equal(inv.kind, "run");
  assert.ok(inv.kind === "run");
  assert.equal(inv.stateDir, D);
  const decoded = decodeRequest(JSON.stringify({ id: 1, ...inv.command.request }));
  assert.equal(decoded.op, inv.command.request.op);
  return inv.command.request;
}

const attachBase = { op: "attach", cwd: null, env: null, flags: 0, heartbeat: null };
const actionBase = (path: string, flags = 0) => ({ op: "action", path, flags });
const R = "web/death/restart";

/** Each form of the issue, exactly as written, and the request it must send. */
const FORMS: [string[], Record<string, unknown>][] = [
  [["attach", "web", "--", "/bin/sleep", "1000"], {
    ...attachBase,
    entity: "web",
    argv: ["/bin/sleep", "1000"],
    pid: null,
  }],
  [["attach", "db", "--pid", "4242"], { ...attachBase, entity: "db", argv: null, pid: 4242 }],
  [["attach", "hb", "--pid", "4243", "--heartbeat", "200ms", "--low", "2", "--high", "4"], {
    ...attachBase,
    entity: "hb",
    argv: null,
    pid: 4243,
    heartbeat: { periodMs: 200, low: 2, high: 4 },
  }],
  [["attach", "k", "--keep-on-death", "--cwd", "/srv", "--", "/bin/true", "--state-dir", "x"], {
    ...attachBase,
    entity: "k",
    argv: ["/bin/true", "--state-dir", "x"],
    pid: null,
    cwd: "/srv",
    flags: 2,
  }],
  [["attach", "kp", "--kill-mode", "process", "--", "/bin/true"], {
    ...attachBase,
    entity: "kp",
    argv: ["/bin/true"],
    pid: null,
    killMode: "process",
  }],
  [["entity", "later"], { op: "entity", entity: "later", flags: 0 }],
  [["detach", "web"], { op: "detach", entity: "web" }],
  [["condition", "web/death", "death", "--rearm"], {
    op: "condition",
    path: "web/death",
    type: "death",
    flags: 1,
  }],
  [["condition", "web/d2", "death", "--independent", "--nowait", "--keep-on-empty"], {
    op: "condition",
    path: "web/d2",
    type: "death",
    flags: 0x2 | 0x4 | 0x10,
  }],
  [["condition", "hb/high", "hb-missed-high"], {
    op: "condition",
    path: "hb/high",
    type: "hb-missed-high",
    flags: 0,
  }],
  [["condition", "hb/up", "state", "--from", "any", "--to", "2"], {
    op: "condition",
    path: "hb/up",
    type: "state",
    flags: 0,
    from: 0,
    to: 2,
  }],
  [["condition", "hb/set", "state", "--from-not-set", "0,1", "--to-set", "1,3,5"], {
    op: "condition",
    path: "hb/set",
    type: "state",
    flags: 0x1000 | 0x4000 | 0x2000,
    from: 0b11,
    to: 0b101010,
  }],
  [["condition", "hb/alarm", "raise", "--type", "3", "--class", "any", "--severity", "any"], {
    op: "condition",
    path: "hb/alarm",
    type: "raise",
    flags: 0,
    rtype: 3,
    rclass: 0,
    rseverity: 0,
  }],
  [["condition-remove", "web/death"], { op: "condition-remove", path: "web/death" }],
  [["action", R, "restart", "--rearm"], {
    ...actionBase(R, 1),
    kind: "restart",
    argv: null,
    policy: null,
  }],
  [[
    "action",
    R,
    "restart",
    "--backoff",
    "100ms",
    "--max-backoff",
    "5s",
    "--jitter",
    "0.1",
    "--intensity",
    "5",
    "--window",
    "60s",
    "--cooldown",
    "30s",
    "--",
    "/usr/sbin/httpd",
    "-f",
  ], {
    ...actionBase(R),
    kind: "restart",
    argv: ["/usr/sbin/httpd", "-f"],
    policy: {
      backoffMs: 100,
      maxBackoffMs: 5000,
      windowMs: 60000,
      cooldownMs: 30000,
      jitter: 0.1,
      intensity: 5,
    },
  }],
  [["action", "web/death/note", "log", "--message", "web died"], {
    ...actionBase("web/death/note"),
    kind: "log",
    message: "web died",
  }],
  [["action", "web/death/n2", "log", "--message", "x", "--verbosity", "3", "--no-prefix"], {
    ...actionBase("web/death/n2"),
    kind: "log",
    message: "x",
    prefix: false,
    verbosity: 3,
  }],
  [["action", "hb/high/mark", "execute", "--", "/usr/bin/touch", "/tmp/x"], {
    ...actionBase("hb/high/mark"),
    kind: "execute",
    argv: ["/usr/bin/touch", "/tmp/x"],
  }],
  [["action", "web/death/wait", "waitfor", "--delay", "5s"], {
    ...actionBase("web/death/wait"),
    kind: "waitfor",
    delayMs: 5000,
    pathname: null,
  }],
  [["action", "web/death/w2", "waitfor", "--delay", "1m", "--path", "/run/web.sock"], {
    ...actionBase("web/death/w2"),
    kind: "waitfor",
    delayMs: 60000,
    pathname: "/run/web.sock",
  }],
  [["action", "web/death/term", "signal"], {
    ...actionBase("web/death/term"),
    kind: "signal",
    pid: null,
  }],
  [["action", "web/death/kill", "signal", "--signal", "TERM"], {
    ...actionBase("web/death/kill"),
    kind: "signal",
    signal: 15,
    pid: null,
  }],
  [["action", "web/death/k2", "signal", "--signal", "SIGKILL", "--pid", "77"], {
    ...actionBase("web/death/k2"),
    kind: "signal",
    signal: 9,
    pid: 77,
  }],
  [["action", "web/death/tell", "notify", "--channel", "ops", "--code", "1", "--value", "2"], {
    ...actionBase("web/death/tell"),
    kind: "notify",
    channel: "ops",
    code: 1,
    value: 2,
  }],
  [["action", "web/hb/ok", "heartbeat-healthy"], {
    ...actionBase("web/hb/ok"),
    kind: "heartbeat-healthy",
  }],
  [["action", "web/d/a", "execute", "--do-now", "--break-on-fail", "--keep-on-fail", "--", "/x"], {
    ...actionBase("web/d/a", 0x2 | 0x4 | 0x8),
    kind: "execute",
    argv: ["/x"],
  }],
  [["action", "web/d/hook", "execute", "--timeout", "30s", "--", "/x"], {
    ...actionBase("web/d/hook"),
    kind: "execute",
    argv: ["/x"],
    timeoutMs: 30_000,
  }],
  [["action", "web/d/hook", "execute", "--timeout", "0", "--", "/x"], {
    ...actionBase("web/d/hook"),
    kind: "execute",
    argv: ["/x"],
    timeoutMs: 0,
  }],
  [["action-fail", "web/d/hook", "undo", "execute", "--timeout", "500ms", "--", "/undo"], {
    op: "action-fail",
    path: "web/d/hook",
    name: "undo",
    kind: "execute",
    argv: ["/undo"],
    timeoutMs: 500,
  }],
  [["action-remove", "web/death/note"], { op: "action-remove", path: "web/death/note" }],
  [["action-fail", R, "fallback", "execute", "--", "/bin/echo", "failed"], {
    op: "action-fail",
    path: R,
    name: "fallback",
    kind: "execute",
    argv: ["/bin/echo", "failed"],
  }],
  [["action-fail", R, "pause", "waitfor", "--delay", "250"], {
    op: "action-fail",
    path: R,
    name: "pause",
    kind: "waitfor",
    delayMs: 250,
    pathname: null,
  }],
  [["action-fail", R, "kill", "signal", "--signal", "9"], {
    op: "action-fail",
    path: R,
    name: "kill",
    kind: "signal",
    signal: 9,
    pid: null,
  }],
  [["action-fail", R, "note", "log", "--message", "restart failed"], {
    op: "action-fail",
    path: R,
    name: "note",
    kind: "log",
    message: "restart failed",
  }],
  [["action-fail", R, "tell", "notify", "--channel", "ops", "--code=-1"], {
    op: "action-fail",
    path: R,
    name: "tell",
    kind: "notify",
    channel: "ops",
    code: -1,
    value: 0,
  }],
  [["action", "web/death/far", "notify", "--channel", "ops", "--to-node", "n2"], {
    ...actionBase("web/death/far"),
    kind: "notify",
    channel: "ops",
    code: 0,
    value: 0,
    node: "n2",
  }],
  [["action", "w/d/hup", "signal", "--signal", "HUP", "--to-node", "n2", "--to-entity", "db"], {
    ...actionBase("w/d/hup"),
    kind: "signal",
    signal: 1,
    node: "n2",
    entity: "db",
  }],
  [["action-fail", R, "far", "notify", "--channel", "ops", "--to-node=n2"], {
    op: "action-fail",
    path: R,
    name: "far",
    kind: "notify",
    channel: "ops",
    code: 0,
    value: 0,
    node: "n2",
  }],
  [["action-fail", R, "stop", "signal", "--to-node", "n2", "--to-entity", "db"], {
    op: "action-fail",
    path: R,
    name: "stop",
    kind: "signal",
    node: "n2",
    entity: "db",
  }],
  [["notify", "ops", "--code", "1", "--value=-2"], {
    op: "notify",
    channel: "ops",
    code: 1,
    value: -2,
  }],
  [["notify", "ops"], { op: "notify", channel: "ops", code: 0, value: 0 }],
  [["action-fail-remove", R, "fallback"], { op: "action-fail-remove", path: R, name: "fallback" }],
  [["enable", "web"], { op: "control", path: "web", command: "enable", flags: 0, recurse: false }],
  [["disable", "web/death", "--recurse"], {
    op: "control",
    path: "web/death",
    command: "disable",
    flags: 0,
    recurse: true,
  }],
  [["flags", "web/death", "get"], {
    op: "control",
    path: "web/death",
    command: "get-flags",
    flags: 0,
    recurse: false,
  }],
  [["flags", "web/death", "add", "rearm", "nowait"], {
    op: "control",
    path: "web/death",
    command: "add-flags",
    flags: 5,
    recurse: false,
  }],
  [["flags", R, "set", "keep-on-fail"], {
    op: "control",
    path: R,
    command: "set-flags",
    flags: 8,
    recurse: false,
  }],
  [["flags", "web", "remove", "keep-on-death"], {
    op: "control",
    path: "web",
    command: "remove-flags",
    flags: 2,
    recurse: false,
  }],
  [["verbose"], { op: "verbose", command: "get", value: 0 }],
  [["verbose", "get"], { op: "verbose", command: "get", value: 0 }],
  [["verbose", "set", "4"], { op: "verbose", command: "set", value: 4 }],
  [["verbose", "incr"], { op: "verbose", command: "incr", value: 0 }],
  [["verbose", "decr"], { op: "verbose", command: "decr", value: 0 }],
  [["status"], { op: "status", path: null }],
  [["status", "web/death/restart"], { op: "status", path: "web/death/restart" }],
  [["heartbeat", "hb"], { op: "heartbeat", entity: "hb" }],
  [["state", "hb", "2"], { op: "state", entity: "hb", to: 2 }],
  [["raise", "hb", "--type", "3", "--class", "1", "--severity", "5"], {
    op: "raise",
    entity: "hb",
    rtype: 3,
    rclass: 1,
    rseverity: 5,
  }],
  [["events"], { op: "events", since: 0, entity: null, limit: 1000, channel: null }],
  [["events", "--since", "12", "--entity", "web"], {
    op: "events",
    since: 12,
    entity: "web",
    limit: 1000,
    channel: null,
  }],
  [["events", "--follow"], {
    op: "subscribe",
    since: null,
    entity: null,
    channel: null,
    subscriber: null,
  }],
  [["events", "--follow", "--since", "3"], {
    op: "subscribe",
    since: 3,
    entity: null,
    channel: null,
    subscriber: null,
  }],
  [["events", "--channel", "ops"], {
    op: "events",
    since: 0,
    entity: null,
    limit: 1000,
    channel: "ops",
  }],
  [["events", "--follow", "--channel", "ops", "--subscriber", "pager"], {
    op: "subscribe",
    since: null,
    entity: null,
    channel: "ops",
    subscriber: "pager",
  }],
  [["wait", "web", "--for", "running"], {
    op: "wait",
    entity: "web",
    for: "running",
    timeoutMs: 30000,
    since: null,
  }],
  [["wait", "web", "--for", "hb-missed-high", "--timeout", "10s", "--since", "7"], {
    op: "wait",
    entity: "web",
    for: "hb-missed-high",
    timeoutMs: 10000,
    since: 7,
  }],
  [["ping"], { op: "ping" }],
  [["detach", "--", "-web"], { op: "detach", entity: "-web" }],
  [["status", "--", "-web"], { op: "status", path: "-web" }],
  [["stop"], { op: "stop" }],
  [["stop", "--wait"], { op: "stop" }],
];

for (const [args, want] of FORMS) {
  Deno.test(`parseHamctl() maps "hamctl ${args.join(" ")}" to its request`, async () => {
    assert.deepEqual(await request(...args), want);
  });
}

Deno.test("parseHamctl() takes --state-dir after the subcommand, and --state-dir=DIR", async () => {
  const after = await parseHamctl(["detach", "web", "--state-dir", "/a"]);
  assert.ok(after.kind === "run" && after.stateDir === "/a");
  const joined = await parseHamctl(["--state-dir=/b", "ping"]);
  assert.ok(joined.kind === "run" && joined.stateDir === "/b");
  const none = await parseHamctl(["ping"]);
  assert.ok(none.kind === "run" && none.stateDir === undefined);
});

Deno.test("parseHamctl() tells the global --node from an action's --to-node", async () => {
  const inv = await parseHamctl([
    "--node",
    "n1",
    "action",
    "web/death/far",
    "notify",
    "--channel",
    "ops",
    "--to-node",
    "n2",
  ]);
  assert.ok(inv.kind === "run");
  assert.equal(inv.node, "n1");
  assert.equal((inv.command.request as { node?: string }).node, "n2");
  for (
    const bad of [
      ["action", "w/d/a", "signal", "--to-node", "n2"],
      ["action", "w/d/a", "signal", "--to-node", "n2", "--to-entity", "db", "--pid", "7"],
      ["action", "w/d/a", "signal", "--to-entity", "db"],
      ["action", "w/d/a", "notify", "--channel", "ops", "--to-node", "no/de"],
      ["action", "w/d/a", "log", "--message", "x", "--to-node", "n2"],
    ]
  ) {
    await assert.rejects(() => parseHamctl(bad), { name: "UsageError" }, bad.join(" "));
  }
});

Deno.test("parseHamctl() sets json from --json on reads", async () => {
  for (
    const args of [
      ["status", "--json"],
      ["events", "--json"],
      ["verbose", "get", "--json"],
      ["--json", "list"],
      ["--json", "logs", "web"],
      ["logs", "web", "--json"],
    ]
  ) {
    const inv = await parseHamctl(args);
    assert.ok(inv.kind === "run" && inv.command.json, args.join(" "));
  }
  const inv = await parseHamctl(["flags", "web", "get", "--json"]);
  assert.ok(inv.kind === "run" && inv.command.json);
});

Deno.test("parseHamctl() answers help for help, --help and SUBCOMMAND --help", async () => {
  assert.deepEqual(await parseHamctl(["help"]), { kind: "help", command: undefined });
  assert.deepEqual(await parseHamctl(["--help"]), { kind: "help", command: undefined });
  assert.deepEqual(await parseHamctl(["help", "attach"]), { kind: "help", command: "attach" });
  assert.deepEqual(await parseHamctl(["attach", "--help"]), { kind: "help", command: "attach" });
});

Deno.test("hamctl help prints a usage that lists every subcommand", async () => {
  const out: string[] = [];
  const code = await hamctl(["help"], { out: (l) => out.push(l), err: () => {} });
  assert.equal(code, 0);
  const subcommands = [
    ...["attach", "entity", "detach", "heartbeat", "state", "raise", "condition"],
    ...["condition-remove", "action", "action-remove", "action-fail", "action-fail-remove"],
    ...["enable", "disable", "flags", "verbose", "ping", "stop", "status", "events", "wait"],
  ];
  for (const s of subcommands) assert.match(out.join("\n"), new RegExp(`^  ${s}( |$)`, "m"), s);
});
