import { deepEqual as assertEquals, equal, ok } from "node:assert/strict";
import {
  armedBytes,
  beatSlot,
  periodIndexAt,
  periodIndexEnding,
  SLOT,
  SLOT_BYTES,
  SLOT_READ_BYTES,
  SLOT_REVOKED,
  SLOT_RING,
  slotLastBeat,
  slotSeen,
} from "../../../lib/core/heartbeat_slot.ts";

/** A slot as the HAM arms it, with room for the whole slot. */
function armed(origin: number, periodMs: number): DataView {
  const bytes = new Uint8Array(SLOT_BYTES);
  bytes.set(armedBytes(origin, periodMs));
  return new DataView(bytes.buffer);
}

Deno.test("the slot layout fits its size and the ring holds 16 periods", () => {
  equal(SLOT_READ_BYTES, SLOT.ring + 4 * SLOT_RING);
  ok(SLOT_READ_BYTES <= SLOT_BYTES);
  equal(4096 % SLOT_BYTES, 0, "slots never straddle a page");
});

Deno.test("periodIndexAt() and periodIndexEnding() agree on the period holding a time", () => {
  for (const [origin, p] of [[1000, 100], [1_733_000_000_123, 200], [5, 1]]) {
    for (let k = 0; k < 50; k++) {
      const end = origin + (k + 1) * p;
      equal(periodIndexEnding(origin, p, end), k);
      equal(periodIndexAt(origin, p, origin + k * p), k, "a period's start is in it");
      equal(periodIndexAt(origin, p, end - 0.5), k);
    }
    equal(periodIndexAt(origin, p, origin - 30), 0, "before the origin: period 0");
  }
});

Deno.test("beatSlot() marks the period it is made in, and slotSeen() finds it and no other", () => {
  const v = armed(1000, 100);
  equal(beatSlot(v, 1250), "marked"); // period 2
  ok(slotSeen(v, 2));
  ok(!slotSeen(v, 1));
  ok(!slotSeen(v, 3));
  ok(!slotSeen(v, 2 + SLOT_RING), "the same ring position, 16 periods later, is not seen");
  equal(slotLastBeat(v, null, 1300), 1250);
});

Deno.test("a beat before the origin (a grace period) counts in period 0", () => {
  const v = armed(1000, 100);
  equal(beatSlot(v, 900), "marked");
  ok(slotSeen(v, 0));
});

Deno.test("beats in later periods are kept while the HAM looks late, up to the ring's size", () => {
  const v = armed(0, 10);
  equal(beatSlot(v, 5), "marked"); // period 0
  for (let k = 1; k < SLOT_RING; k++) beatSlot(v, k * 10 + 1);
  ok(slotSeen(v, 0), "period 0 still seen 15 periods later");
  beatSlot(v, SLOT_RING * 10 + 1); // period 16 takes period 0's position
  ok(!slotSeen(v, 0));
  ok(slotSeen(v, SLOT_RING));
});

Deno.test("the ring's marks wrap at 2^32 without confusing periods", () => {
  const v = armed(0, 1);
  const k = 2 ** 32 + 7;
  beatSlot(v, k + 0.5);
  ok(slotSeen(v, k));
  ok(!slotSeen(v, k - SLOT_RING));
  ok(!slotSeen(v, k + SLOT_RING));
  // Periods 2^32 apart are told apart by nothing: at 1 ms periods, 49 days.
});

Deno.test("beatSlot() leaves an unarmed or revoked slot alone and says so", () => {
  const blank = new DataView(new ArrayBuffer(SLOT_BYTES));
  equal(beatSlot(blank, 100), "unarmed");
  equal(blank.getFloat64(SLOT.lastBeat, true), 0);
  const v = armed(0, 10);
  v.setFloat64(SLOT.period, SLOT_REVOKED, true);
  equal(beatSlot(v, 100), "revoked");
  ok(!slotSeen(v, 10));
});

Deno.test("arming clears the ring: beats of an earlier accounting are not seen", () => {
  const bytes = new Uint8Array(SLOT_BYTES);
  const v = new DataView(bytes.buffer);
  bytes.set(armedBytes(0, 10));
  beatSlot(v, 5);
  ok(slotSeen(v, 0));
  bytes.set(armedBytes(1000, 10));
  ok(!slotSeen(v, 0));
});

Deno.test("slotLastBeat() refuses what a process could scribble: none, not a number, the future, the past", () => {
  const v = armed(0, 10);
  equal(slotLastBeat(v, null, 50), null, "never beat");
  for (const t of [NaN, Infinity, -5, 2000]) {
    v.setFloat64(SLOT.lastBeat, t, true);
    equal(slotLastBeat(v, null, 500), null, String(t));
  }
  v.setFloat64(SLOT.lastBeat, 400, true);
  equal(slotLastBeat(v, 400, 500), null, "not after the last beat known");
  equal(slotLastBeat(v, 300, 500), 400);
  equal(slotLastBeat(v, null, 500), 400);
  assertEquals(beatSlot(v, 450), "marked");
  equal(slotLastBeat(v, 400, 500), 450);
});
