import * as assert from "node:assert/strict";
import { ChannelCursors } from "../../../lib/daemon/channel_cursors.ts";
import { EventHub } from "../../../lib/daemon/event_hub.ts";
import { EventLog } from "../../../lib/daemon/event_log.ts";
import type { Connection } from "../../../lib/daemon/server.ts";
import { Subscriptions } from "../../../lib/daemon/subscriptions.ts";
import type { Push, Request } from "../../../lib/core/protocol.ts";

/**
 * A connection that records what is pushed (and each send's text, as it would be written),
 * with a settable unwritten backlog.
 */
function fakeConn() {
  const pushes: Push[] = [];
  const sent: string[] = [];
  const conn = {
    queuedBytes: 0,
    closed: false,
    onClose: [] as Array<() => void>,
    send(obj: unknown) {
      sent.push(typeof obj === "string" ? obj : JSON.stringify(obj));
      // An object, or lines of JSON (a batch of a catch-up replay).
      const lines = typeof obj === "string" ? obj.split("\n").map((l) => JSON.parse(l)) : [obj];
      for (const line of lines) pushes.push((line as { push: Push }).push);
      return Promise.resolve();
    },
    drained: () => Promise.resolve(),
  };
  return { conn, asConnection: conn as unknown as Connection, pushes, sent };
}

function subscribeReq(
  id: number,
  fields: Partial<Extract<Request, { op: "subscribe" }>> = {},
): Extract<Request, { op: "subscribe" }> {
  return {
    id,
    op: "subscribe",
    since: null,
    entity: null,
    channel: null,
    subscriber: null,
    ...fields,
  };
}

const message = { entity: "srv", condition: "srv/a", action: "tell", code: 1, value: 2 };

Deno.test("Subscriptions.subscribe() says which events are skipped, then carries on", async () => {
  const hub = new EventHub({ capacity: 2 });
  for (let i = 0; i < 5; i++) hub.publish({ type: "state", entity: "p" });
  hub.flush(); // Delivered (and the window trimmed) a microtask later: now.
  const subs = new Subscriptions(hub, ChannelCursors.open(null));
  const { asConnection, pushes } = fakeConn();
  const r = subs.subscribe(subscribeReq(7, { since: 1 }), asConnection);
  await subs.settled();
  assert.deepEqual(r, { sub: 7, since: 1 });
  const oldest = hub.oldestSeq;
  assert.deepEqual(pushes[0], { type: "skipped", sub: 7, from: 1, to: oldest - 1 });
  assert.deepEqual(pushes.slice(1).map((p) => p.type === "event" && p.event.seq), [oldest, 5]);
});

Deno.test("Subscriptions.subscribe() pushes nothing before a since past the next event", async () => {
  const hub = new EventHub();
  for (let i = 0; i < 3; i++) hub.publish({ type: "state", entity: "p" });
  hub.flush();
  const subs = new Subscriptions(hub, ChannelCursors.open(null));
  const { asConnection, pushes } = fakeConn();
  const since = hub.nextSeq + 5;
  assert.deepEqual(subs.subscribe(subscribeReq(4, { since }), asConnection), { sub: 4, since });
  await subs.settled();
  for (let i = 0; i < 10; i++) hub.publish({ type: "state", entity: "p" });
  hub.flush();
  const seqs = pushes.map((p) => p.type === "event" ? p.event.seq : -1);
  assert.deepEqual(seqs, Array.from({ length: 5 }, (_, i) => since + i));
});

Deno.test("Subscriptions.subscribe() ends a subscription that lags, with where to resume", () => {
  const hub = new EventHub();
  const subs = new Subscriptions(hub, ChannelCursors.open(null), { maxBacklogBytes: 100 });
  const { conn, asConnection, pushes } = fakeConn();
  subs.subscribe(subscribeReq(3), asConnection);
  hub.publish({ type: "state", entity: "p" });
  hub.flush();
  conn.queuedBytes = 1000; // The client stopped reading.
  const missed = hub.publish({ type: "state", entity: "p" });
  hub.publish({ type: "state", entity: "p" });
  hub.flush();
  assert.deepEqual(pushes.map((p) => p.type), ["event", "ended"]);
  assert.deepEqual(pushes[1], { type: "ended", sub: 3, reason: "lagged", next: missed.seq });
});

Deno.test("Subscriptions.unsubscribe() ends one subscription of the connection, as its close would", async () => {
  const hub = new EventHub();
  const subs = new Subscriptions(hub, ChannelCursors.open(null));
  const { conn, asConnection, pushes } = fakeConn();
  subs.subscribe(subscribeReq(1, { channel: "ops" }), asConnection);
  subs.subscribe(subscribeReq(2, { channel: "ops" }), asConnection);
  await subs.settled();
  assert.equal(subs.connectedTo("ops"), 2);
  const other = fakeConn();
  assert.deepEqual(
    subs.unsubscribe({ id: 3, op: "unsubscribe", sub: 1, next: null }, other.asConnection),
    {
      sub: 1,
      ended: false,
    },
    "only a sub of the same connection",
  );
  assert.deepEqual(
    subs.unsubscribe({ id: 4, op: "unsubscribe", sub: 1, next: null }, asConnection),
    {
      sub: 1,
      ended: true,
    },
  );
  assert.equal(subs.connectedTo("ops"), 1);
  assert.equal(conn.onClose.length, 1, "its close handler is gone with it");
  assert.equal(subs.notify("ops", message), true);
  hub.flush();
  assert.deepEqual(pushes.map((p) => p.type === "event" && p.sub), [2], "only sub 2 is pushed to");
  assert.equal(
    subs.unsubscribe({ id: 5, op: "unsubscribe", sub: 1, next: null }, asConnection).ended,
    false,
    "twice is no error",
  );
  for (const f of conn.onClose) f();
  assert.equal(subs.connectedTo("ops"), 0);
});

Deno.test("Subscriptions.unsubscribe() puts a named subscriber back to where it says it stopped", async () => {
  const hub = new EventHub();
  const channels = ChannelCursors.open(null);
  const subs = new Subscriptions(hub, channels);
  const { asConnection, pushes } = fakeConn();
  subs.subscribe(subscribeReq(1, { channel: "ops", subscriber: "pager" }), asConnection);
  await subs.settled();
  const start = channels.cursor("ops", "pager")!;
  for (let i = 0; i < 3; i++) subs.notify("ops", message);
  hub.flush();
  const seqs = pushes.map((p) => p.type === "event" ? p.event.seq : -1);
  assert.equal(
    channels.cursor("ops", "pager"),
    seqs[2],
    "pushed: received, as far as the HAM knows",
  );
  // The subscriber took the first one only.
  subs.unsubscribe({ id: 2, op: "unsubscribe", sub: 1, next: seqs[1] }, asConnection);
  assert.equal(channels.cursor("ops", "pager"), seqs[0]);
  // Never back before where the subscription started, nor forward.
  subs.subscribe(subscribeReq(3, { channel: "ops", subscriber: "pager" }), asConnection);
  await subs.settled();
  subs.unsubscribe({ id: 4, op: "unsubscribe", sub: 3, next: 0 }, asConnection);
  assert.equal(channels.cursor("ops", "pager"), seqs[0]);
  subs.subscribe(subscribeReq(5, { channel: "ops", subscriber: "pager" }), asConnection);
  await subs.settled();
  subs.unsubscribe({ id: 6, op: "unsubscribe", sub: 5, next: 1000 }, asConnection);
  assert.equal(channels.cursor("ops", "pager"), seqs[2]);
  assert.ok(start < seqs[0]);
});

Deno.test("Subscriptions.notify() fails without a subscriber when nothing is durable", () => {
  const hub = new EventHub();
  const subs = new Subscriptions(hub, ChannelCursors.open(null));
  assert.equal(subs.notify("ops", message), false);
  assert.equal(hub.nextSeq, 1, "nothing published");
  const { conn, asConnection, pushes } = fakeConn();
  subs.subscribe(subscribeReq(1, { channel: "ops" }), asConnection);
  assert.equal(subs.connectedTo("ops"), 1);
  assert.equal(subs.notify("ops", message), true);
  hub.flush();
  assert.equal(pushes[0].type === "event" && pushes[0].event.condition, "srv/a");
  for (const f of conn.onClose) f();
  assert.equal(subs.connectedTo("ops"), 0);
  assert.equal(subs.notify("ops", message), false);
});

Deno.test("Subscriptions.notify() fails when a named subscriber's backlog is full", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ham-subs-" });
  try {
    const hub = new EventHub();
    const channels = ChannelCursors.open(dir, { capacity: 2 });
    const subs = new Subscriptions(hub, channels);
    assert.equal(subs.notify("ops", message), true, "kept: the channel has a durable backlog");
    const { conn, asConnection } = fakeConn();
    subs.subscribe(subscribeReq(1, { channel: "ops", subscriber: "pager" }), asConnection);
    await subs.settled();
    for (const f of conn.onClose) f(); // pager got the backlog and went away.
    assert.equal(subs.notify("ops", message), true);
    assert.equal(subs.notify("ops", message), true);
    assert.equal(subs.notify("ops", message), false, "two wait for pager already");
    const again = fakeConn();
    subs.subscribe(subscribeReq(2, { channel: "ops", subscriber: "pager" }), again.asConnection);
    await subs.settled();
    assert.equal(again.pushes.length, 2, "pager gets what it missed");
    for (const f of again.conn.onClose) f();
    assert.equal(subs.notify("ops", message), true, "room again once pager caught up");
    channels.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Subscriptions.catchUp() keeps the notifications the channels' file missed", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ham-subs-" });
  try {
    const hub = new EventHub();
    hub.publish({ type: "state", entity: "p" });
    const lost = hub.publish({ type: "notify", entity: "srv", detail: { channel: "ops" } });
    const channels = ChannelCursors.open(dir); // Never written: the HAM died first.
    new Subscriptions(hub, channels).catchUp();
    assert.deepEqual(channels.kept("ops"), [lost.seq]);
    channels.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Subscriptions.notify() catches up first when catchUp() has not run yet, once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ham-subs-" });
  try {
    const hub = new EventHub();
    const lost = hub.publish({ type: "notify", entity: "srv", detail: { channel: "ops" } });
    const channels = ChannelCursors.open(dir); // Never written: the HAM died first.
    // A HAM that took over: its catch-up comes after its first answers, or now.
    const subs = new Subscriptions(hub, channels);
    assert.equal(subs.notify("ops", { entity: "srv" }), true);
    const next = hub.nextSeq - 1;
    assert.deepEqual(channels.kept("ops"), [lost.seq, next], "the missed one first, then the new");
    subs.catchUp(); // The timer's, later: nothing twice.
    assert.deepEqual(channels.kept("ops"), [lost.seq, next]);
    channels.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Subscriptions.subscribe() pauses its replay while the connection does not drain, then goes live", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ham-subs-" });
  const hub = new EventHub({ capacity: 50, log: EventLog.open(dir) });
  try {
    for (let i = 0; i < 3000; i++) hub.publish({ type: "state", entity: "p" });
    hub.flush();
    const subs = new Subscriptions(hub, ChannelCursors.open(null));
    const { conn, asConnection, pushes } = fakeConn();
    // The client reads nothing until the gate opens.
    const gate = Promise.withResolvers<void>();
    const waiting = Promise.withResolvers<void>();
    let asked = 0;
    conn.drained = () => {
      if (++asked === 1) return Promise.resolve();
      waiting.resolve(); // The replay sent its first batch and waits for the client.
      return gate.promise;
    };
    subs.subscribe(subscribeReq(9, { since: 1 }), asConnection);
    await waiting.promise;
    const paused = pushes.length;
    assert.ok(paused > 0 && paused < 3000, `${paused} events before the pause`);
    for (let i = 0; i < 100; i++) hub.publish({ type: "raise", entity: "q" });
    hub.flush();
    assert.equal(pushes.length, paused, "nothing more while paused, live events included");
    conn.drained = () => Promise.resolve();
    gate.resolve();
    await subs.settled();
    hub.publish({ type: "detach", entity: "last" });
    hub.flush();
    const seqs = pushes.map((p) => p.type === "event" ? p.event.seq : -1);
    assert.deepEqual(seqs, Array.from({ length: 3101 }, (_, i) => i + 1));
  } finally {
    hub.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("A live push is the bytes of JSON.stringify() of it, the event's JSON made once", async () => {
  const hub = new EventHub();
  const subs = new Subscriptions(hub, ChannelCursors.open(null));
  const { asConnection, sent } = fakeConn();
  subs.subscribe(subscribeReq(11), asConnection);
  subs.subscribe(subscribeReq(12), asConnection);
  await subs.settled();
  const ev = hub.publish({ type: "death", entity: "web", detail: { pid: 7, note: 'a "b"\n' } });
  assert.deepEqual(sent, [], "delivered a microtask later");
  await Promise.resolve();
  assert.deepEqual(sent, [
    JSON.stringify({ push: { type: "event", sub: 11, event: ev } }),
    JSON.stringify({ push: { type: "event", sub: 12, event: ev } }),
  ]);
  assert.equal(hub.json(ev), JSON.stringify(ev));
  // Another event (one not just published) is stringified anew.
  const other = { ...ev, seq: 99 };
  assert.equal(hub.json(other), JSON.stringify(other));
});
