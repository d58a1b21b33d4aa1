import assert from "node:assert/strict";
import { HamError } from "../../../lib/core/errors.ts";
import type { HamRecord } from "../../../lib/core/records.ts";
import { encodeFrame, segmentPath } from "../../../lib/store/journal_frames.ts";
import { replaySync } from "../../../lib/store/replay.ts";

function withDir(fn: (dir: string) => void): void {
  const dir = Deno.makeTempDirSync({ prefix: "ham-replay-" });
  try {
    fn(dir);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

const records: HamRecord[] = [
  { seq: 1, t: "entity", entity: "web", flags: 0, at: 1 },
  { seq: 2, t: "verbosity", value: 3 },
];

/** Writes the records as one journal segment, then `tail` (a torn frame, say). */
function journal(dir: string, tail: Uint8Array = new Uint8Array()): Uint8Array {
  Deno.mkdirSync(`${dir}/journal`);
  const frames = [...records.map(encodeFrame), tail];
  const bytes = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
  frames.reduce((off, f) => (bytes.set(f, off), off + f.length), 0);
  Deno.writeFileSync(segmentPath(dir, 1), bytes);
  return bytes;
}

Deno.test("replaySync() gives the initial state when the directory holds nothing", () => {
  withDir((dir) => {
    const r = replaySync(dir);
    assert.equal(r.state.seq, 0);
    assert.deepEqual(r.report, { snapshotSeq: 0, replayed: 0, tornBytes: 0, lostRecords: 0 });
  });
});

Deno.test("replaySync() applies every record and cuts a torn last one off the file", () => {
  withDir((dir) => {
    const torn = encodeFrame({ seq: 3, t: "verbosity", value: 4 }).subarray(0, 9);
    const bytes = journal(dir, torn);
    const r = replaySync(dir);
    assert.equal(r.state.seq, 2);
    assert.ok(r.state.entities.has("web"));
    assert.equal(r.state.verbosity, 3);
    assert.equal(r.report.tornBytes, torn.length);
    assert.equal(Deno.statSync(segmentPath(dir, 1)).size, bytes.length - torn.length);
  });
});

Deno.test("replaySync() with upToSeq stops there and changes no file", () => {
  withDir((dir) => {
    const bytes = journal(dir, new Uint8Array([1, 2, 3]));
    const r = replaySync(dir, { upToSeq: 1 });
    assert.equal(r.state.seq, 1);
    assert.equal(r.state.verbosity, 1);
    assert.deepEqual(Deno.readFileSync(segmentPath(dir, 1)), bytes);
  });
});

Deno.test("replaySync() refuses with EIO a last segment that does not start where the journal ended (not a torn tail)", () => {
  withDir((dir) => {
    journal(dir);
    Deno.writeFileSync(segmentPath(dir, 5), encodeFrame({ seq: 5, t: "verbosity", value: 2 }));
    assert.throws(() => replaySync(dir), (e) => {
      assert.ok(e instanceof HamError);
      assert.equal(e.code, "EIO");
      assert.match(e.message, /starts at seq 5, not 3/);
      return true;
    });
    const kept = replaySync(dir, { recover: true });
    assert.equal(kept.state.seq, 2);
    assert.equal(kept.report.lostRecords, 3); // seqs 3 and 4 (missing) and 5 (cut)
  });
});
