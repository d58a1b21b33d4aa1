import assert from "node:assert/strict";
import { HamError } from "../../../lib/core/errors.ts";
import {
  denoFileOps,
  Journal,
  type JournalFile,
  type JournalFileOps,
} from "../../../lib/store/journal.ts";
import {
  encodeFrame,
  listSegmentsSync,
  scanFrames,
  segmentPath,
} from "../../../lib/store/journal_frames.ts";
import type { HamRecord, RecordBody } from "../../../lib/core/records.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ham-journal-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function bodies(n: number, from = 0): RecordBody[] {
  return Array.from({ length: n }, (_, i) => ({ t: "state", entity: `e${from + i}`, to: i }));
}

function readAll(dir: string): HamRecord[] {
  return listSegmentsSync(dir).flatMap((s) => {
    const scan = scanFrames(Deno.readFileSync(s.path), s.firstSeq);
    assert.equal(scan.error, null);
    return scan.records;
  });
}

/** Real file operations that count calls and fail or pause on demand. */
/** Resolves once `ops` has begun an fdatasync (a few turns of the loop at most). */
async function syncStarted(ops: FakeOps): Promise<void> {
  for (let turn = 0; ops.syncs === 0; turn++) {
    if (turn > 1000) throw new Error("no fdatasync began");
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
}

class FakeOps implements JournalFileOps {
  writes = 0;
  syncs = 0;
  /** Fail this many upcoming writes with ENOSPC, after writing half of the data. */
  failWrites = 0;
  /** Fail this many upcoming fdatasyncs with EIO. */
  failSyncs = 0;
  /** Awaited before each fdatasync. */
  gate: Promise<void> | null = null;
  /** Offer `writeSync` (as `Deno.FsFile` does), which the journal then uses. */
  constructor(readonly syncWrites = false) {}

  async open(path: string): Promise<JournalFile> {
    const file = await denoFileOps.open(path) as Deno.FsFile;
    const writeSync = (data: Uint8Array) => {
      this.writes++;
      if (this.failWrites > 0) {
        this.failWrites--;
        file.writeSync(data.subarray(0, data.length >> 1));
        throw new Error("No space left on device (os error 28)");
      }
      return file.writeSync(data);
    };
    return {
      ...(this.syncWrites ? { writeSync } : {}),
      write: async (data) => {
        this.writes++;
        if (this.failWrites > 0) {
          this.failWrites--;
          await file.write(data.subarray(0, data.length >> 1));
          throw new Error("No space left on device (os error 28)");
        }
        return file.write(data);
      },
      syncData: async () => {
        this.syncs++;
        await this.gate;
        if (this.failSyncs > 0) {
          this.failSyncs--;
          throw new Error("Input/output error (os error 5)");
        }
        return file.syncData();
      },
      truncate: (length) => file.truncate(length),
      close: () => file.close(),
    };
  }
  syncDir = denoFileOps.syncDir;
  remove = denoFileOps.remove;
}

Deno.test("Journal.append() numbers records at once, consecutively", async () => {
  await withDir(async (dir) => {
    const journal = await Journal.open(dir);
    const a = journal.append(bodies(3));
    const b = journal.append(bodies(2));
    assert.deepEqual([...a.records, ...b.records].map((r) => r.seq), [1, 2, 3, 4, 5]);
    assert.equal(journal.nextSeq, 6);
    assert.equal(journal.lastDurableSeq, 0);
    await Promise.all([a.durable, b.durable]);
    assert.equal(journal.lastDurableSeq, 5);
    await journal.close();
  });
});

Deno.test("Journal keeps many records across close and reopen", async () => {
  await withDir(async (dir) => {
    let journal = await Journal.open(dir);
    const written: HamRecord[] = [];
    for (let i = 0; i < 100; i++) {
      const { records, durable } = journal.append(bodies(1 + (i % 7), i * 10));
      written.push(...records);
      if (i % 10 === 9) await durable;
    }
    await journal.close();
    journal = await Journal.open(dir);
    assert.equal(journal.nextSeq, written.length + 1);
    assert.equal(journal.sizeBytes, Deno.statSync(segmentPath(dir, 1)).size);
    await journal.append(bodies(1)).durable;
    await journal.close();
    const back = readAll(dir);
    assert.deepEqual(back.slice(0, -1), written);
    assert.equal(back.at(-1)!.seq, written.length + 1);
  });
});

Deno.test("Journal.append() groups appends made during a write into one fsync", async () => {
  await withDir(async (dir) => {
    const ops = new FakeOps();
    const journal = await Journal.open(dir, { fileOps: ops });
    let release!: () => void;
    ops.gate = new Promise((resolve) => release = resolve);
    const first = journal.append(bodies(1));
    await Promise.resolve(); // The first write starts and waits in fdatasync.
    await Promise.resolve();
    const more = Array.from({ length: 100 }, (_, i) => journal.append(bodies(1, i)).durable);
    release();
    await Promise.all([first.durable, ...more]);
    assert.equal(ops.syncs, 2);
    assert.equal(ops.writes, 2);
    assert.deepEqual(readAll(dir).map((r) => r.seq), Array.from({ length: 101 }, (_, i) => i + 1));
    await journal.close();
  });
});

Deno.test("Journal.append() from 50 concurrent writers needs far fewer fsyncs than appends", async () => {
  await withDir(async (dir) => {
    const ops = new FakeOps();
    const journal = await Journal.open(dir, { fileOps: ops });
    const writer = async (w: number) => {
      for (let i = 0; i < 10; i++) await journal.append(bodies(1, w * 100 + i)).durable;
    };
    await Promise.all(Array.from({ length: 50 }, (_, w) => writer(w)));
    assert.equal(journal.lastDurableSeq, 500);
    assert.ok(ops.syncs <= 25, `${ops.syncs} fsyncs for 500 appends`);
    await journal.close();
  });
});

Deno.test("Journal.append() rejects the failing batch and those queued behind it with ENOSPC", async () => {
  await withDir(async (dir) => {
    const ops = new FakeOps();
    const rollbacks: number[] = [];
    const journal = await Journal.open(dir, {
      fileOps: ops,
      onRollback: (seq) => rollbacks.push(seq),
    });
    await journal.append(bodies(5)).durable;
    const durableSize = Deno.statSync(segmentPath(dir, 1)).size;
    let release!: () => void;
    ops.gate = new Promise((resolve) => release = resolve);
    const ok = journal.append(bodies(1)); // seq 6, its write waits in fdatasync
    await Promise.resolve();
    await Promise.resolve();
    ops.failWrites = 1;
    const failing = journal.append(bodies(3)); // seq 7-9
    const behind = journal.append(bodies(2)); // seq 10-11, same batch
    assert.deepEqual(journal.pending().map((r) => r.seq), [6, 7, 8, 9, 10, 11]);
    release();
    await ok.durable;
    const expected = (err: unknown) =>
      err instanceof HamError && err.code === "ENOSPC" &&
      /^Cannot append to journal ".*0000000000000001\.log": no space left on device$/.test(
        err.message,
      );
    await assert.rejects(failing.durable, expected);
    await assert.rejects(behind.durable, expected);
    assert.deepEqual(rollbacks, [6]);
    assert.equal(journal.nextSeq, 7);
    assert.equal(journal.lastDurableSeq, 6);
    assert.deepEqual(journal.pending(), []);
    const size = durableSize + encodeFrame(ok.records[0]).length;
    assert.equal(Deno.statSync(segmentPath(dir, 1)).size, size); // The half write is gone.
    const later = journal.append([{ t: "verbosity", value: 4 }]);
    assert.equal(later.records[0].seq, 7);
    await later.durable;
    await journal.close();
    const back = readAll(dir);
    assert.deepEqual(back.map((r) => r.seq), [1, 2, 3, 4, 5, 6, 7]);
    assert.deepEqual(back[6], { seq: 7, t: "verbosity", value: 4 });
  });
});

Deno.test("Journal.append() with retry keeps what a failed write holds, writes it again, and fails other appends meanwhile", async () => {
  await withDir(async (dir) => {
    const ops = new FakeOps();
    const rollbacks: number[] = [];
    const retries: [string | null, number][] = [];
    const journal = await Journal.open(dir, {
      fileOps: ops,
      retryMs: 20,
      onRollback: (seq) => rollbacks.push(seq),
      onRetry: (err, n) => retries.push([err?.code ?? null, n]),
    });
    await journal.append(bodies(2)).durable;
    ops.failWrites = 3;
    const fact = journal.append(bodies(2, 10), { retry: true }); // seq 3-4
    const request = journal.append(bodies(1, 20)); // seq 5: queued with the fact, kept with it
    let settled = false;
    void Promise.allSettled([fact.durable, request.durable]).then(() => settled = true);
    // While they wait, an append without retry fails at once; one with retry waits too.
    for (let turn = 0; retries.length === 0; turn++) {
      if (turn > 1000) throw new Error("no retry began");
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    assert.throws(
      () => journal.append(bodies(1, 30)),
      (err) => err instanceof HamError && err.code === "ENOSPC",
    );
    const later = journal.append(bodies(1, 40), { retry: true }); // seq 6
    assert.equal(settled, false);
    assert.deepEqual(journal.pending().map((r) => r.seq), [3, 4, 5, 6]);
    await Promise.all([fact.durable, request.durable, later.durable]);
    assert.deepEqual(rollbacks, []); // Nothing was taken back.
    assert.deepEqual(retries, [["ENOSPC", 3], [null, 4]]);
    assert.equal(ops.failWrites, 0);
    await journal.close();
    const back = readAll(dir);
    assert.deepEqual(back.map((r) => r.seq), [1, 2, 3, 4, 5, 6]);
    assert.deepEqual(back.map((r) => (r as { entity?: string }).entity), [
      "e0",
      "e1",
      "e10",
      "e11",
      "e20",
      "e40",
    ]);
  });
});

Deno.test("Journal.append() with retry fails too once maxKept records wait", async () => {
  await withDir(async (dir) => {
    const ops = new FakeOps();
    const kept = Promise.withResolvers<void>();
    const journal = await Journal.open(dir, {
      fileOps: ops,
      retryMs: 60_000,
      maxKept: 3,
      onRetry: (err) => err && kept.resolve(),
    });
    ops.failWrites = 1_000;
    journal.append(bodies(2), { retry: true });
    await kept.promise;
    journal.append(bodies(1, 5), { retry: true }); // 3 wait now
    assert.throws(
      () => journal.append(bodies(1, 9), { retry: true }),
      (err) => err instanceof HamError && err.code === "ENOSPC",
    );
    assert.equal(journal.pending().length, 3);
    await journal.close();
  });
});

Deno.test("Journal.close() ends the wait of kept records and rejects them", async () => {
  await withDir(async (dir) => {
    const ops = new FakeOps();
    const journal = await Journal.open(dir, { fileOps: ops, retryMs: 60_000 });
    ops.failWrites = 1_000;
    const retrying = Promise.withResolvers<void>();
    const fact = journal.append(bodies(1), { retry: true });
    // Kept, and waiting a minute before the next attempt.
    (async () => {
      while (journal.pending().length === 0 || ops.writes === 0) {
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
      retrying.resolve();
    })();
    await retrying.promise;
    const t0 = performance.now();
    await journal.close();
    assert.ok(performance.now() - t0 < 30_000, "close does not wait the retry out");
    await assert.rejects(fact.durable, (err) => err instanceof HamError && err.code === "ENOSPC");
  });
});

Deno.test("Journal.append() rejects with EIO and cuts the segment when fdatasync fails", async () => {
  await withDir(async (dir) => {
    const ops = new FakeOps();
    const journal = await Journal.open(dir, { fileOps: ops });
    await journal.append(bodies(2)).durable;
    const size = Deno.statSync(segmentPath(dir, 1)).size;
    ops.failSyncs = 1;
    await assert.rejects(journal.append(bodies(4)).durable, { name: "HamError", code: "EIO" });
    assert.equal(Deno.statSync(segmentPath(dir, 1)).size, size);
    assert.equal(journal.nextSeq, 3);
    await journal.append(bodies(1)).durable;
    await journal.close();
    assert.deepEqual(readAll(dir).map((r) => r.seq), [1, 2, 3]);
  });
});

for (const syncWrites of [false, true]) {
  const how = syncWrites ? "writeSync" : "write";
  Deno.test(`Journal.append() says written before the fdatasync is over (${how})`, async () => {
    await withDir(async (dir) => {
      const ops = new FakeOps(syncWrites);
      const journal = await Journal.open(dir, { fileOps: ops });
      let release!: () => void;
      ops.gate = new Promise((resolve) => release = resolve);
      const { written, durable } = journal.append(bodies(3));
      let isDurable = false;
      void durable.then(() => isDurable = true);
      await written;
      // In the file (where a Guardian reads it), and not durable yet.
      assert.deepEqual(readAll(dir).map((r) => r.seq), [1, 2, 3]);
      assert.equal(isDurable, false);
      assert.equal(journal.lastDurableSeq, 0);
      release();
      await durable;
      assert.equal(journal.lastDurableSeq, 3);
      await journal.close();
    });
  });

  Deno.test(`Journal.append() rejects written when the write fails (${how})`, async () => {
    await withDir(async (dir) => {
      const ops = new FakeOps(syncWrites);
      const journal = await Journal.open(dir, { fileOps: ops });
      // With writeSync, an idle journal writes at once and the loop writes again what
      // that left torn: both fail here.
      ops.failWrites = syncWrites ? 2 : 1;
      const { written, durable } = journal.append(bodies(2));
      await assert.rejects(written, { name: "HamError", code: "ENOSPC" });
      await assert.rejects(durable, { name: "HamError", code: "ENOSPC" });
      assert.deepEqual(readAll(dir), []);
      await journal.append(bodies(1)).durable;
      await journal.close();
      assert.deepEqual(readAll(dir).map((r) => r.seq), [1]);
    });
  });
}

Deno.test("Journal.append() on an idle journal writes at once, in the same turn", async () => {
  await withDir(async (dir) => {
    const ops = new FakeOps(true);
    const journal = await Journal.open(dir, { fileOps: ops });
    const { durable } = journal.append(bodies(2));
    // Before any await: the records are in the file (a Guardian reads them from here).
    assert.deepEqual(readAll(dir).map((r) => r.seq), [1, 2]);
    assert.equal(ops.writes, 1);
    await durable;
    assert.equal(ops.writes, 1, "the loop only syncs what was written at once");
    assert.equal(ops.syncs, 1);
    await journal.close();
  });
});

Deno.test("Journal.append() writes at once while an earlier batch is being synced", async () => {
  await withDir(async (dir) => {
    const ops = new FakeOps(true);
    const journal = await Journal.open(dir, { fileOps: ops });
    let release!: () => void;
    ops.gate = new Promise((resolve) => release = resolve);
    const first = journal.append(bodies(2));
    await first.written; // seq 1-2, written at once (the journal was idle)
    await syncStarted(ops); // and now in fdatasync
    const second = journal.append(bodies(1, 2)); // seq 3
    const third = journal.append(bodies(1, 3)); // seq 4
    await second.written;
    await third.written;
    assert.deepEqual(readAll(dir).map((r) => r.seq), [1, 2, 3, 4], "in the file already");
    assert.equal(journal.lastDurableSeq, 0);
    ops.gate = null;
    release();
    await third.durable;
    assert.equal(ops.syncs, 2, "the two written ahead share the next fdatasync");
    assert.equal(journal.lastDurableSeq, 4);
    await journal.append(bodies(1, 4)).durable;
    await journal.close();
    assert.deepEqual(readAll(dir).map((r) => r.seq), [1, 2, 3, 4, 5]);
  });
});

Deno.test("Journal tells onFileChanged after a batch is durable, not when it is written", async () => {
  await withDir(async (dir) => {
    const ops = new FakeOps(true);
    let changed = 0;
    const journal = await Journal.open(dir, { fileOps: ops, onFileChanged: () => changed++ });
    let release!: () => void;
    ops.gate = new Promise((resolve) => release = resolve);
    const first = journal.append(bodies(2));
    assert.equal(first.inFile, true, "written at once");
    assert.equal(changed, 0, "not on the write: the event path does not pay for it");
    await syncStarted(ops);
    assert.equal(changed, 0, "nor before the fdatasync is over");
    ops.gate = null;
    release();
    await first.durable;
    assert.equal(changed, 1);
    await journal.append(bodies(1, 2)).durable;
    assert.equal(changed, 2, "once per batch");
    await journal.close();
  });
});

Deno.test("Journal tells onFileChanged after a failed write was cut back", async () => {
  await withDir(async (dir) => {
    const ops = new FakeOps(true);
    let changed = 0;
    const journal = await Journal.open(dir, { fileOps: ops, onFileChanged: () => changed++ });
    ops.failSyncs = 1;
    await assert.rejects(journal.append(bodies(2)).durable, /EIO|Input\/output/);
    assert.equal(changed, 1, "the cut is a change a follower must read");
    assert.deepEqual(readAll(dir), []);
    await journal.close();
  });
});

Deno.test("Journal.append() cuts what it wrote ahead when the fdatasync before it fails", async () => {
  await withDir(async (dir) => {
    const ops = new FakeOps(true);
    const journal = await Journal.open(dir, { fileOps: ops });
    await journal.append(bodies(1)).durable;
    let release!: () => void;
    ops.gate = new Promise((resolve) => release = resolve);
    ops.failSyncs = 1;
    const failing = journal.append(bodies(2, 1)); // seq 2-3
    await failing.written;
    const ahead = journal.append(bodies(1, 3)); // seq 4, written ahead
    await ahead.written;
    release();
    await assert.rejects(failing.durable, { name: "HamError", code: "EIO" });
    await assert.rejects(ahead.durable, { name: "HamError", code: "EIO" });
    assert.deepEqual(readAll(dir).map((r) => r.seq), [1], "cut back to the durable end");
    ops.gate = null;
    await journal.append(bodies(1)).durable;
    await journal.close();
    assert.deepEqual(readAll(dir).map((r) => r.seq), [1, 2]);
  });
});

Deno.test("Journal.append() rewrites a batch whose write ahead failed half-way", async () => {
  await withDir(async (dir) => {
    const ops = new FakeOps(true);
    const journal = await Journal.open(dir, { fileOps: ops });
    let release!: () => void;
    ops.gate = new Promise((resolve) => release = resolve);
    const first = journal.append(bodies(1)); // seq 1
    await first.written;
    await syncStarted(ops);
    ops.failWrites = 1; // The write ahead of seq 2-4 writes half, then fails.
    const torn = journal.append(bodies(3, 1));
    ops.gate = null;
    release();
    await torn.durable; // Rewritten by the loop, after the half was cut.
    await journal.close();
    assert.deepEqual(readAll(dir).map((r) => r.seq), [1, 2, 3, 4]);
  });
});

Deno.test("Journal.rotate() starts a new segment once earlier records are durable", async () => {
  await withDir(async (dir) => {
    const journal = await Journal.open(dir);
    journal.append(bodies(3));
    const rotated = journal.rotate();
    const after = journal.append(bodies(2));
    await rotated;
    await after.durable;
    assert.equal(journal.segment.firstSeq, 4);
    assert.equal(journal.sizeBytes, journal.segment.size);
    assert.deepEqual(listSegmentsSync(dir).map((s) => s.firstSeq), [1, 4]);
    await journal.close();
    assert.deepEqual(readAll(dir).map((r) => r.seq), [1, 2, 3, 4, 5]);
  });
});

Deno.test("Journal.open() starts a new segment when nextSeq is past the newest one", async () => {
  await withDir(async (dir) => {
    const journal = await Journal.open(dir);
    await journal.append(bodies(3)).durable;
    await journal.close();
    const reopened = await Journal.open(dir, { nextSeq: 10 });
    assert.equal(reopened.segment.path, segmentPath(dir, 10));
    await reopened.close();
    await assert.rejects(Journal.open(dir, { nextSeq: 2 }), { code: "EIO" });
  });
});

Deno.test("Journal.open() refuses a newest segment with a bad frame", async () => {
  await withDir(async (dir) => {
    const journal = await Journal.open(dir);
    await journal.append(bodies(2)).durable;
    await journal.close();
    await Deno.writeFile(segmentPath(dir, 1), new Uint8Array([1, 2, 3]), { append: true });
    await assert.rejects(Journal.open(dir), /incomplete frame header at offset \d+/);
  });
});

Deno.test("Journal.append() throws ECANCELED after close()", async () => {
  await withDir(async (dir) => {
    const journal = await Journal.open(dir);
    const { durable } = journal.append(bodies(1));
    await journal.close();
    await durable;
    assert.throws(() => journal.append(bodies(1)), { code: "ECANCELED" });
  });
});
