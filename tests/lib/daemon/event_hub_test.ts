import * as assert from "node:assert/strict";
import { EventHub } from "../../../lib/daemon/event_hub.ts";
import { EventLog } from "../../../lib/daemon/event_log.ts";
import type { HamEvent } from "../../../lib/core/protocol.ts";

Deno.test("EventHub.publish() numbers and stamps at once; listeners get the turn's events a microtask later, in order", async () => {
  let now = 1000;
  const hub = new EventHub({ now: () => now });
  const got: number[] = [];
  hub.listen((ev) => got.push(ev.seq));
  const a = hub.publish({ type: "death", entity: "w" });
  now = 1001;
  const b = hub.publish({ type: "condition", entity: "w", condition: "w/c" });
  assert.deepEqual([a.seq, a.at, b.seq, b.at], [1, 1000, 2, 1001]);
  assert.deepEqual(hub.since(1).map((e) => e.seq), [1, 2], "kept at once");
  assert.deepEqual(got, [], "not delivered in the publishing turn");
  await Promise.resolve();
  assert.deepEqual(got, [1, 2]);
});

Deno.test("EventHub: a listener gets exactly the events published after it was added", () => {
  const hub = new EventHub();
  hub.publish({ type: "state", entity: "before" });
  const got: string[] = [];
  const stop = hub.listen((ev) => got.push(ev.entity));
  hub.publish({ type: "state", entity: "after" });
  hub.flush();
  stop();
  hub.publish({ type: "state", entity: "stopped" });
  hub.flush();
  assert.deepEqual(got, ["after"]);
});

Deno.test("EventHub: a listener that throws is reported; the others still get the event", async () => {
  const errors: unknown[] = [];
  const hub = new EventHub({ onListenerError: (err) => errors.push(err) });
  const got: HamEvent[] = [];
  hub.listen(() => {
    throw new Error("boom");
  });
  hub.listen((ev) => got.push(ev));
  hub.publish({ type: "state", entity: "w" });
  await Promise.resolve();
  assert.equal(got.length, 1);
  assert.equal(errors.length, 1);
  assert.match(String(errors[0]), /boom/);
});

Deno.test("EventHub: the window is trimmed only once its events were delivered", () => {
  const hub = new EventHub({ capacity: 4 });
  for (let i = 0; i < 10; i++) hub.publish({ type: "state", entity: "w" });
  assert.equal(hub.since(1).length, 10, "nothing dropped before delivery");
  hub.flush();
  assert.deepEqual(hub.since(1).map((e) => e.seq), [7, 8, 9, 10]);
});

Deno.test("EventHub: a turn's events are in the log's file before any listener gets them", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ham-hub-" });
  try {
    const log = EventLog.open(dir);
    const hub = new EventHub({ log });
    const inFileWhenHeard: number[][] = [];
    hub.listen(() => {
      const text = Deno.readTextFileSync(log.segmentPath(log.segments[0]));
      inFileWhenHeard.push(text.trim().split("\n").map((l) => JSON.parse(l).seq));
    });
    hub.publish({ type: "death", entity: "w" });
    hub.publish({ type: "condition", entity: "w", condition: "w/c" });
    await Promise.resolve();
    assert.deepEqual(inFileWhenHeard, [[1, 2], [1, 2]]);
    hub.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
