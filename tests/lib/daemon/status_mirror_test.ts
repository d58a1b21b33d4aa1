import assert from "node:assert/strict";
import { createState, type HamState } from "../../../lib/core/model.ts";
import type { HamRecord, RecordBody } from "../../../lib/core/records.ts";
import { applyRecord, touchedEntities } from "../../../lib/core/reducer.ts";
import { statusFiles } from "../../../lib/core/status_text.ts";
import { StatusMirror } from "../../../lib/daemon/status_mirror.ts";
import { FakeClock } from "../../support/fake_clock.ts";

const HAM = { hamPid: 100, guardianPid: null, startedAt: 0 };
const HB = { periodMs: 200, low: 2, high: 4 };

/** A mirror of a state in a temp directory, fed the touched entities as a store would. */
async function setUp() {
  const dir = await Deno.makeTempDir();
  const clock = new FakeClock(1_000_000);
  const state = createState();
  const logged: string[] = [];
  const mirror = new StatusMirror({
    dir,
    state: () => state,
    info: () => HAM,
    clock,
    log: (level, msg) => logged.push(`${level}: ${msg}`),
  });
  let seq = 0;
  const apply = (r: RecordBody) => {
    const rec = { ...r, seq: ++seq } as HamRecord;
    applyRecord(state, rec);
    mirror.touch(touchedEntities(rec));
  };
  /** Lets the coalescing delay pass and waits for the write. */
  const write = async () => {
    const done = mirror.schedule();
    await clock.advance(20);
    await done;
  };
  const cleanup = async () => {
    await mirror.close();
    await Deno.remove(dir, { recursive: true });
  };
  return { dir, clock, state, mirror, apply, write, logged, cleanup };
}

const entity = (name: string): RecordBody => ({ t: "entity", entity: name, flags: 0, at: 0 });
const self = (name: string, pid: number): RecordBody => ({
  t: "attach",
  entity: name,
  kind: "self",
  pid,
  startTime: null,
  argv: null,
  cwd: null,
  env: null,
  spawnId: null,
  spawned: false,
  flags: 0,
  heartbeat: HB,
  at: 0,
} as RecordBody);

async function readTree(dir: string, rel = "", out = new Map<string, string>()) {
  for await (const e of Deno.readDir(rel === "" ? dir : `${dir}/${rel}`)) {
    const path = rel === "" ? e.name : `${rel}/${e.name}`;
    if (e.isDirectory) await readTree(dir, path, out);
    else out.set(path, await Deno.readTextFile(`${dir}/${path}`));
  }
  return out;
}

function expected(state: HamState) {
  return statusFiles(state, HAM);
}

Deno.test("StatusMirror writes the whole tree first, then only the touched entity", async () => {
  const t = await setUp();
  try {
    for (let i = 0; i < 50; i++) t.apply(entity(`e${i}`));
    await Deno.mkdir(`${t.dir}/stale`, { recursive: true });
    await Deno.writeTextFile(`${t.dir}/stale/.info`, "left by a HAM before");
    await t.write();
    assert.equal(t.mirror.last?.full, true);
    assert.deepEqual(await readTree(t.dir), expected(t.state));

    t.apply({ t: "state", entity: "e7", to: 3 });
    await t.write();
    assert.deepEqual(t.mirror.last, { full: false, rendered: 1, written: 1, removed: 0 });
    t.apply({ t: "remove", entity: "e8" });
    t.apply({ t: "verbosity", value: 2 });
    await t.write();
    assert.deepEqual(t.mirror.last, { full: false, rendered: 1, written: 1, removed: 1 });
    assert.deepEqual(await readTree(t.dir), expected(t.state));
  } finally {
    await t.cleanup();
  }
});

Deno.test("StatusMirror coalesces a burst of changes into one write", async () => {
  const t = await setUp();
  try {
    t.apply(entity("a"));
    await t.write();
    const done = t.mirror.schedule();
    for (let i = 0; i < 10; i++) {
      t.apply({ t: "state", entity: "a", to: i });
      void t.mirror.schedule();
    }
    await t.clock.advance(20);
    await done;
    assert.deepEqual(t.mirror.last, { full: false, rendered: 1, written: 1, removed: 0 });
    assert.equal(t.clock.pending, 0);
    assert.deepEqual(await readTree(t.dir), expected(t.state));
  } finally {
    await t.cleanup();
  }
});

Deno.test("StatusMirror runs no timer while no entity has a heartbeat", async () => {
  const t = await setUp();
  try {
    for (let i = 0; i < 10; i++) t.apply(entity(`e${i}`));
    await t.write();
    assert.equal(t.mirror.refreshing, false);
    assert.equal(t.clock.pending, 0);
  } finally {
    await t.cleanup();
  }
});

Deno.test("StatusMirror refreshes heartbeat fields that went stale, and only those", async () => {
  const t = await setUp();
  try {
    t.apply(self("beating", 10));
    t.apply(self("silent", 11));
    t.apply(entity("plain"));
    await t.write();
    assert.equal(t.mirror.refreshing, true);
    assert.deepEqual(t.clock.dueTimes, [t.clock.now() + 1000]);

    // A period with nothing moved: nothing is written.
    await t.clock.advance(1000);
    assert.equal(t.clock.pending, 1);
    const before = t.mirror.last;

    // A beat (beating) and a missed period (silent): neither writes a record.
    t.state.entities.get("beating")!.lastBeat = t.clock.now();
    t.state.entities.get("silent")!.hbMissed = 1;
    await t.clock.advance(1000);
    const done = t.mirror.schedule();
    await t.clock.advance(20);
    await done;
    assert.notEqual(t.mirror.last, before);
    assert.deepEqual(t.mirror.last, { full: false, rendered: 2, written: 2, removed: 0 });
    const beating = await Deno.readTextFile(`${t.dir}/beating/.info`);
    assert.match(
      beating,
      new RegExp(`Last Heartbeat {4}: ${new Date(t.clock.now() - 1020).toISOString()}`),
    );
    assert.match(await Deno.readTextFile(`${t.dir}/silent/.info`), /Missed Heartbeats : 1\n/);
    assert.deepEqual(await readTree(t.dir), expected(t.state));
  } finally {
    await t.cleanup();
  }
});

Deno.test("StatusMirror stops its heartbeat timer when the last heartbeating entity goes", async () => {
  const t = await setUp();
  try {
    t.apply(self("beating", 10));
    await t.write();
    assert.equal(t.mirror.refreshing, true);
    t.apply({ t: "remove", entity: "beating" });
    await t.write();
    // The timer notices at its next wake and is not set again.
    await t.clock.advance(1000);
    assert.equal(t.mirror.refreshing, false);
    assert.equal(t.clock.pending, 0);
  } finally {
    await t.cleanup();
  }
});

Deno.test("StatusMirror walks the directory again after a failed write, logging once", async () => {
  const t = await setUp();
  try {
    t.apply(entity("a"));
    await t.write();
    // The directory is replaced by a file: writes under it fail.
    await Deno.remove(t.dir, { recursive: true });
    await Deno.writeTextFile(t.dir, "not a directory");
    for (let i = 0; i < 3; i++) {
      t.apply({ t: "state", entity: "a", to: i + 1 });
      await t.write();
    }
    assert.equal(t.logged.filter((l) => l.startsWith("warn: Cannot write status files")).length, 1);
    await Deno.remove(t.dir);
    await t.write();
    assert.equal(t.mirror.last?.full, true);
    assert.deepEqual(await readTree(t.dir), expected(t.state));
    assert.ok(t.logged.includes("info: Status files are written again"), t.logged.join("\n"));
  } finally {
    await t.cleanup();
  }
});

Deno.test("StatusMirror waits firstDelayMs before its first write only", async () => {
  const dir = await Deno.makeTempDir();
  const clock = new FakeClock(1_000_000);
  const mirror = new StatusMirror({
    dir,
    state: () => createState(),
    info: () => HAM,
    clock,
    log: () => {},
    firstDelayMs: 250,
  });
  const last = () => mirror.last;
  try {
    let done = false;
    const first = mirror.schedule().then(() => done = true);
    await clock.advance(20);
    assert.equal(done, false, "written after the ordinary delay");
    assert.equal(last(), null);
    await clock.advance(230);
    await first;
    assert.equal(last()?.full, true);
    const second = mirror.schedule();
    await clock.advance(20);
    await second;
    assert.equal(last()?.full, false);
  } finally {
    await mirror.close();
    await Deno.remove(dir, { recursive: true });
  }
});
