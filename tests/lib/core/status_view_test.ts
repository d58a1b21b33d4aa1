import assert from "node:assert/strict";
import { HamError } from "../../../lib/core/errors.ts";
import { createState, type HamState } from "../../../lib/core/model.ts";
import { GLOBAL_ENTITY } from "../../../lib/core/names.ts";
import type { RecordBody } from "../../../lib/core/records.ts";
import { applyRecord } from "../../../lib/core/reducer.ts";
import { writeStatusTree } from "../../../lib/daemon/status_files.ts";
import { Rng } from "../../support/fault_model.ts";
import { randomName } from "../../support/random_strings.ts";
import {
  type ActionView,
  type ConditionView,
  type EntityView,
  type HamView,
  statusView,
} from "../../../lib/core/status_view.ts";
import { renderStatus, statusFileName, statusFiles } from "../../../lib/core/status_text.ts";

const HAM = { hamPid: 100, guardianPid: 101, startedAt: Date.UTC(2026, 0, 2, 3, 4, 5) };
const T0 = Date.UTC(2026, 0, 2, 3, 5, 0);

function build(records: RecordBody[]): HamState {
  const state = createState();
  records.forEach((r, i) => applyRecord(state, { ...r, seq: i + 1 } as never));
  return state;
}

const attach = (entity: string, pid: number, extra: Partial<RecordBody> = {}): RecordBody => ({
  t: "attach",
  entity,
  kind: "attached",
  pid,
  startTime: null,
  argv: ["/bin/sleep", "1000"],
  cwd: null,
  env: null,
  spawnId: null,
  spawned: true,
  flags: 0,
  heartbeat: null,
  at: T0,
  ...extra,
} as RecordBody);

/** web: death (rearm) → restart (rearm, with a fallback), restarted once, then + note; hb. */
function sample(): HamState {
  return build([
    attach("web", 4242),
    { t: "cond-add", entity: "web", condition: "death", type: "death", flags: 1, match: null },
    {
      t: "action-add",
      entity: "web",
      condition: "death",
      action: "restart",
      flags: 1,
      params: { kind: "restart", argv: null, policy: null },
    },
    {
      t: "fail-add",
      entity: "web",
      condition: "death",
      action: "restart",
      name: "fallback",
      params: { kind: "execute", argv: ["/bin/echo", "web failed"] },
    },
    { t: "death", entity: "web", pid: 4242, code: null, signal: "SIGKILL", at: T0 + 1000 },
    { t: "restart", entity: "web", pid: 4243, startTime: null, spawnId: null, at: T0 + 1001 },
    {
      t: "action-add",
      entity: "web",
      condition: "death",
      action: "note",
      flags: 0,
      params: { kind: "log", message: "web died", prefix: true, verbosity: 1 },
    },
    {
      t: "fire",
      event: { type: "death", entity: "web" },
      runs: [{ run: "r1", owner: "web", condition: "death", lane: "other", list: [] }],
    },
    { t: "run-end", run: "r1" },
    { t: "result", entity: "web", condition: "death", action: "restart", fail: null, ok: true },
    attach("hb", 5000, { kind: "self", heartbeat: { periodMs: 200, low: 2, high: 4 } }),
    {
      t: "cond-add",
      entity: "hb",
      condition: "up",
      type: "state",
      flags: 0x2000 | 0x8000,
      match: { from: 0, to: 0b1010 },
    },
    { t: "heartbeat", entity: "hb", missed: 4, health: "missed-high", lastBeat: T0 + 50 },
  ]);
}

Deno.test("statusView() of an empty HAM counts nothing and hides the global entity", () => {
  const view = statusView(createState(), null, HAM) as HamView;
  assert.deepEqual(view, {
    hamPid: 100,
    guardianPid: 101,
    started: "2026-01-02T03:04:05.000Z",
    hamFailures: 0,
    guardianFailures: 0,
    lastTakeover: null,
    logLinesLost: 0,
    verbosity: 1,
    numEntities: 0,
    numConditions: 0,
    numActions: 0,
    entities: [],
  });
});

Deno.test("statusView() shows entities, conditions, actions and action-fail items", () => {
  const view = statusView(sample(), null, HAM) as HamView;
  assert.equal(view.numEntities, 2);
  assert.equal(view.numConditions, 2);
  assert.equal(view.numActions, 2);
  const web = view.entities[0];
  assert.equal(web.name, "web");
  assert.equal(web.type, "ATTACHED");
  assert.equal(web.pid, 4243);
  assert.equal(web.running, true);
  assert.deepEqual(web.command, ["/bin/sleep", "1000"]);
  assert.equal(web.created, "2026-01-02T03:05:00.000Z");
  assert.equal(web.restarts, 1);
  assert.equal(web.deaths, 1);
  assert.deepEqual(web.lastExit, {
    pid: 4242,
    code: null,
    signal: "SIGKILL",
    at: "2026-01-02T03:05:01.000Z",
  });
  assert.equal(web.heartbeat, null);
  const death = web.conditions[0];
  assert.deepEqual(
    { ...death, actions: death.actions.map((a) => a.path) },
    {
      path: "web/death",
      type: "death",
      enabled: true,
      flags: 1,
      flagNames: ["rearm"],
      rearm: true,
      match: null,
      fired: 1,
      actions: ["web/death/restart", "web/death/note"],
    },
  );
  const restart = death.actions[0];
  assert.equal(restart.kind, "restart");
  assert.equal(restart.runs, 1);
  assert.equal(restart.rearm, true);
  assert.deepEqual(restart.fails, [{
    name: "fallback",
    kind: "execute",
    params: { kind: "execute", argv: ["/bin/echo", "web failed"] },
    runs: 0,
    failures: 0,
  }]);
  assert.equal(death.actions[1].rearm, false);
});

Deno.test("statusView() shows heartbeat parameters and health of a self-attached entity", () => {
  const hb = (statusView(sample(), null, HAM) as HamView).entities[1];
  assert.equal(hb.type, "ATTACHEDSELF");
  assert.deepEqual(hb.heartbeat, {
    periodMs: 200,
    low: 2,
    high: 4,
    lastBeat: "2026-01-02T03:05:00.050Z",
    missed: 4,
    health: "missed-high",
  });
});

Deno.test("statusView() lists the global entity only when it has conditions", () => {
  const state = build([
    { t: "entity", entity: "later", flags: 0, at: T0 },
    {
      t: "cond-add",
      entity: GLOBAL_ENTITY,
      condition: "deaths",
      type: "death",
      flags: 0,
      match: null,
    },
  ]);
  const view = statusView(state, null, HAM) as HamView;
  assert.deepEqual(view.entities.map((e) => [e.name, e.type]), [
    [GLOBAL_ENTITY, "GLOBAL"],
    ["later", "PLACEHOLDER"],
  ]);
  assert.equal(view.entities[1].running, false);
});

Deno.test("statusView() with a path returns that entity, condition or action", () => {
  const state = sample();
  assert.equal((statusView(state, { entity: "web" }, HAM) as EntityView).name, "web");
  const c = statusView(state, { entity: "web", condition: "death" }, HAM) as ConditionView;
  assert.equal(c.path, "web/death");
  const path = { entity: "web", condition: "death", action: "note" };
  const a = statusView(state, path, HAM) as ActionView;
  assert.deepEqual(a.params, { kind: "log", message: "web died", prefix: true, verbosity: 1 });
});

Deno.test("statusView() throws ENOENT for a path naming nothing", () => {
  const enoent = (e: unknown) => e instanceof HamError && e.code === "ENOENT";
  const state = sample();
  assert.throws(() => statusView(state, { entity: "nope" }, HAM), enoent);
  assert.throws(() => statusView(state, { entity: "web", condition: "nope" }, HAM), enoent);
  const path = { entity: "web", condition: "death", action: "nope" };
  assert.throws(() => statusView(state, path, HAM), /Cannot find action "web\/death\/nope"/);
});

Deno.test("renderStatus() prints Label : value lines, indented per level", () => {
  const lines = renderStatus(statusView(sample(), null, HAM)).split("\n");
  for (
    const want of [
      "Ham Pid           : 100",
      "Guardian Pid      : 101",
      "Num Entities      : 2",
      "  Path              : web",
      "  Entity Pid        : 4243",
      "  Entity type       : ATTACHED",
      "  Num Restarts      : 1",
      "  Last Exit         : pid 4242, signal SIGKILL, at 2026-01-02T03:05:01.000Z",
      "    Path              : web/death",
      "    Condition ReArm   : ON",
      "      Path              : web/death/restart",
      "      Restart Line      : (the entity's command)",
      "        Fail Action       : fallback",
      "        Execute Line      : /bin/echo 'web failed'",
      '      Log Message       : "web died"',
      "  HeartBeat State   : MISSEDHIGH",
      "    Match             : from any to not {1,3}",
    ]
  ) {
    assert.ok(lines.includes(want), `missing line ${JSON.stringify(want)}`);
  }
});

Deno.test("renderStatus() of a sub-view starts at that item", () => {
  const text = renderStatus(statusView(sample(), { entity: "web", condition: "death" }, HAM));
  assert.ok(text.startsWith("Path              : web/death\nCondition type    : death\n"), text);
  assert.ok(text.includes("\n  Path              : web/death/note\n"), text);
});

Deno.test("statusFiles() mirrors the tree as .info files and one file per action", () => {
  const files = statusFiles(sample(), HAM);
  assert.deepEqual([...files.keys()], [
    ".info",
    "web/.info",
    "web/death/.info",
    "web/death/restart",
    "web/death/note",
    "hb/.info",
    "hb/up/.info",
  ]);
  assert.match(files.get(".info")!, /^Ham Pid {11}: 100\n/);
  assert.doesNotMatch(files.get(".info")!, /web/);
  assert.match(files.get("web/death/restart")!, /^Path {14}: web\/death\/restart\n/);
  assert.ok(files.get("web/death/restart")!.includes("\n  Fail Action       : fallback\n"));
});

Deno.test("statusFileName() keeps item names from clashing with .info files", () => {
  assert.equal(statusFileName("web"), "web");
  assert.equal(statusFileName(".info"), "%2Einfo");
  assert.equal(statusFileName("50%"), "50%25");
  const state = build([
    attach("web", 1),
    { t: "cond-add", entity: "web", condition: ".info", type: "death", flags: 0, match: null },
  ]);
  assert.ok(statusFiles(state, HAM).has("web/%2Einfo/.info"));
});

Deno.test("statusFileName() gives every valid name a distinct file name that fits", () => {
  const enc = new TextEncoder();
  const seen = new Map<string, string>();
  const names = [
    "%".repeat(200),
    "%".repeat(255),
    "." + "a".repeat(254),
    "." + "a".repeat(253) + "b",
    "%2E" + "a".repeat(252),
    "é".repeat(127) + "%",
    "😀".repeat(63) + "%%%",
  ];
  const rng = new Rng(20261203);
  for (let i = 0; i < 1000; i++) names.push(randomName(rng));
  // Names that share a long head and differ only past where a shortened name is cut.
  for (let i = 0; i < 50; i++) names.push("%".repeat(80) + "x".repeat(i) + "y");
  for (const name of names) {
    const file = statusFileName(name);
    assert.ok(enc.encode(file).length <= 255, `${enc.encode(file).length} bytes for ${name}`);
    assert.ok(!file.startsWith("."), file);
    assert.ok(!file.includes("/"), file);
    const other = seen.get(file);
    assert.ok(
      other === undefined || other === name,
      `"${name}" and "${other}" both map to ${file}`,
    );
    seen.set(file, name);
  }
});

Deno.test("writeStatusTree() writes the mirror of names that fill 255 bytes", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const long = "." + "x".repeat(254);
    const state = build([attach(long, 1), attach("%".repeat(200), 2), attach("web", 3)]);
    await writeStatusTree(dir, statusFiles(state, HAM), new Map());
    const listed = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.equal(listed.length, 4); // .info and three entity directories
    assert.ok(listed.includes("web"));
    assert.match(
      Deno.readTextFileSync(`${dir}/${statusFileName(long)}/.info`),
      new RegExp(`^Path {14}: \\.x{254}\n`),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeStatusTree() writes changes only and removes what went stale", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const state = sample();
    const first = await writeStatusTree(dir, statusFiles(state, HAM));
    assert.deepEqual(first, { written: 7, removed: 0 });
    assert.equal(
      await Deno.readTextFile(`${dir}/web/death/note`),
      statusFiles(state, HAM).get("web/death/note"),
    );
    assert.deepEqual(await writeStatusTree(dir, statusFiles(state, HAM)), {
      written: 0,
      removed: 0,
    });

    applyRecord(state, { t: "remove", entity: "hb", seq: 100 });
    applyRecord(state, { t: "verbosity", value: 3, seq: 101 });
    await Deno.writeTextFile(`${dir}/web/.tmp-left-over`, "x");
    const after = await writeStatusTree(dir, statusFiles(state, HAM));
    assert.deepEqual(after, { written: 1, removed: 2 });
    await assert.rejects(Deno.stat(`${dir}/hb`), Deno.errors.NotFound);
    await assert.rejects(Deno.stat(`${dir}/web/.tmp-left-over`), Deno.errors.NotFound);
    assert.match(await Deno.readTextFile(`${dir}/.info`), /Verbosity {9}: 3\n/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeStatusTree() with what it wrote before writes the difference without reading the tree", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const state = sample();
    const known = new Map<string, string>();
    assert.deepEqual(await writeStatusTree(dir, statusFiles(state, HAM), known), {
      written: 7,
      removed: 0,
    });
    assert.deepEqual(known, statusFiles(state, HAM));
    // Not read back: a file changed behind its back stays as it is until its text changes.
    await Deno.writeTextFile(`${dir}/web/death/note`, "edited");
    applyRecord(state, { t: "remove", entity: "hb", seq: 100 });
    applyRecord(state, { t: "verbosity", value: 3, seq: 101 });
    assert.deepEqual(await writeStatusTree(dir, statusFiles(state, HAM), known), {
      written: 1,
      removed: 1,
    });
    assert.equal(await Deno.readTextFile(`${dir}/web/death/note`), "edited");
    await assert.rejects(Deno.stat(`${dir}/hb`), Deno.errors.NotFound);
    assert.match(await Deno.readTextFile(`${dir}/.info`), /Verbosity {9}: 3\n/);
    assert.deepEqual(known, statusFiles(state, HAM));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
