import assert from "node:assert/strict";
import { encodeFrame, listSegmentsSync, segmentPath } from "../../../lib/store/journal_frames.ts";
import { JournalTail } from "../../../lib/store/journal_tail.ts";
import { JOURNAL_BELL, JournalBell } from "../../../lib/store/journal_bell.ts";
import type { HamRecord, RecordBody } from "../../../lib/core/records.ts";
import { StateStore } from "../../../lib/store/state_store.ts";
import { replaySync } from "../../../lib/store/replay.ts";
import { within } from "../../support/within.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ham-tail-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function entity(i: number): RecordBody {
  return { t: "entity", entity: `e${i}`, flags: 0, at: 1000 + i };
}

/** Commits `n` placeholder entities, numbered from `from`, one record per commit. */
async function commitEntities(store: StateStore, from: number, n: number): Promise<void> {
  for (let i = from; i < from + n; i++) await store.commit([entity(i)]);
}

/** The bytes and sizes of every file in the journal and snapshot directories. */
function filesOf(dir: string): string {
  const out: string[] = [];
  for (const sub of ["journal", "snapshot"]) {
    try {
      for (const e of Deno.readDirSync(`${dir}/${sub}`)) {
        out.push(`${sub}/${e.name}:${Deno.statSync(`${dir}/${sub}/${e.name}`).size}`);
      }
    } catch { /* none */ }
  }
  return out.sort().join(",");
}

function append(path: string, bytes: Uint8Array): void {
  const f = Deno.openSync(path, { append: true, create: true });
  f.writeSync(bytes);
  f.close();
}

Deno.test("JournalTail.open() loads the state a StateStore wrote", async () => {
  await withDir(async (dir) => {
    const store = await StateStore.open(dir);
    await commitEntities(store, 0, 5);
    const tail = JournalTail.open(dir);
    assert.equal(tail.seq, 5);
    assert.deepEqual(tail.state, store.state);
    assert.equal(tail.reloads, 0);
    await store.close();
  });
});

Deno.test("JournalTail.open() loads an empty state when there is no journal yet", async () => {
  await withDir((dir) => {
    const tail = JournalTail.open(dir);
    assert.equal(tail.seq, 0);
    assert.equal(tail.catchUp(), 0);
    return Promise.resolve();
  });
});

Deno.test("JournalTail.catchUp() applies only the records appended since the last call", async () => {
  await withDir(async (dir) => {
    const store = await StateStore.open(dir);
    await commitEntities(store, 0, 3);
    const tail = JournalTail.open(dir);
    assert.equal(tail.catchUp(), 0);
    await commitEntities(store, 3, 4);
    assert.equal(tail.catchUp(), 4);
    assert.equal(tail.seq, 7);
    assert.deepEqual(tail.state, store.state);
    assert.equal(tail.reloads, 0);
    await store.close();
  });
});

Deno.test("JournalTail.catchUp() leaves a frame being written for the next call", async () => {
  await withDir(async (dir) => {
    const store = await StateStore.open(dir);
    await commitEntities(store, 0, 2);
    await store.close();
    const tail = JournalTail.open(dir);
    const path = listSegmentsSync(dir).at(-1)!.path;
    const frame = encodeFrame({ seq: 3, ...entity(2) } as HamRecord);
    append(path, frame.subarray(0, 5)); // Not even a whole header.
    assert.equal(tail.catchUp(), 0);
    append(path, frame.subarray(5, 20));
    assert.equal(tail.catchUp(), 0);
    append(path, frame.subarray(20));
    assert.equal(tail.catchUp(), 1);
    assert.ok(tail.state.entities.has("e2"));
    assert.equal(tail.reloads, 0);
  });
});

Deno.test("JournalTail.open() changes no file when the last frame is torn", async () => {
  await withDir(async (dir) => {
    const store = await StateStore.open(dir);
    await commitEntities(store, 0, 2);
    await store.close();
    const path = listSegmentsSync(dir).at(-1)!.path;
    append(path, encodeFrame({ seq: 3, ...entity(2) } as HamRecord).subarray(0, 12));
    const before = filesOf(dir);
    const tail = JournalTail.open(dir);
    assert.equal(tail.seq, 2);
    assert.equal(filesOf(dir), before);
  });
});

Deno.test("JournalTail.catchUp() follows the journal into the segment a compaction starts", async () => {
  await withDir(async (dir) => {
    const store = await StateStore.open(dir);
    await commitEntities(store, 0, 3);
    const tail = JournalTail.open(dir);
    await commitEntities(store, 3, 2);
    await store.compact();
    await commitEntities(store, 5, 2);
    assert.equal(tail.catchUp(), 4);
    assert.deepEqual(tail.state, store.state);
    assert.equal(tail.reloads, 0, "it read on into the new segment");
    await store.close();
  });
});

Deno.test("JournalTail.catchUp() reloads from the snapshot when its segment was removed", async () => {
  await withDir(async (dir) => {
    const store = await StateStore.open(dir);
    await commitEntities(store, 0, 3);
    const tail = JournalTail.open(dir);
    for (let round = 0; round < 3; round++) {
      await commitEntities(store, 3 + round * 2, 2);
      await store.compact();
    }
    await commitEntities(store, 20, 1);
    assert.ok(!listSegmentsSync(dir).some((s) => s.firstSeq === 1), "the first segment is gone");
    assert.equal(tail.catchUp(), store.state.seq - 3);
    assert.deepEqual(tail.state, store.state);
    assert.equal(tail.reloads, 1);
    await store.close();
  });
});

Deno.test("JournalTail.catchUp() rebuilds when records it applied were cut and rewritten", async () => {
  await withDir(async (dir) => {
    const store = await StateStore.open(dir);
    await commitEntities(store, 0, 2);
    await store.close();
    const path = segmentPath(dir, 1);
    const size = Deno.statSync(path).size;
    append(path, encodeFrame({ seq: 3, ...entity(100) } as HamRecord));
    const tail = JournalTail.open(dir);
    assert.ok(tail.state.entities.has("e100"));
    // A failed write is cut back, and other records take its seqs.
    Deno.truncateSync(path, size);
    append(path, encodeFrame({ seq: 3, t: "verbosity", value: 7 } as HamRecord));
    append(path, encodeFrame({ seq: 4, ...entity(200) } as HamRecord));
    tail.catchUp();
    assert.equal(tail.reloads, 1);
    assert.deepEqual(tail.state, replaySync(dir, { upToSeq: 4 }).state);
    assert.ok(!tail.state.entities.has("e100"));
  });
});

Deno.test("JournalTail.catchUp() waits at a corrupt frame without reloading again", async () => {
  await withDir(async (dir) => {
    const store = await StateStore.open(dir);
    await commitEntities(store, 0, 2);
    await store.close();
    const path = segmentPath(dir, 1);
    const bad = encodeFrame({ seq: 3, ...entity(2) } as HamRecord);
    bad[bad.length - 2] ^= 0xff;
    append(path, bad);
    append(path, encodeFrame({ seq: 4, ...entity(3) } as HamRecord));
    const lines: string[] = [];
    const tail = JournalTail.open(dir, { log: (_level, msg) => lines.push(msg) });
    assert.equal(tail.seq, 2);
    assert.equal(tail.catchUp(), 0);
    assert.equal(tail.catchUp(), 0);
    assert.equal(tail.reloads, 1);
    assert.equal(lines.filter((l) => /bad frame/.test(l)).length, 1);
  });
});

Deno.test("JournalTail.follow() catches up by itself when records are appended", async () => {
  await withDir(async (dir) => {
    const store = await StateStore.open(dir);
    using tail = JournalTail.open(dir);
    const seen = Promise.withResolvers<void>();
    tail.follow({ onApplied: () => tail.seq === 10 && seen.resolve() });
    await commitEntities(store, 0, 10);
    await within(seen.promise, "the tail to reach seq 10");
    assert.deepEqual(tail.state, store.state);
    await store.close();
  });
});

Deno.test("JournalTail.follow() follows the journal bell of a HAM's store, not the journal's writes", async () => {
  await withDir(async (dir) => {
    const store = await StateStore.open(dir, { bell: true });
    const bell = `${dir}/${JOURNAL_BELL}`;
    assert.ok(Deno.statSync(bell).isFile, "the HAM's store made the bell");
    const warnings: string[] = [];
    using tail = JournalTail.open(dir, { log: (_level, msg) => warnings.push(msg) });
    let reached = Promise.withResolvers<void>();
    let target = 10;
    tail.follow({ onApplied: () => tail.seq >= target && reached.resolve() });
    await commitEntities(store, 0, 10);
    await within(reached.promise, "the tail to reach seq 10");
    assert.deepEqual(tail.state, store.state);
    // A frame written to the journal without a ring is read at the next ring.
    const path = listSegmentsSync(dir).at(-1)!.path;
    append(path, encodeFrame({ seq: 11, ...entity(10) } as HamRecord));
    reached = Promise.withResolvers<void>();
    target = 11;
    const rung = JournalBell.open(dir, (err) => warnings.push(String(err)));
    rung.ring();
    rung.close();
    await within(reached.promise, "the tail to read the frame once the bell rang");
    assert.ok(tail.state.entities.has("e10"));
    assert.deepEqual(warnings, []);
    await store.close();
  });
});

Deno.test("JournalTail.follow() follows the journal directory when there is no bell", async () => {
  await withDir(async (dir) => {
    const store = await StateStore.open(dir);
    const warnings: string[] = [];
    using tail = JournalTail.open(dir, { log: (_level, msg) => warnings.push(msg) });
    const seen = Promise.withResolvers<void>();
    tail.follow({ onApplied: () => tail.seq === 3 && seen.resolve() });
    await commitEntities(store, 0, 3);
    await within(seen.promise, "the tail to reach seq 3");
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /No journal bell/);
    await store.close();
  });
});

Deno.test("JournalTail.handOver() gives the state and store a replay of the files would, across a compaction", async () => {
  await withDir(async (dir) => {
    const store = await StateStore.open(dir, { compactRecords: 10 });
    const tail = JournalTail.open(dir);
    await commitEntities(store, 0, 12);
    await store.compact();
    await commitEntities(store, 12, 3);
    tail.catchUp();
    await commitEntities(store, 15, 2); // Not caught up yet: handOver reads them.
    await store.close();
    const live = tail.handOver();
    assert.ok(live !== null);
    const files = replaySync(dir);
    assert.deepEqual(live.state, files.state);
    assert.deepEqual(live.report, files.report);
    assert.equal(live.sizeBytes, files.sizeBytes);
    assert.deepEqual(live.newestEnd, files.newestEnd);
    // The new HAM's store continues the journal where the files end.
    const next = await StateStore.fromReplay(dir, live);
    await next.commit([entity(99)]);
    await next.close();
    assert.equal(replaySync(dir).state.seq, 18);
    assert.ok(replaySync(dir).state.entities.has("e99"));
  });
});

Deno.test("JournalTail.handOver() gives nothing when the journal ends in a torn record", async () => {
  await withDir(async (dir) => {
    const store = await StateStore.open(dir);
    await commitEntities(store, 0, 3);
    await store.close();
    const tail = JournalTail.open(dir);
    const frame = encodeFrame({ ...entity(3), seq: 4 } as HamRecord);
    append(listSegmentsSync(dir).at(-1)!.path, frame.subarray(0, frame.length - 2));
    assert.equal(tail.handOver(), null);
  });
});
