import { deepEqual as assertEquals, equal, notEqual, ok } from "node:assert/strict";
import type { BeatSlot } from "../../../lib/core/heartbeat_slot.ts";
import { BeatSlots, type SlotConnection, type SlotEngine } from "../../../lib/daemon/beat_slots.ts";

/** An engine whose counted entities are `counted`; it records the slots it is given. */
function fakeEngine(counted: string[]) {
  const slots = new Map<string, BeatSlot>();
  const engine: SlotEngine = {
    heartbeatCounted: (name) => counted.includes(name),
    heartbeatSlot: (name, slot) => {
      if (!counted.includes(name)) return false;
      slots.set(name, slot);
      return true;
    },
    dropHeartbeatSlot: (name, slot) => {
      if (slots.get(name) === slot) slots.delete(name);
    },
  };
  return { engine, slots };
}

let nextId = 1;
function fakeConn(credentials: SlotConnection["credentials"] = {
  pid: 1,
  uid: Deno.uid() ?? 0,
  gid: 0,
  groups: [],
}): SlotConnection & { close(): void } {
  const onClose: Array<() => void> = [];
  return {
    id: nextId++,
    credentials,
    onClose,
    close: () => onClose.splice(0).forEach((f) => f()),
  };
}

async function stateDir(): Promise<string & AsyncDisposable> {
  const dir = await Deno.makeTempDir({ prefix: "ham-beat-slots-" });
  Deno.mkdirSync(`${dir}/beats`);
  return Object.assign(dir, {
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  }) as string & AsyncDisposable;
}

Deno.test("BeatSlots gives a connection one file, one slot per entity, the same one when asked again", async () => {
  await using dir = await stateDir();
  const { engine, slots } = fakeEngine(["a", "b"]);
  const beats = new BeatSlots(`${dir}`, engine);
  const conn = fakeConn();
  const a = beats.grant(conn, "a")!;
  const b = beats.grant(conn, "b")!;
  equal(a.path, b.path);
  notEqual(a.offset, b.offset);
  assertEquals(beats.grant(conn, "a"), a);
  ok(slots.has("a") && slots.has("b"));
  equal(beats.grant(conn, "quiet"), null, "an entity whose beats are not counted");
  // Another connection: another file.
  const other = fakeConn();
  notEqual(beats.grant(other, "a")!.path, a.path);
  // The connection's end removes its file and takes its slots from the engine.
  conn.close();
  ok(!slots.has("b"));
  ok(slots.has("a"), "a's slot is the other connection's now");
  equal([...Deno.readDirSync(`${dir}/beats`)].length, 1);
  other.close();
  equal([...Deno.readDirSync(`${dir}/beats`)].length, 0);
});

Deno.test("BeatSlots opens no file for a connection that beats only for entities not counted", async () => {
  await using dir = await stateDir();
  const beats = new BeatSlots(`${dir}`, fakeEngine(["a"]).engine);
  const conn = fakeConn();
  equal(beats.grant(conn, "quiet"), null);
  equal([...Deno.readDirSync(`${dir}/beats`)].length, 0);
  conn.close();
});

Deno.test("BeatSlots gives none to a connection without peer credentials (a remote one)", async () => {
  await using dir = await stateDir();
  const beats = new BeatSlots(`${dir}`, fakeEngine(["a"]).engine);
  equal(beats.grant(fakeConn(null), "a"), null);
});

Deno.test("BeatSlots hands out at most its total, and a closed connection gives its slots back", async () => {
  await using dir = await stateDir();
  const names = ["a", "b", "c", "d"];
  const beats = new BeatSlots(`${dir}`, fakeEngine(names).engine, 3);
  const one = fakeConn();
  const two = fakeConn();
  ok(beats.grant(one, "a") && beats.grant(one, "b") && beats.grant(two, "c"));
  equal(beats.grant(two, "d"), null, "the total reached");
  ok(beats.grant(one, "a"), "a slot held is still given");
  one.close();
  ok(beats.grant(two, "d"), "the closed connection's slots are free again");
  two.close();
});

Deno.test("BeatSlots answers none when the slot directory is missing (the process beats over the socket)", async () => {
  await using dir = await stateDir();
  Deno.removeSync(`${dir}/beats`);
  const beats = new BeatSlots(`${dir}`, fakeEngine(["a"]).engine);
  const conn = fakeConn();
  equal(beats.grant(conn, "a"), null);
  equal(beats.grant(conn, "a"), null, "and does not try again on that connection");
});
