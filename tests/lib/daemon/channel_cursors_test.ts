import * as assert from "node:assert/strict";
import { ChannelCursors } from "../../../lib/daemon/channel_cursors.ts";
import { DEFAULTS } from "../../../lib/core/defaults.ts";
import { HamError } from "../../../lib/core/errors.ts";

async function withDir(f: (dir: string) => Promise<void> | void): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ham-channels-" });
  try {
    await f(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("ChannelCursors.startOf() gives every new subscriber the whole backlog", () => {
  const c = ChannelCursors.open(null);
  c.keep("ops", 5);
  c.keep("ops", 9);
  c.received("ops", null, 9); // An anonymous subscriber took it: the backlog stays.
  assert.equal(c.startOf("ops", null), 5);
  assert.equal(c.startOf("ops", "pager"), 5);
  assert.equal(c.startOf("other", null), null);
});

Deno.test("ChannelCursors.startOf() resumes a named subscriber after its own cursor", () => {
  const c = ChannelCursors.open(null);
  c.keep("ops", 5);
  c.received("ops", "pager", 5);
  c.keep("ops", 9);
  assert.equal(c.startOf("ops", "pager"), 6);
  assert.equal(c.startOf("ops", "mail"), 9, "the backlog left holds what pager has not had");
});

Deno.test("ChannelCursors.keep() keeps a ring of the last notifications without named subscribers", () => {
  const c = ChannelCursors.open(null, { capacity: 3 });
  for (const seq of [1, 2, 3, 4, 5]) c.keep("ops", seq);
  assert.deepEqual(c.kept("ops"), [3, 4, 5]);
  assert.equal(c.full("ops"), false);
});

Deno.test("ChannelCursors.full() is true when the slowest named subscriber is a backlog behind", () => {
  const c = ChannelCursors.open(null, { capacity: 2 });
  c.received("ops", "pager", 0);
  c.keep("ops", 1);
  assert.equal(c.full("ops"), false);
  c.keep("ops", 2);
  assert.equal(c.full("ops"), true);
  c.received("ops", "pager", 1);
  assert.equal(c.full("ops"), false);
  assert.deepEqual(c.kept("ops"), [2]);
});

Deno.test("ChannelCursors.flush() keeps backlogs and cursors across a reopen", async () => {
  await withDir((dir) => {
    const c = ChannelCursors.open(dir);
    assert.equal(c.durable, true);
    c.keep("ops", 4);
    c.received("ops", "pager", 4);
    c.keep("ops", 7);
    c.close();
    const again = ChannelCursors.open(dir);
    assert.equal(again.cursor("ops", "pager"), 4);
    assert.deepEqual(again.kept("ops"), [7]);
    assert.equal(again.cursor("ops", "mail"), null);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["channels.json"]);
  });
});

Deno.test("ChannelCursors.open() starts empty on a torn or older-format file", async () => {
  await withDir((dir) => {
    Deno.writeTextFileSync(`${dir}/channels.json`, '{"ops": 12}');
    assert.deepEqual(ChannelCursors.open(dir).kept("ops"), []);
    Deno.writeTextFileSync(`${dir}/channels.json`, '{"version":2,"chan');
    assert.equal(ChannelCursors.open(dir).cursor("ops", "pager"), null);
  });
});

Deno.test("ChannelCursors.admit() refuses a new named subscriber past the limit with ENOMEM", () => {
  const c = ChannelCursors.open(null);
  for (let i = 0; i < DEFAULTS.maxNamedSubscribers; i++) {
    c.admit(`ch${i % 7}`, `s${i}`);
    c.received(`ch${i % 7}`, `s${i}`, 0);
  }
  c.admit("ch0", "s0"); // Known: always admitted.
  assert.throws(
    () => c.admit("ch0", "new"),
    (e: unknown) => e instanceof HamError && e.code === "ENOMEM",
  );
});
