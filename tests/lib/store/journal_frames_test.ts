import assert from "node:assert/strict";
import {
  encodeFrame,
  findFrames,
  listSegmentsSync,
  scanFrames,
  segmentPath,
} from "../../../lib/store/journal_frames.ts";
import type { HamRecord } from "../../../lib/core/records.ts";

Deno.test("scanFrames() stops at a bad checksum and findFrames() finds the frames after it", () => {
  const records: HamRecord[] = [1, 2, 3].map((seq) => ({ seq, t: "verbosity", value: seq }));
  const frames = records.map(encodeFrame);
  frames[1][frames[1].length - 2] ^= 0xff;
  const bytes = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
  frames.reduce((off, f) => (bytes.set(f, off), off + f.length), 0);
  const scan = scanFrames(bytes, 1);
  assert.deepEqual(scan, { records: [records[0]], end: frames[0].length, error: "bad checksum" });
  assert.deepEqual(findFrames(bytes, scan.end + 1), [records[2]]);
  assert.match(scanFrames(bytes.subarray(0, frames[0].length), 7).error!, /seq 1 where seq 7/);
});

Deno.test("listSegmentsSync() lists segments by first seq, and none when there is no journal", () => {
  const dir = Deno.makeTempDirSync({ prefix: "ham-frames-" });
  try {
    assert.deepEqual(listSegmentsSync(dir), []);
    Deno.mkdirSync(`${dir}/journal`);
    const record: HamRecord = { seq: 12, t: "verbosity", value: 2 };
    Deno.writeFileSync(segmentPath(dir, 12), encodeFrame(record));
    Deno.writeFileSync(segmentPath(dir, 1), new Uint8Array());
    const segments = listSegmentsSync(dir);
    assert.deepEqual(segments.map((s) => [s.firstSeq, s.size]), [[1, 0], [
      12,
      encodeFrame(record).length,
    ]]);
    assert.deepEqual(scanFrames(Deno.readFileSync(segments[1].path), 12).records, [record]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
