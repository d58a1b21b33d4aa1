/**
 * Library subscriptions against a real HAM: what stopping one (`return()`, `break`) does in
 * the HAM, and where a subscription starts and ends.
 */

import * as assert from "node:assert/strict";
import { connect, type Ham } from "../../lib/client/ham.ts";
import type { HamEvent, Push } from "../../lib/core/protocol.ts";
import { deadline, HamProcess } from "../support/ham_process.ts";

/** Resolves with the first push of `ham`'s connection that satisfies `pred`. */
async function pushWhere(ham: Ham, pred: (p: Push) => boolean, what: string): Promise<Push> {
  const pushes = ham.client.pushes();
  try {
    return await deadline(
      (async () => {
        for await (const p of pushes) if (pred(p)) return p;
        throw new Error(`the connection ended before ${what}`);
      })(),
      10_000,
      what,
    );
  } finally {
    await pushes.return?.();
  }
}

/** A notification on channel `pg`, with `code`, sent by `sender`. */
async function notify(sender: Ham, code: number): Promise<void> {
  await sender.client.request("notify", { channel: "pg", code, entity: "srv" });
}

Deno.test(
  "a named subscriber that stopped listening gets, on coming back, what was sent meanwhile",
  async () => {
    await using ham = await HamProcess.start({ guardian: false });
    await using sender = await connect({ stateDir: ham.stateDir, client: "sender" });
    // Its connection stays open: only the subscription ends.
    await using pager = await connect({ stateDir: ham.stateDir, client: "pager" });
    const first = await pager.subscribe({ channel: "pg", subscriber: "s1" });
    const second = pushWhere(pager, (p) => p.type === "event" && p.event.detail?.code === 2, "2");
    await notify(sender, 1);
    await notify(sender, 2);
    const one = (await deadline(first.next(), 10_000, "notification 1")).value as HamEvent;
    assert.equal(one.detail?.code, 1);
    // Notification 2 reached the client, and is dropped unread by return().
    await second;
    await first.return();
    assert.equal(first.endReason, "returned");
    await notify(sender, 3);
    await notify(sender, 4);

    await using back = await connect({ stateDir: ham.stateDir, client: "pager again" });
    const again = await back.subscribe({ channel: "pg", subscriber: "s1" });
    const codes = [];
    for (let i = 0; i < 3; i++) {
      codes.push((await deadline(again.next(), 10_000, `missed notification ${i}`)).value.detail);
    }
    assert.deepEqual(codes.map((d) => d?.code), [2, 3, 4]);
  },
);

Deno.test(
  "subscriptions stopped with return() get no more pushes: only the live one does",
  async () => {
    await using ham = await HamProcess.start({ guardian: false });
    await ham.ok("entity", "srv");
    await using lib = await connect({ stateDir: ham.stateDir, client: "watcher" });
    for (let i = 0; i < 50; i++) {
      const sub = await lib.subscribe({ entity: "srv" });
      await sub.return();
    }
    const live = await lib.subscribe({ entity: "srv" });
    const pushes = lib.client.pushes();
    await using raiser = await connect({ stateDir: ham.stateDir, client: "raiser" });
    await raiser.raise("srv", { rtype: 3 });
    await raiser.raise("srv", { rtype: 4 });
    const got: HamEvent[] = [];
    while (!got.some((e) => e.type === "raise" && e.detail?.rtype === 4)) {
      got.push((await deadline(live.next(), 10_000, "the second raise")).value);
    }
    // Every event push the connection got, up to the last event's first one (a stopped
    // subscription's would come before the live one's: it subscribed first).
    const subs = new Set<number>();
    let pushed = 0;
    for (let seq = 0; seq !== got.at(-1)!.seq;) {
      const p = (await deadline(pushes.next(), 10_000, "the pushes")).value as Push;
      if (p.type !== "event") continue;
      subs.add(p.sub);
      pushed++;
      seq = p.event.seq;
    }
    await pushes.return?.();
    assert.equal(subs.size, 1, `pushes for ${subs.size} subscriptions`);
    assert.equal(pushed, got.length, `${pushed} event pushes for ${got.length} events`);
  },
);

Deno.test("a subscription since a number past the next event starts there", async () => {
  await using ham = await HamProcess.start({ guardian: false });
  await ham.ok("entity", "srv");
  await using lib = await connect({ stateDir: ham.stateDir, client: "watcher" });
  const since = (await ham.seq()) + 5;
  const events = await lib.subscribe({ since });
  for (let i = 0; i < 10; i++) await lib.raise("srv", { rtype: i + 1 });
  const first = (await deadline(events.next(), 10_000, "the first event")).value;
  assert.equal(first.seq, since);
});

Deno.test(
  "a library subscriber that does not read ends lagged, and resumes from there without a gap",
  async () => {
    await using ham = await HamProcess.start({ guardian: false });
    await ham.ok("entity", "srv");
    await using lib = await connect({ stateDir: ham.stateDir, client: "watcher" });
    const since = await ham.seq();
    const pushes = lib.client.pushes();
    const events = await lib.subscribe({ since, entity: "srv", maxUnread: 100 });
    await using raiser = await connect({ stateDir: ham.stateDir, client: "raiser" });
    await Promise.all(Array.from({ length: 300 }, (_, i) => raiser.raise("srv", { rtype: i + 1 })));
    // The 101st event reached the client (pushes come in order): it held 100, unread.
    for (let n = 0; n < 101;) {
      const p = (await deadline(pushes.next(), 10_000, "the pushes")).value as Push;
      if (p.type === "event") n++;
    }
    await pushes.return?.();
    assert.equal(events.endReason, "lagged");
    const held: number[] = [];
    for await (const ev of events) held.push(ev.seq);
    assert.equal(held.length, 100, "what it held is still read");
    assert.equal(events.resumeFrom, held.at(-1)! + 1);

    const again = await lib.subscribe({ since: events.resumeFrom, entity: "srv" });
    const resumed: number[] = [];
    while (resumed.length < 200) {
      resumed.push((await deadline(again.next(), 10_000, "the resumed events")).value.seq);
    }
    const all = await lib.events({ since, entity: "srv", limit: 1000 });
    assert.deepEqual(
      [...held, ...resumed],
      all.events.map((e) => e.seq).slice(0, 300),
      "no gap, nothing twice",
    );
  },
);
