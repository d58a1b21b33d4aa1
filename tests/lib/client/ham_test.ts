import assert from "node:assert/strict";
import { connect } from "../../../lib/client/ham.ts";
import { steppingWallClock } from "../../support/stepping_wall_clock.ts";
import { within } from "../../support/within.ts";
import { type FakeConn, type FakeRequest, startFakeHam } from "../../support/fake_ham.ts";

function answer(req: FakeRequest): unknown {
  switch (req.op) {
    case "attach":
    case "attach-self":
      return { entity: req.entity, pid: 777 };
    case "verbose":
      return { verbosity: 3 };
    case "state":
      return { entity: req.entity, from: 0, to: req.to };
    case "wait":
      return { entity: req.entity, reached: req.for, seq: 5 };
    case "events":
      return { events: [], next: 9 };
    default:
      return {};
  }
}

const acknowledge = (req: FakeRequest, conn: FakeConn) => conn.reply(req.id, answer(req));

function body({ id: _id, ...rest }: FakeRequest): Record<string, unknown> {
  return rest;
}

Deno.test("Ham.attach() sends a command or a pid and answers a handle with the pid", async () => {
  await using fake = await startFakeHam(acknowledge);
  await using ham = await connect({ stateDir: fake.stateDir });
  const web = await ham.attach("web", { argv: ["/bin/sleep", "1000"] });
  const db = await ham.attach("db", { pid: 4242 }, {
    flags: ["keep-on-death"],
    heartbeat: { periodMs: 200, low: 2, high: 4 },
  });
  assert.equal(web.name, "web");
  assert.equal(web.pid, 777);
  assert.equal(db.path, "db");
  assert.deepEqual(fake.requests.slice(1).map(body), [
    {
      op: "attach",
      entity: "web",
      argv: ["/bin/sleep", "1000"],
      pid: null,
      cwd: null,
      env: null,
      flags: 0,
      heartbeat: null,
    },
    {
      op: "attach",
      entity: "db",
      argv: null,
      pid: 4242,
      cwd: null,
      env: null,
      flags: 2,
      heartbeat: { periodMs: 200, low: 2, high: 4 },
    },
  ]);
});

Deno.test("Ham sends one request per connection-level call", async () => {
  await using fake = await startFakeHam(acknowledge);
  await using ham = await connect({ stateDir: fake.stateDir });
  await ham.entity("later");
  await ham.detach("web");
  assert.equal(await ham.verbose("set", 3), 3);
  await ham.status("web/death");
  await ham.status();
  await ham.heartbeat("hb");
  assert.deepEqual(await ham.state("hb", 2), { entity: "hb", from: 0, to: 2 });
  await ham.raise("hb", { rtype: 3 });
  assert.deepEqual(await ham.wait("web", "running", { timeoutMs: 1000 }), {
    entity: "web",
    reached: "running",
    seq: 5,
  });
  assert.deepEqual(await ham.events({ since: 4, entity: "web" }), { events: [], next: 9 });
  await ham.ping();
  assert.deepEqual(fake.requests.slice(1).map(body), [
    { op: "entity", entity: "later", flags: 0 },
    { op: "detach", entity: "web" },
    { op: "verbose", command: "set", value: 3 },
    { op: "status", path: "web/death" },
    { op: "status", path: null },
    { op: "heartbeat", entity: "hb", slot: true },
    { op: "state", entity: "hb", to: 2 },
    { op: "raise", entity: "hb", rtype: 3, rclass: 0, rseverity: 0 },
    { op: "wait", entity: "web", for: "running", timeoutMs: 1000, since: null },
    { op: "events", since: 4, entity: "web", limit: 1000 },
    { op: "ping" },
  ]);
});

Deno.test("Ham.subscribe() yields the events of its own subscription, in order", async () => {
  const ev = { seq: 1, at: 0, type: "death", entity: "web" };
  await using fake = await startFakeHam(async (req, conn) => {
    await conn.push({ type: "event", sub: req.id, event: ev });
    await conn.push({ type: "event", sub: req.id + 100, event: { ...ev, seq: 99 } });
    await conn.reply(req.id, { sub: req.id, since: 1 });
    await conn.push({ type: "event", sub: req.id, event: { ...ev, seq: 2 } });
  });
  await using ham = await connect({ stateDir: fake.stateDir });
  const events = await ham.subscribe({ entity: "web" });
  assert.deepEqual((await events.next()).value, ev);
  assert.deepEqual((await events.next()).value, { ...ev, seq: 2 });
  assert.equal(events.resumeFrom, 3);
  assert.deepEqual(body(fake.requests[1]), {
    op: "subscribe",
    since: null,
    entity: "web",
    channel: null,
    subscriber: null,
  });
});

Deno.test("Ham.subscribe() reports skipped events and carries on", async () => {
  const ev = { seq: 8, at: 0, type: "death", entity: "web" };
  await using fake = await startFakeHam(async (req, conn) => {
    await conn.push({ type: "skipped", sub: req.id, from: 2, to: 7 });
    await conn.push({ type: "event", sub: req.id, event: ev });
    await conn.reply(req.id, { sub: req.id, since: 2 });
  });
  await using ham = await connect({ stateDir: fake.stateDir });
  const skipped: number[][] = [];
  const events = await ham.subscribe({
    since: 2,
    onSkipped: (from, to) => skipped.push([from, to]),
  });
  assert.deepEqual((await events.next()).value, ev);
  assert.deepEqual(skipped, [[2, 7]]);
  assert.equal(events.endReason, null);
});

Deno.test("Ham.subscribe() ends when the HAM drops the subscription for lagging", async () => {
  const ev = { seq: 4, at: 0, type: "death", entity: "web" };
  await using fake = await startFakeHam(async (req, conn) => {
    await conn.reply(req.id, { sub: req.id, since: 4 });
    await conn.push({ type: "event", sub: req.id, event: ev });
    await conn.push({ type: "ended", sub: req.id, reason: "lagged", next: 9 });
  });
  await using ham = await connect({ stateDir: fake.stateDir });
  const events = await ham.subscribe();
  const seen = [];
  for await (const e of events) seen.push(e);
  assert.deepEqual(seen, [ev]);
  assert.equal(events.endReason, "lagged");
  assert.equal(events.resumeFrom, 9);
  assert.equal(ham.client.closed instanceof Promise, true);
});

Deno.test("Subscription.return() asks the HAM to end it, from the first event it dropped", async () => {
  const ev = (seq: number) => ({ seq, at: 0, type: "death", entity: "web" });
  const unsubscribed = Promise.withResolvers<FakeRequest>();
  await using fake = await startFakeHam(async (req, conn) => {
    if (req.op === "unsubscribe") {
      await conn.reply(req.id, { sub: req.sub, ended: true });
      return unsubscribed.resolve(req);
    }
    await conn.reply(req.id, { sub: req.id, since: 4 });
    for (const seq of [4, 5, 6]) await conn.push({ type: "event", sub: req.id, event: ev(seq) });
  });
  await using ham = await connect({ stateDir: fake.stateDir });
  const pushed = ham.client.pushes();
  const events = await ham.subscribe({ channel: "ops", subscriber: "pager" });
  for (let i = 0; i < 3; i++) await within(pushed.next(), "the pushes");
  assert.deepEqual((await events.next()).value, ev(4));
  await events.return();
  const req = await within(unsubscribed.promise, "the unsubscribe");
  const sub = fake.requests.find((r) => r.op === "subscribe")!.id;
  assert.deepEqual(body(req), { op: "unsubscribe", sub, next: 5 });
  assert.equal(events.resumeFrom, 5, "5 and 6 were dropped unread");
  await pushed.return?.();
});

Deno.test("Ham.subscribe() on a self-attached connection resumes after a lost connection", async () => {
  const ev = (seq: number) => ({ seq, at: 0, type: "death", entity: "web" });
  await using fake = await startFakeHam(async (req, conn) => {
    const conns = fake.requests.filter((r) => r.op === "hello").length;
    if (req.op !== "subscribe") return await conn.reply(req.id, answer(req));
    await conn.reply(req.id, { sub: req.id, since: req.since ?? 1 });
    if (conns === 1) {
      await conn.push({ type: "event", sub: req.id, event: ev(1) });
      await conn.push({ type: "event", sub: req.id, event: ev(2) });
      conn.close(); // The HAM dies; its Guardian takes over.
    } else {
      await conn.push({ type: "event", sub: req.id, event: ev(req.since as number) });
    }
  });
  await using ham = await connect({ stateDir: fake.stateDir });
  await ham.attachSelf("me");
  const events = await ham.subscribe();
  const seqs = [];
  for (let i = 0; i < 3; i++) seqs.push((await within(events.next(), "an event")).value.seq);
  assert.deepEqual(seqs, [1, 2, 3]);
  const subscribes = fake.requests.filter((r) => r.op === "subscribe").map((r) => r.since);
  assert.deepEqual(subscribes, [null, 3]);
});

Deno.test("Ham.stop() counts a connection closed before the answer as stopped", async () => {
  await using fake = await startFakeHam((_req, conn) => conn.close());
  await using ham = await connect({ stateDir: fake.stateDir });
  await ham.stop();
  assert.deepEqual(body(fake.requests[1]), { op: "stop" });
});

Deno.test("Ham.attachSelf() reconnects and re-attaches when the connection is lost", async () => {
  let attaches = 0;
  const reattached = Promise.withResolvers<void>();
  await using fake = await startFakeHam(async (req, conn) => {
    if (req.op === "attach-self" && ++attaches === 1) {
      await conn.reply(req.id, answer(req));
      conn.close(); // The HAM dies right after answering.
      return;
    }
    if (req.op === "attach-self") reattached.resolve();
    await conn.reply(req.id, answer(req));
  });
  await using ham = await connect({ stateDir: fake.stateDir });
  await ham.attachSelf("me");
  await within(reattached.promise, "the re-attach");
  // A request made after the loss goes out on the new connection.
  await within(ham.heartbeat(), "a heartbeat after the reconnection");
  const ops = fake.requests.map((r) => r.op);
  assert.deepEqual(ops, ["hello", "attach-self", "hello", "attach-self", "heartbeat"]);
  assert.deepEqual(body(fake.requests[3]), { ...body(fake.requests[1]), renew: true });
});

Deno.test("Ham.attachSelf() forgets an attachment whose renewal is refused with ENOENT, and stops reconnecting", async () => {
  let attaches = 0;
  const renewed = Promise.withResolvers<void>();
  await using fake = await startFakeHam(async (req, conn) => {
    if (req.op === "attach-self" && ++attaches === 1) {
      await conn.reply(req.id, answer(req));
      conn.close(); // The HAM dies; another client had detached "me" before.
      return;
    }
    if (req.op === "attach-self") {
      renewed.resolve();
      await conn.fail(req.id, "ENOENT", `Cannot renew the self-attachment of entity "me"`);
      return;
    }
    await conn.reply(req.id, answer(req));
    if (req.op === "ping") conn.close(); // And dies again.
  });
  await using ham = await connect({ stateDir: fake.stateDir });
  await ham.attachSelf("me");
  await within(renewed.promise, "the renewal");
  await within(ham.ping(), "a ping after the reconnection");
  // Nothing is self-attached any more: a lost connection ends the client.
  await within(ham.client.closed, "the client to end");
  assert.deepEqual(fake.requests.map((r) => r.op), [
    "hello",
    "attach-self",
    "hello",
    "attach-self",
    "ping",
  ]);
  assert.equal(fake.requests[3].renew, true);
});

Deno.test("Ham.attachSelf() does not reconnect after the HAM said it is stopping", async () => {
  await using fake = await startFakeHam(async (req, conn) => {
    await conn.reply(req.id, answer(req));
    if (req.op === "attach-self") {
      await conn.push({ type: "stopping" });
      conn.close();
    }
  });
  await using ham = await connect({ stateDir: fake.stateDir });
  await ham.attachSelf("me");
  await within(ham.client.closed, "the client to end");
  assert.deepEqual(fake.requests.map((r) => r.op), ["hello", "attach-self"]);
});

Deno.test("Ham.attachSelf() gives up reconnecting after reattachWithinMs", async () => {
  const fake = await startFakeHam(async (req, conn) => {
    await conn.reply(req.id, answer(req));
  });
  try {
    await using ham = await connect({ stateDir: fake.stateDir, reattachWithinMs: 200 });
    await ham.attachSelf("me");
    await fake.close(); // No HAM comes back.
    await within(ham.client.closed, "the client to give up");
    await assert.rejects(ham.heartbeat(), /could not reconnect/);
  } finally {
    await fake.close();
  }
});

Deno.test("Ham.attachSelf() reconnects while the wall clock is set forward (its deadline is monotonic)", async () => {
  // An hour later at each reading: a deadline counted by the wall clock was past at once.
  using _ = steppingWallClock(3_600_000);
  let attaches = 0;
  const reattached = Promise.withResolvers<void>();
  await using fake = await startFakeHam(async (req, conn) => {
    if (req.op === "attach-self" && ++attaches === 1) {
      await conn.reply(req.id, answer(req));
      conn.close();
      return;
    }
    if (req.op === "attach-self") reattached.resolve();
    await conn.reply(req.id, answer(req));
  });
  await using ham = await connect({ stateDir: fake.stateDir });
  await ham.attachSelf("me");
  await within(reattached.promise, "the re-attach");
  await within(ham.heartbeat(), "a heartbeat after the reconnection");
});

Deno.test("Ham.attachSelf() gives up reconnecting after reattachWithinMs while the wall clock is set back", async () => {
  // An hour earlier at each reading: a deadline counted by the wall clock was never reached.
  using _ = steppingWallClock(-3_600_000);
  const fake = await startFakeHam(async (req, conn) => {
    await conn.reply(req.id, answer(req));
  });
  try {
    await using ham = await connect({ stateDir: fake.stateDir, reattachWithinMs: 200 });
    await ham.attachSelf("me");
    await fake.close(); // No HAM comes back.
    await within(ham.client.closed, "the client to give up");
    await assert.rejects(ham.heartbeat(), /could not reconnect/);
  } finally {
    await fake.close();
  }
});

Deno.test("Ham.detachSelf() turns reconnection off once nothing is self-attached", async () => {
  await using fake = await startFakeHam(async (req, conn) => {
    await conn.reply(req.id, answer(req));
    if (req.op === "detach-self") conn.close();
  });
  await using ham = await connect({ stateDir: fake.stateDir });
  await ham.attachSelf("me");
  await ham.detachSelf("me");
  await within(ham.client.closed, "the client to end");
  assert.deepEqual(fake.requests.map((r) => r.op), ["hello", "attach-self", "detach-self"]);
});
