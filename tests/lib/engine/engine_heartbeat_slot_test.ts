/** Heartbeat accounting through heartbeat slots, on a fake clock and an in-memory slot. */

import * as assert from "node:assert/strict";
import {
  armedBytes,
  type BeatSlot,
  beatSlot,
  SLOT,
  SLOT_BYTES,
  SLOT_REVOKED,
} from "../../../lib/core/heartbeat_slot.ts";
import { selfAttachedEngine } from "../../support/self_attached_engine.ts";
import { P, Tree } from "../../support/tree.ts";

const flush = async () => {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setTimeout(r, 0));
};

/** A slot in memory: what the HAM's pread and the process's mapping both see. */
class MemorySlot implements BeatSlot {
  readonly bytes = new Uint8Array(SLOT_BYTES);
  readonly view = new DataView(this.bytes.buffer);
  arms: Array<[number, number]> = [];
  reads = 0;
  arm(origin: number, periodMs: number): void {
    this.arms.push([origin, periodMs]);
    this.bytes.set(armedBytes(origin, periodMs));
  }
  revoke(): void {
    this.view.setFloat64(SLOT.period, SLOT_REVOKED, true);
  }
  read(): DataView {
    this.reads++;
    return this.view;
  }
  /** A beat of the process at `t`. */
  beat(t: number): string {
    return beatSlot(this.view, t);
  }
}

async function beating() {
  const { clock, procs, store, engine } = await selfAttachedEngine();
  new Tree(store)
    .condition("app/low", "hb-missed-low", 1).action("app/low/note", P.exec("low"), 1)
    .condition("app/death", "death", 1).action("app/death/restart", P.restart(), 1);
  const slot = new MemorySlot();
  assert.ok(engine.heartbeatSlot("app", slot));
  return { clock, procs, store, engine, slot };
}

Deno.test("Engine counts beats made through a slot, and takes the last beat from it", async () => {
  const h = await beating();
  assert.deepEqual(h.slot.arms, [[0, 10]], "armed for the running accounting");
  for (let t = 5; t < 100; t += 10) {
    await h.clock.advanceTo(t);
    assert.equal(h.slot.beat(t), "marked");
  }
  await h.clock.advanceTo(100);
  await flush();
  assert.deepEqual(h.procs.runs, []);
  const e = h.store.state.entities.get("app")!;
  assert.deepEqual([e.hbMissed, e.hbHealth, e.lastBeat], [0, "healthy", 95]);
  assert.ok(h.slot.reads >= 10, "read once per period end");
  h.engine.stop();
});

Deno.test("Engine counts a slot beat in the period it was made in, not the one that ended", async () => {
  const h = await beating();
  // No beat in [0, 10) nor [10, 20); a beat at 20, in [20, 30), stored before the timer
  // handles the end at 20 (the timer runs late).
  h.slot.beat(20.5);
  await h.clock.advanceTo(20);
  await flush();
  assert.deepEqual(h.procs.runs, ["low"], "[10, 20) was empty: the beat at 20.5 is not its");
  await h.clock.advanceTo(30);
  await flush();
  assert.equal(h.store.state.entities.get("app")!.hbMissed, 0, "[20, 30) has its beat");
  h.engine.stop();
});

Deno.test("Engine fires missed-low when beats through the slot stop", async () => {
  const h = await beating();
  h.slot.beat(3);
  await h.clock.advanceTo(29);
  await flush();
  assert.deepEqual(h.procs.runs, []);
  await h.clock.advanceTo(30);
  await flush();
  assert.deepEqual(h.procs.runs, ["low"]);
  h.engine.stop();
});

Deno.test("Engine revokes the slot when the accounting ends, and a new slot replaces the old one", async () => {
  const h = await beating();
  const second = new MemorySlot();
  assert.ok(h.engine.heartbeatSlot("app", second));
  assert.equal(h.slot.beat(1), "revoked", "the replaced slot is revoked");
  assert.equal(second.beat(1), "marked");
  await h.engine.detach("app");
  await h.clock.advance(20);
  await flush();
  assert.equal(second.beat(25), "revoked", "detached: the process beats over the socket");
  assert.equal(h.engine.heartbeatSlot("app", new MemorySlot()), false);
  h.engine.stop();
});

Deno.test("Engine revokes the slot as soon as the entity is detached, not at the period's end", async () => {
  const h = await beating();
  await h.clock.advanceTo(3);
  assert.equal(h.slot.beat(3), "marked");
  await h.engine.detach("app");
  // The clock has not reached the period's end (10): the next beat is refused all the same.
  assert.equal(h.slot.beat(4), "revoked", "detached: the next beat goes over the socket");
  assert.equal(h.engine.heartbeatCounted("app"), false);
  h.engine.stop();
});

Deno.test("Engine revokes the slot as soon as the entity's process dies, and it is removed", async () => {
  const { clock, store, engine } = await selfAttachedEngine(); // No restart: removed.
  const slot = new MemorySlot();
  assert.ok(engine.heartbeatSlot("app", slot));
  await clock.advanceTo(3);
  assert.equal(slot.beat(3), "marked");
  engine.connectionLost("app", 700);
  await flush();
  assert.equal(store.state.entities.has("app"), false, "removed: not restarted");
  assert.equal(slot.beat(4), "revoked", "dead: the next beat goes over the socket");
  engine.stop();
});

Deno.test("Engine revokes the slot at a death and arms a new one with the restart's origin", async () => {
  const h = await beating();
  await h.clock.advanceTo(12);
  h.engine.connectionLost("app", 700); // death: restarted, with a grace
  await flush();
  assert.notEqual(h.store.state.entities.get("app")!.pid, 700, "restarted");
  // The process that beat for the dead one hears of it at its next beat (over the socket),
  // before the period's end; the slot it is given then counts from the new origin.
  assert.equal(h.slot.beat(13), "revoked");
  assert.ok(h.engine.heartbeatSlot("app", h.slot));
  assert.equal(h.slot.arms.length, 2);
  assert.ok(h.slot.arms[1][0] > 12, `the new origin ${h.slot.arms[1][0]} is after the grace`);
  assert.equal(h.slot.beat(13), "marked");
  h.engine.stop();
});

Deno.test("Engine answers no slot for an entity whose heartbeat is not counted", async () => {
  const h = await beating();
  h.procs.addProcess(701, { argv: ["quiet"] });
  await h.engine.attach({
    entity: "quiet",
    argv: null,
    pid: 701,
    cwd: null,
    env: null,
    flags: 0,
    heartbeat: null,
    kind: "self",
  });
  assert.equal(h.engine.heartbeatCounted("quiet"), false);
  assert.equal(h.engine.heartbeatSlot("quiet", new MemorySlot()), false);
  assert.equal(h.engine.heartbeatCounted("app"), true);
  h.engine.stop();
});
