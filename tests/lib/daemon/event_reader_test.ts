import * as assert from "node:assert/strict";
import type { HamEvent } from "../../../lib/core/protocol.ts";
import { EventHub } from "../../../lib/daemon/event_hub.ts";
import { EventLog } from "../../../lib/daemon/event_log.ts";
import { collectEvents, EventReader } from "../../../lib/daemon/event_reader.ts";

async function withHub(
  opts: { capacity: number; segmentBytes?: number; maxSegments?: number },
  f: (hub: EventHub) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ham-reader-" });
  const hub = new EventHub({
    capacity: opts.capacity,
    log: EventLog.open(dir, { segmentBytes: opts.segmentBytes, maxSegments: opts.maxSegments }),
  });
  try {
    await f(hub);
  } finally {
    hub.close();
    await Deno.remove(dir, { recursive: true });
  }
}

async function readAll(reader: EventReader) {
  const events: HamEvent[] = [];
  const skipped: Array<{ from: number; to: number }> = [];
  for (let s = await reader.read(); s !== null; s = await reader.read()) {
    if (s.skipped) skipped.push(s.skipped);
    events.push(...s.events);
  }
  return { events, skipped };
}

Deno.test("EventReader reads the log below the window, then the window, every event once", async () => {
  await withHub({ capacity: 100 }, async (hub) => {
    for (let i = 0; i < 5000; i++) hub.publish({ type: "state", entity: `e${i % 7}` });
    const reader = new EventReader(hub, 1);
    const { events, skipped } = await readAll(reader);
    assert.deepEqual(skipped, []);
    assert.deepEqual(events.map((e) => e.seq), Array.from({ length: 5000 }, (_, i) => i + 1));
    assert.equal(reader.caughtUp, true);
    hub.publish({ type: "state", entity: "late" });
    assert.equal(reader.caughtUp, false);
    assert.deepEqual((await reader.read())?.events.map((e) => e.entity), ["late"]);
  });
});

Deno.test("EventReader says which events are no longer kept, then carries on", async () => {
  await withHub({ capacity: 50, segmentBytes: 2000, maxSegments: 2 }, async (hub) => {
    for (let i = 0; i < 300; i++) hub.publish({ type: "state", entity: "p" });
    hub.flush();
    const { events, skipped } = await readAll(new EventReader(hub, 1));
    assert.deepEqual(skipped, [{ from: 1, to: hub.oldestSeq - 1 }]);
    assert.equal(events[0].seq, hub.oldestSeq);
    assert.equal(events.at(-1)?.seq, 300);
  });
});

Deno.test("EventReader reads events published while it reads, in order", async () => {
  await withHub({ capacity: 20 }, async (hub) => {
    for (let i = 0; i < 200; i++) hub.publish({ type: "state", entity: "p" });
    const reader = new EventReader(hub, 1);
    const seqs: number[] = [];
    for (let s = await reader.read(); s !== null; s = await reader.read()) {
      seqs.push(...s.events.map((e) => e.seq));
      if (hub.nextSeq < 400) {
        for (let i = 0; i < 50; i++) hub.publish({ type: "raise", entity: "q" });
      }
    }
    assert.deepEqual(seqs, Array.from({ length: hub.nextSeq - 1 }, (_, i) => i + 1));
  });
});

Deno.test("collectEvents() answers as EventHub.since() does, from the log too", async () => {
  await withHub({ capacity: 30 }, async (hub) => {
    for (let i = 0; i < 400; i++) {
      if (i % 10 === 0) hub.publish({ type: "notify", entity: "n", detail: { channel: "ops" } });
      else hub.publish({ type: "state", entity: `e${i % 3}` });
    }
    for (
      const [since, entity, limit, channel] of [
        [1, null, 1000, null],
        [5, "e1", 17, null],
        [1, null, 5, "ops"],
        [390, "e2", 1000, null],
      ] as const
    ) {
      const got = await collectEvents(hub, since, { entity, channel }, limit);
      const want = hub.since(since, entity, limit, channel);
      assert.deepEqual(got.events, want);
      assert.equal(got.next, want.length > 0 ? want.at(-1)!.seq + 1 : hub.nextSeq);
    }
  });
});
