import assert from "node:assert/strict";
import { QuietTrim, type TrimEffects, type Trimmed } from "../../../lib/os/quiet_trim.ts";
import { FakeClock } from "../../support/fake_clock.ts";

const MIB = 1024 * 1024;

/** A fake heap: `grow` adds bytes; a trim takes `trimMs` and leaves `keep` bytes. */
class FakeHeap implements TrimEffects {
  bytes = 0;
  trims: number[] = [];
  trimMs = 10;
  keep = 4 * MIB;
  constructor(readonly clock: FakeClock) {}
  heapBytes(): number {
    return this.bytes;
  }
  trim(): number {
    this.trims.push(this.clock.now());
    this.bytes = this.keep;
    return this.trimMs;
  }
}

function setUp(opts: { costShare?: number; maxHeapBytes?: number } = {}) {
  const clock = new FakeClock(0);
  const heap = new FakeHeap(clock);
  const told: Trimmed[] = [];
  const trim = new QuietTrim({
    effects: heap,
    clock,
    trimmed: (t) => told.push(t),
    quietMs: 500,
    growthBytes: MIB,
    costShare: opts.costShare ?? 0.02,
    maxHeapBytes: opts.maxHeapBytes ?? Infinity,
  });
  return { clock, heap, told, trim };
}

Deno.test("QuietTrim trims once the daemon has been quiet for quietMs, not before", async () => {
  const { clock, heap, told, trim } = setUp();
  heap.bytes = 6 * MIB;
  trim.touch();
  await clock.advance(499);
  assert.deepEqual(heap.trims, []);
  await clock.advance(1);
  assert.deepEqual(heap.trims, [500]);
  assert.deepEqual(told, [{ beforeBytes: 6 * MIB, afterBytes: 4 * MIB, ms: 10 }]);
  // Nothing waits while the daemon is idle.
  assert.equal(clock.pending, 0);
  trim.stop();
});

Deno.test("QuietTrim: work during the wait puts the trim off until a whole quiet wait", async () => {
  const { clock, heap, trim } = setUp();
  heap.bytes = 6 * MIB;
  trim.touch();
  await clock.advance(300);
  trim.touch();
  trim.touch();
  await clock.advance(200);
  assert.deepEqual(heap.trims, [], "work 200 ms ago: not quiet yet");
  await clock.advance(499);
  assert.deepEqual(heap.trims, []);
  await clock.advance(1);
  assert.deepEqual(heap.trims, [1000], "a wait without work, after the one with it");
  trim.stop();
});

Deno.test("QuietTrim trims only when the heap grew by growthBytes since the last trim", async () => {
  const { clock, heap, trim } = setUp({ costShare: 1 });
  heap.bytes = 6 * MIB;
  trim.touch();
  await clock.advance(500);
  assert.deepEqual(heap.trims, [500]);
  // Grown by less than 1 MiB since: quiet again, no trim.
  heap.bytes = 4 * MIB + MIB - 1;
  trim.touch();
  await clock.advance(500);
  assert.deepEqual(heap.trims, [500]);
  assert.equal(clock.pending, 0);
  heap.bytes = 5 * MIB;
  trim.touch();
  await clock.advance(500);
  assert.deepEqual(heap.trims, [500, 1500]);
  trim.stop();
});

Deno.test("QuietTrim: a trim waits its cost share's gap after the last one", async () => {
  const { clock, heap, trim } = setUp();
  heap.trimMs = 20; // at 2 %: the next trim no sooner than 1,000 ms later
  heap.bytes = 6 * MIB;
  trim.touch();
  await clock.advance(500);
  assert.deepEqual(heap.trims, [500]);
  heap.bytes = 9 * MIB;
  trim.touch();
  await clock.advance(500);
  assert.deepEqual(heap.trims, [500], "quiet, but within the gap");
  await clock.advance(499);
  assert.deepEqual(heap.trims, [500]);
  await clock.advance(1);
  assert.deepEqual(heap.trims, [500, 1500], "at the gap's end, still quiet");
  trim.stop();
});

Deno.test("QuietTrim.stop() ends the wait; touches after it start none", async () => {
  const { clock, heap, trim } = setUp();
  heap.bytes = 6 * MIB;
  trim.touch();
  assert.equal(clock.pending, 1);
  trim.stop();
  await clock.advance(0);
  assert.equal(clock.pending, 0);
  trim.touch();
  assert.equal(clock.pending, 0);
  await clock.advance(10_000);
  assert.deepEqual(heap.trims, []);
});

Deno.test("QuietTrim leaves a heap over maxHeapBytes to V8 (its trim would pause too long)", async () => {
  const { clock, heap, trim } = setUp({ maxHeapBytes: 24 * MIB });
  heap.bytes = 24 * MIB + 1;
  trim.touch();
  await clock.advance(500);
  assert.deepEqual(heap.trims, []);
  assert.equal(clock.pending, 0);
  heap.bytes = 24 * MIB;
  trim.touch();
  await clock.advance(500);
  assert.deepEqual(heap.trims, [1000]);
  trim.stop();
});
