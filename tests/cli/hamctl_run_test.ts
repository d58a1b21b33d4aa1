import assert from "node:assert/strict";
import { hamctl } from "../../cli/hamctl.ts";
import { type FakeConn, type FakeRequest, startFakeHam } from "../support/fake_ham.ts";

/** Runs hamctl with captured output. */
async function run(...args: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await hamctl(args, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

const USAGE_ERRORS: [string, string[], RegExp][] = [
  ["no subcommand", [], /^hamctl: Missing a subcommand$/],
  ["an unknown subcommand", ["frobnicate"], /^hamctl: Unknown subcommand "frobnicate"$/],
  ["an unknown flag", ["status", "--bogus"], /^hamctl: status: Unknown option "--bogus"$/],
  ["--state-dir without a value", ["ping", "--state-dir"], /needs a directory/],
  ["attach with no command or pid", ["attach", "web"], /either a command after -- or --pid/],
  ["attach with both", ["attach", "web", "--pid", "1", "--", "/bin/x"], /either a command/],
  ["a bad duration", ["attach", "w", "--pid", "1", "--heartbeat", "5x"], /Invalid duration "5x"/],
  ["--low without --heartbeat", ["attach", "w", "--pid", "1", "--low", "2"], /need --heartbeat/],
  ["a bad entity name", ["detach", "a/b"], /^hamctl: detach: EINVAL: /],
  ["a bad path", ["condition", "web", "death"], /expected ENTITY\/CONDITION/],
  ["a bad condition type", ["condition", "web/x", "exploded"], /Invalid condition type/],
  ["--from on a death condition", ["condition", "w/d", "death", "--from", "1"], /not valid/],
  ["two forms of --to", ["condition", "w/s", "state", "--to", "1", "--to-set", "2"], /only one/],
  ["a state over 31", ["condition", "w/s", "state", "--to-set", "32"], /from 0 to 31/],
  [
    "--delay on a log action",
    ["action", "w/d/a", "log", "--message", "m", "--delay", "1s"],
    /not valid/,
  ],
  ["execute with no command", ["action", "w/d/a", "execute"], /needs a command/],
  ["waitfor with no delay", ["action", "w/d/a", "waitfor"], /needs --delay/],
  ["a bad signal", ["action", "w/d/a", "signal", "--signal", "NOPE"], /Invalid signal/],
  ["a restart in a fail list", ["action-fail", "w/d/a", "f", "restart"], /Invalid action kind/],
  ["a bad flag name", ["flags", "web/death", "add", "bogus"], /Invalid condition flag "bogus"/],
  ["verbose set with no level", ["verbose", "set"], /Missing LEVEL/],
  ["wait with no --for", ["wait", "web"], /Missing --for/],
  ["a surplus argument", ["ping", "extra"], /Unexpected argument "extra"/],
  [
    "an operand after --",
    ["kill", "web", "--", "extra"],
    /^hamctl: kill: Unexpected argument "extra"$/,
  ],
  ["a missing operand after --", ["detach", "--"], /^hamctl: detach: Missing ENTITY$/],
  ["a second subcommand to help", ["help", "kill", "ping"], /Unexpected argument "ping"/],
];

for (const [what, args, message] of USAGE_ERRORS) {
  Deno.test(`hamctl exits 2 with a usage message for ${what}`, async () => {
    const r = await run(...args);
    assert.equal(r.code, 2);
    assert.deepEqual(r.out, []);
    assert.match(r.err[0], message);
    assert.match(r.err[1], /^Usage: hamctl /);
  });
}

Deno.test("hamctl exits 3 with a clear line when no HAM is running", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const r = await run("--state-dir", dir, "status");
    assert.equal(r.code, 3);
    assert.deepEqual(r.out, []);
    assert.deepEqual(r.err, [
      `hamctl: EBADF: Cannot connect to the HAM at "${dir}/ham.sock": not running`,
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const VIEW = {
  path: "web/death",
  type: "death",
  enabled: true,
  flags: 1,
  flagNames: ["rearm"],
  rearm: true,
  match: null,
  fired: 0,
  actions: [],
};

function fakeAnswer(req: FakeRequest, conn: FakeConn): Promise<void> {
  switch (req.op) {
    case "status":
      return req.path === "web/death"
        ? conn.reply(req.id, VIEW)
        : conn.fail(req.id, "ENOENT", `Cannot find entity "${req.path}"`);
    case "attach":
      return conn.reply(req.id, { entity: req.entity, pid: 31337 });
    case "restart":
      return conn.reply(req.id, { entity: req.entity, pid: 4100 });
    case "wait":
      // A running entity is not dead: that wait (attach --wait's other) is never answered.
      if (req.for === "dead" && req.entity === "web") return Promise.resolve();
      return req.entity === "slow"
        ? conn.fail(req.id, "ETIMEDOUT", "Timed out after 10 ms waiting for entity")
        : conn.reply(req.id, { entity: req.entity, reached: req.for, seq: 3 });
    case "control":
      return conn.reply(req.id, {
        path: req.path,
        enabled: true,
        flags: 5,
        flagNames: ["rearm", "nowait"],
      });
    case "events": {
      const since = req.since as number;
      const n = since === 0 ? 1000 : 2;
      const events = Array.from({ length: n }, (_, i) => ({
        seq: since + i,
        at: 0,
        type: "death",
        entity: "web",
      }));
      return conn.reply(req.id, { events, next: since + n });
    }
    case "subscribe":
      return (async () => {
        const since = (req.since as number | null) ?? 5;
        await conn.reply(req.id, { sub: req.id, since });
        await conn.push({
          type: "event",
          sub: req.id,
          event: { seq: since, at: 0, type: since === 5 ? "restart" : "stop", entity: "web" },
        });
        // The first connection is lost (a takeover); the second HAM stops.
        if (since !== 5) await conn.push({ type: "stopping" });
        conn.close();
      })();
    case "stop":
      conn.close();
      return Promise.resolve();
    default:
      return conn.reply(req.id, {});
  }
}

Deno.test("hamctl prints results as text, or as one JSON document with --json", async () => {
  await using fake = await startFakeHam(fakeAnswer);
  const text = await run("--state-dir", fake.stateDir, "status", "web/death");
  assert.equal(text.code, 0);
  assert.ok(
    text.out.join("\n").startsWith("Path              : web/death\nCondition type    : death\n"),
  );
  const json = await run("--state-dir", fake.stateDir, "status", "web/death", "--json");
  assert.equal(json.out.length, 1);
  assert.deepEqual(JSON.parse(json.out[0]), VIEW);
  const flags = await run("--state-dir", fake.stateDir, "flags", "web/death", "get");
  assert.deepEqual(flags.out, ["0x5 rearm nowait"]);
});

Deno.test("hamctl maps an error answer to its exit code and a stderr line", async () => {
  await using fake = await startFakeHam(fakeAnswer);
  const missing = await run("--state-dir", fake.stateDir, "status", "web");
  assert.equal(missing.code, 5);
  assert.deepEqual(missing.err, ['hamctl: ENOENT: Cannot find entity "web"']);
  const slow = await run("--state-dir", fake.stateDir, "wait", "slow", "--for", "running");
  assert.equal(slow.code, 4);
  assert.match(slow.err[0], /^hamctl: ETIMEDOUT: /);
});

Deno.test("hamctl attach prints the pid, and with --wait waits until running", async () => {
  await using fake = await startFakeHam(fakeAnswer);
  const r = await run("--state-dir", fake.stateDir, "attach", "web", "--wait", "--", "/bin/true");
  assert.equal(r.code, 0);
  assert.deepEqual(r.out, ["31337"]);
  assert.deepEqual(fake.requests.slice(1).map((q) => [q.op, q.entity, q.for]), [
    ["attach", "web", undefined],
    ["wait", "web", "running"],
    ["wait", "web", "dead"],
  ]);
});

Deno.test("hamctl attach --heartbeat without --low or --high attaches and warns on stderr", async () => {
  await using fake = await startFakeHam(fakeAnswer);
  const bare = await run(
    "--state-dir",
    fake.stateDir,
    "attach",
    "w",
    "--pid",
    "7",
    "--heartbeat",
    "1s",
  );
  assert.equal(bare.code, 0);
  assert.deepEqual(bare.out, ["31337"]);
  assert.deepEqual(bare.err, [
    'hamctl: warning: Entity "w" has a heartbeat every 1000 ms with neither a low nor a high ' +
    "threshold: a missed beat fires no condition (missed periods are only counted): give " +
    "--low N and/or --high N",
  ]);
  assert.deepEqual(fake.requests.at(-1)?.heartbeat, { periodMs: 1000, low: 0, high: 0 });
  // One threshold is enough.
  for (const t of ["--low", "--high"]) {
    const one = await run(
      "--state-dir",
      fake.stateDir,
      "attach",
      "w",
      "--pid",
      "7",
      "--heartbeat",
      "1s",
      t,
      "2",
    );
    assert.deepEqual([one.code, one.err], [0, []]);
  }
});

Deno.test("hamctl events lists every page of the kept events", async () => {
  await using fake = await startFakeHam(fakeAnswer);
  const r = await run("--state-dir", fake.stateDir, "events");
  assert.equal(r.code, 0);
  assert.equal(r.out.length, 1002);
  assert.equal(r.out[0], "0 1970-01-01T00:00:00.000Z death web");
  assert.deepEqual(fake.requests.slice(1).map((q) => q.since), [0, 1000]);
});

Deno.test("hamctl events --follow --json resumes after a lost connection and exits 0 on a stop", async () => {
  await using fake = await startFakeHam(fakeAnswer);
  const r = await run("--state-dir", fake.stateDir, "events", "--follow", "--json");
  assert.deepEqual(r.out.map((l) => JSON.parse(l)), [
    { seq: 5, at: 0, type: "restart", entity: "web" },
    { seq: 6, at: 0, type: "stop", entity: "web" },
  ]);
  assert.deepEqual([r.code, r.err], [0, []]);
  assert.deepEqual(fake.requests.filter((q) => q.op === "subscribe").map((q) => q.since), [
    null,
    6,
  ]);
});

Deno.test("hamctl stop --wait returns once the HAM has closed its socket", async () => {
  await using fake = await startFakeHam(fakeAnswer);
  const r = await run("--state-dir", fake.stateDir, "stop", "--wait", "--timeout", "5s");
  assert.deepEqual(r, { code: 0, out: [], err: [] });
});

Deno.test("hamctl restart --json names the pid being replaced was, with or without --wait", async () => {
  // With --wait, `pid` is the new process and `was` the old one; without, no new pid is
  // known yet: the request's answer (its `pid` the old one, as ever), and `was`.
  await using fake = await startFakeHam(fakeAnswer);
  const r = await run("--state-dir", fake.stateDir, "restart", "web", "--json");
  assert.equal(r.code, 0, r.err.join("\n"));
  assert.deepEqual(JSON.parse(r.out.join("\n")), { entity: "web", pid: 4100, was: 4100 });
  const text = await run("--state-dir", fake.stateDir, "restart", "web");
  assert.deepEqual(text, { code: 0, out: [], err: [] });
});
