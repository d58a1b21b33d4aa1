import * as assert from "node:assert/strict";
import { EventHub } from "../../../lib/daemon/event_hub.ts";
import { EventLog } from "../../../lib/daemon/event_log.ts";

async function tempDir(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "ham-events-" });
}

Deno.test("EventLog keeps events across a reopen and EventHub continues the numbering", async () => {
  const dir = await tempDir();
  try {
    const hub = new EventHub({ log: EventLog.open(dir) });
    for (let i = 0; i < 5; i++) hub.publish({ type: "death", entity: `e${i}` });
    hub.close();
    const again = new EventHub({ log: EventLog.open(dir) });
    assert.equal(again.nextSeq, 6);
    assert.deepEqual(again.since(3).map((e) => e.entity), ["e2", "e3", "e4"]);
    assert.equal(again.publish({ type: "attach", entity: "x" }).seq, 6);
    again.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("EventLog.open() ignores a torn last line", async () => {
  const dir = await tempDir();
  try {
    const log = EventLog.open(dir);
    log.append({ seq: 1, at: 1, type: "death", entity: "a" });
    log.append({ seq: 2, at: 2, type: "death", entity: "b" });
    log.close();
    const seg = `${dir}/events/${"1".padStart(16, "0")}.jsonl`;
    Deno.writeTextFileSync(seg, '{"seq":3,"at":3,"ty', { append: true });
    const again = EventLog.open(dir);
    assert.equal(again.lastSeq, 2);
    again.append({ seq: 3, at: 3, type: "death", entity: "c" });
    assert.deepEqual(again.read(1).map((e) => e.entity), ["a", "b", "c"]);
    again.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

for (
  const [name, opts] of [
    ["EventLog.open() drops what follows zeroed bytes (a machine crash's unwritten blocks)", {}],
    [
      "EventLog.open() with checkedBefore reads the whole segment when its tail holds zeroed bytes",
      { checkedBefore: true },
    ],
  ] as const
) {
  Deno.test(name, async () => {
    const dir = await tempDir();
    try {
      const log = EventLog.open(dir);
      log.append({ seq: 1, at: 1, type: "death", entity: "a" });
      log.close();
      const seg = `${dir}/events/${"1".padStart(16, "0")}.jsonl`;
      Deno.writeFileSync(seg, new Uint8Array(64), { append: true });
      Deno.writeTextFileSync(seg, '\n{"seq":3,"at":3,"type":"death","entity":"c"}\n', {
        append: true,
      });
      const again = EventLog.open(dir, opts);
      assert.equal(again.lastSeq, 1);
      again.append({ seq: 2, at: 2, type: "death", entity: "b" });
      assert.deepEqual(again.read(1).map((e) => e.entity), ["a", "b"]);
      again.close();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("EventLog.open() with checkedBefore cuts a torn last line, reading only the tail", async () => {
  const dir = await tempDir();
  try {
    const log = EventLog.open(dir);
    for (let seq = 1; seq <= 300; seq++) log.append({ seq, at: seq, type: "death", entity: "a" });
    // A last whole line longer than the first tail read (16 KiB), then a torn one.
    log.append({ seq: 301, at: 301, type: "death", entity: "b".repeat(40_000) });
    log.close();
    const seg = `${dir}/events/${"1".padStart(16, "0")}.jsonl`;
    const whole = Deno.statSync(seg).size;
    Deno.writeTextFileSync(seg, '{"seq":302,"at":302,"ty', { append: true });
    const again = EventLog.open(dir, { checkedBefore: true });
    assert.equal(again.lastSeq, 301);
    assert.equal(Deno.statSync(seg).size, whole);
    again.append({ seq: 302, at: 302, type: "death", entity: "c" });
    assert.deepEqual(again.read(300).map((e) => e.entity.slice(0, 1)), ["a", "b", "c"]);
    again.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("EventLog.read() with mustContain returns only the lines holding it, up to zeroed bytes", async () => {
  const dir = await tempDir();
  try {
    const log = EventLog.open(dir);
    for (let seq = 1; seq <= 6; seq++) {
      log.append({ seq, at: seq, type: seq % 2 === 0 ? "notify" : "death", entity: `e${seq}` });
    }
    log.close();
    const again = EventLog.open(dir);
    const mark = '"type":"notify"';
    assert.deepEqual(again.read(0, Infinity, mark).map((e) => e.seq), [2, 4, 6]);
    assert.deepEqual(again.read(3, Infinity, mark).map((e) => e.seq), [4, 6]);
    assert.deepEqual(again.read(0, 2, mark).map((e) => e.seq), [2, 4]);
    again.close();
    // A NUL byte on a line without the mark ends the segment there, as a torn marked line does.
    const seg = `${dir}/events/${"1".padStart(16, "0")}.jsonl`;
    const text = Deno.readTextFileSync(seg).split("\n");
    text[2] = text[2].replace("death", "de\0th");
    Deno.writeTextFileSync(seg, text.join("\n") + '{"seq":7,"at":7,"type":"notify","ent');
    const torn = EventLog.open(dir);
    assert.deepEqual(torn.read(0, Infinity, mark).map((e) => e.seq), [2]);
    torn.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("EventLog rotates segments and drops the oldest beyond retention", async () => {
  const dir = await tempDir();
  try {
    const log = EventLog.open(dir, { segmentBytes: 200, maxSegments: 3 });
    for (let seq = 1; seq <= 60; seq++) log.append({ seq, at: seq, type: "death", entity: "w" });
    log.close();
    const files = [...Deno.readDirSync(`${dir}/events`)].filter((f) => f.name.endsWith(".jsonl"));
    assert.equal(files.length, 3);
    const again = EventLog.open(dir, { segmentBytes: 200, maxSegments: 3 });
    assert.ok(again.oldestSeq > 1, "old events were dropped");
    const kept = again.read(0);
    assert.equal(kept.at(-1)!.seq, 60);
    assert.equal(kept[0].seq, again.oldestSeq);
    again.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("EventHub.since() reads events older than its window from the log", async () => {
  const dir = await tempDir();
  try {
    const hub = new EventHub({ log: EventLog.open(dir), capacity: 3 });
    for (let i = 1; i <= 10; i++) hub.publish({ type: "restart", entity: `e${i}` });
    assert.deepEqual(hub.since(2, null, 3).map((e) => e.seq), [2, 3, 4]);
    assert.deepEqual(hub.since(1, "e5").map((e) => e.seq), [5]);
    hub.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("EventLogReader.read() returns a bounded chunk at a time, in order, then null", async () => {
  const dir = await tempDir();
  try {
    const log = EventLog.open(dir, { segmentBytes: 4096 });
    for (let seq = 1; seq <= 500; seq++) log.append({ seq, at: seq, type: "state", entity: "w" });
    const reader = log.reader(42);
    const seqs: number[] = [];
    let batches = 0;
    for (let b = await reader.read(1024); b !== null; b = await reader.read(1024)) {
      batches++;
      // At most a chunk's worth of lines (each ~50 bytes).
      assert.ok(b.length <= 1024 / 40, `${b.length} events in one batch`);
      seqs.push(...b.map((e) => e.seq));
    }
    assert.deepEqual(seqs, Array.from({ length: 459 }, (_, i) => i + 42));
    assert.ok(batches > 10);
    // Appended later: the reader carries on from where it stopped.
    log.append({ seq: 501, at: 501, type: "state", entity: "w" });
    assert.deepEqual((await reader.read())?.map((e) => e.seq), [501]);
    assert.equal(await reader.read(), null);
    log.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("EventHub reads its window from the log on first use, before the events published since", async () => {
  const dir = await tempDir();
  try {
    const hub = new EventHub({ log: EventLog.open(dir), capacity: 3 });
    for (let i = 1; i <= 4; i++) hub.publish({ type: "death", entity: `old${i}` });
    hub.close();
    const again = new EventHub({ log: EventLog.open(dir), capacity: 3 });
    again.publish({ type: "takeover", entity: "" });
    // The window: the last 3 events the log held, then the one published since.
    assert.equal(again.windowSeq, 2);
    assert.deepEqual(again.since(3).map((e) => e.entity), ["old3", "old4", ""]);
    assert.deepEqual(again.since(1).map((e) => e.seq), [1, 2, 3, 4, 5]);
    again.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("EventLogReader.read() carries on past a segment deleted under it", async () => {
  const dir = await tempDir();
  try {
    const log = EventLog.open(dir, { segmentBytes: 500, maxSegments: 3 });
    for (let seq = 1; seq <= 30; seq++) log.append({ seq, at: seq, type: "state", entity: "w" });
    const reader = log.reader(1);
    const first = (await reader.read(128))!;
    assert.equal(first[0].seq, log.segments[0]);
    // Retention deletes the segment being read (and more).
    for (let seq = 31; seq <= 60; seq++) log.append({ seq, at: seq, type: "state", entity: "w" });
    const rest: number[] = [];
    for (let b = await reader.read(); b !== null; b = await reader.read()) {
      rest.push(...b.map((e) => e.seq));
    }
    assert.equal(rest[0], log.segments[0], "on with the oldest segment left");
    assert.equal(rest.at(-1), 60);
    assert.deepEqual(rest, Array.from({ length: rest.length }, (_, i) => rest[0] + i));
    log.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("EventHub.notifications() returns the notify events kept, from the log and since", async () => {
  const dir = await tempDir();
  try {
    const hub = new EventHub({ log: EventLog.open(dir) });
    hub.publish({ type: "death", entity: "a" });
    hub.publish({ type: "notify", entity: "a", detail: { channel: "c1" } });
    hub.publish({ type: "death", entity: "notify" });
    hub.close();
    const again = new EventHub({ log: EventLog.open(dir) });
    again.publish({ type: "notify", entity: "b", detail: { channel: "c2" } });
    assert.deepEqual(again.notifications(1).map((e) => [e.seq, e.detail?.channel]), [
      [2, "c1"],
      [4, "c2"],
    ]);
    assert.deepEqual(again.notifications(3).map((e) => e.seq), [4]);
    // Without reading the window: it begins at the log's first event.
    assert.equal(again.windowSeq, 1);
    again.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("EventLog.appendAll() writes a batch at once, one write a segment, across a rotation", async () => {
  const dir = await tempDir();
  try {
    const log = EventLog.open(dir, { segmentBytes: 120 });
    const batch = Array.from({ length: 5 }, (_, i) => {
      const ev = { seq: i + 1, at: i + 1, type: "state" as const, entity: "w" };
      return { ev, json: JSON.stringify(ev) };
    });
    log.appendAll(batch);
    assert.equal(log.lastSeq, 5);
    assert.ok(log.segments.length > 1, "rotated within the batch");
    const onDisk = log.segments.flatMap((first) =>
      Deno.readTextFileSync(log.segmentPath(first)).trim().split("\n").map((l) => JSON.parse(l).seq)
    );
    assert.deepEqual(onDisk, [1, 2, 3, 4, 5], "in the files, before any await");
    log.close();
    const again = EventLog.open(dir, { segmentBytes: 120 });
    assert.equal(again.lastSeq, 5);
    again.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
