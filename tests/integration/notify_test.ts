/**
 * Notify actions to named channels: delivered live, kept for subscribers that were away
 * (every new subscriber gets the backlog; a named one resumes after its own cursor), named
 * by their real path, and failing (with their fail list and flags) when nobody can get
 * them.
 */

import * as assert from "node:assert/strict";
import { connect } from "../../lib/client/ham.ts";
import type { HamEvent } from "../../lib/core/protocol.ts";
import { deadline, HamProcess } from "../support/ham_process.ts";

Deno.test(
  "a notify action reaches its channel, also when the subscriber connects later",
  async () => {
    await using ham = await HamProcess.start();
    await ham.ok("attach", "srv", "--", "/bin/sleep", "1000");
    await ham.ok("condition", "srv/death", "death", "--rearm");
    await ham.ok("action", "srv/death/restart", "restart", "--rearm");
    await ham.ok(
      "action",
      "srv/death/tell",
      "notify",
      "--rearm",
      "--channel",
      "ops",
      "--code",
      "7",
      "--value",
      "42",
    );

    // Nobody listens on "ops" yet: the first death's notification is kept.
    let st = await ham.ok("status", "srv", "--json");
    let since = await ham.seq();
    Deno.kill(st.pid, "SIGKILL");
    await ham.waitEvent("srv", "restarted", since);

    await using lib = await connect({ stateDir: ham.stateDir });
    const events = await lib.subscribe({ channel: "ops" });
    const first = await deadline(events.next(), 10_000, "the kept notification");
    assert.equal(first.value.type, "notify");
    assert.equal(first.value.entity, "srv");
    assert.deepEqual(first.value.detail, { channel: "ops", code: 7, value: 42 });

    // And live.
    st = await ham.ok("status", "srv", "--json");
    since = await ham.seq();
    Deno.kill(st.pid, "SIGKILL");
    const second = await deadline(events.next(), 10_000, "the live notification");
    assert.equal(second.value.type, "notify");
    assert.ok(second.value.seq > first.value.seq);
    await ham.waitEvent("srv", "restarted", since);
  },
);

Deno.test("events keep their numbers and history across a Guardian takeover", async () => {
  await using ham = await HamProcess.start();
  await ham.ok("attach", "w", "--", "/bin/sleep", "1000");
  const before = await ham.ok("events", "--json");
  const list = Array.isArray(before) ? before : before.events;
  // The attach's own event (an audit event of the request may follow it).
  const last = list.findLast((e: { type: string }) => e.type === "attach").seq;
  const old = await ham.killHam("SIGKILL");
  await ham.waitTakeover(old);
  const after = await ham.ok("events", "--since", "1", "--json");
  const all = Array.isArray(after) ? after : after.events;
  assert.ok(all.some((e: { seq: number; type: string }) => e.seq === last && e.type === "attach"));
  const takeover = all.find((e: { type: string }) => e.type === "takeover");
  assert.ok(takeover, "the takeover is an event");
  assert.ok(takeover.seq > last, "numbering continues after the takeover");
});

/** A raise condition `ENTITY/COND` (type `type`) whose actions are the given ones. */
async function raiseCondition(ham: HamProcess, path: string, type: string): Promise<void> {
  await ham.ok("condition", path, "raise", "--type", type, "--rearm");
}

Deno.test(
  "every late subscriber of a channel gets its backlog, and a named one resumes after its cursor",
  async () => {
    await using ham = await HamProcess.start({ guardian: false });
    await ham.ok("entity", "srv");
    await raiseCondition(ham, "srv/alarm", "3");
    await ham.ok(
      "action",
      "srv/alarm/tell",
      "notify",
      "--rearm",
      "--channel",
      "ops",
      "--code",
      "7",
    );
    const since = await ham.seq();
    await ham.ok("raise", "srv", "--type", "3");
    await ham.nextEvent((e) => e.type === "notify", since, "the notification");

    // hamctl events --channel lists the channel's notifications, to anyone who asks.
    for (let i = 0; i < 2; i++) {
      const text = await ham.ok("events", "--channel", "ops");
      assert.match(
        text,
        /^\d+ \S+ notify srv srv\/alarm\/tell \{"channel":"ops","code":7,"value":0\}$/,
      );
    }
    // Two late subscribers, one after the other: each gets the backlog.
    for (const client of ["first", "second"]) {
      await using lib = await connect({ stateDir: ham.stateDir, client });
      const events = await lib.subscribe({ channel: "ops" });
      const got = await deadline(events.next(), 10_000, `the backlog for the ${client}`);
      assert.equal(got.value.type, "notify");
      assert.equal(got.value.detail?.code, 7);
    }
    // A named subscriber gets the backlog once, then only what it missed.
    let last: HamEvent;
    {
      await using pager = await connect({ stateDir: ham.stateDir, client: "pager" });
      const events = await pager.subscribe({ channel: "ops", subscriber: "pager" });
      last = (await deadline(events.next(), 10_000, "the backlog")).value;
    }
    const before = await ham.seq();
    await ham.ok("raise", "srv", "--type", "3");
    await ham.nextEvent((e) => e.type === "notify", before, "the second notification");
    await using pager = await connect({ stateDir: ham.stateDir, client: "pager" });
    const events = await pager.subscribe({ channel: "ops", subscriber: "pager" });
    const missed = (await deadline(events.next(), 10_000, "the missed notification")).value;
    assert.ok(missed.seq > last.seq, `only what it missed: ${missed.seq} after ${last.seq}`);
  },
);

Deno.test(
  "a notify fired by a global condition names its real path @global/COND/ACTION",
  async () => {
    await using ham = await HamProcess.start({ guardian: false });
    await ham.ok("entity", "srv");
    await raiseCondition(ham, "@global/alarm", "5");
    await ham.ok("action", "@global/alarm/tell", "notify", "--rearm", "--channel", "ops");
    const since = await ham.seq();
    await ham.ok("raise", "srv", "--type", "5");
    const ev = await ham.nextEvent((e) => e.type === "notify", since, "the notification");
    assert.equal(ev.entity, "srv");
    assert.equal(ev.condition, "@global/alarm");
    assert.equal(ev.action, "tell");
    const text = await ham.ok("events", "--channel", "ops");
    assert.match(text, / notify srv @global\/alarm\/tell /);
  },
);

Deno.test(
  "a notify nobody can get fails: its fail list runs, break-on-fail and keep-on-fail apply",
  async () => {
    // An `events` file where the log's directory goes: the HAM keeps events in memory only,
    // so a channel has no durable backlog.
    const stateDir = await Deno.makeTempDir({ prefix: "ham-test-" });
    Deno.writeTextFileSync(`${stateDir}/events`, "");
    await using ham = await HamProcess.start({ stateDir, guardian: false });
    await ham.ok("entity", "srv");
    await raiseCondition(ham, "srv/a", "1");
    await ham.ok(
      "action",
      "srv/a/tell",
      "notify",
      "--rearm",
      "--break-on-fail",
      "--channel",
      "ops",
    );
    await ham.ok("action-fail", "srv/a/tell", "said", "log", "--message", "nobody listens");
    await ham.ok("action", "srv/a/after", "log", "--rearm", "--message", "after");
    await raiseCondition(ham, "srv/b", "2");
    await ham.ok("action", "srv/b/tell", "notify", "--rearm", "--keep-on-fail", "--channel", "ops");
    await ham.ok("action", "srv/b/after", "log", "--rearm", "--message", "after");

    const since = await ham.seq();
    await ham.ok("raise", "srv", "--type", "1");
    await ham.nextEvent((e) => e.type === "action-fail", since, "the fail list");
    // Raised again: the failed notify was removed (no keep-on-fail), so "after" runs now.
    await ham.ok("raise", "srv", "--type", "1");
    await ham.nextEvent((e) => e.action === "after", since, "the action after");
    const a = (await ham.ok("events", "--since", String(since), "--json")).events as HamEvent[];
    const actions = a.filter((e) => e.condition === "srv/a" && e.type.startsWith("action"));
    assert.deepEqual(
      actions.map((e) => [e.type, e.action, e.detail?.ok]),
      [["action", "tell", false], ["action-fail", "tell/said", true], ["action", "after", true]],
      "break-on-fail stopped the first run before after",
    );
    assert.ok(!a.some((e) => e.type === "notify"), "a failed notify is not on the channel");
    const statusA = await ham.ok("status", "srv/a", "--json");
    assert.deepEqual(statusA.actions.map((x: { path: string }) => x.path.split("/").at(-1)), [
      "after",
    ]);

    // keep-on-fail: the failed notify stays, and the list goes on.
    const since2 = await ham.seq();
    await ham.ok("raise", "srv", "--type", "2");
    const after = await ham.nextEvent(
      (e) => e.condition === "srv/b" && e.action === "after",
      since2,
      "b's after",
    );
    assert.equal(after.detail?.ok, true);
    const statusB = await ham.ok("status", "srv/b", "--json");
    assert.deepEqual(statusB.actions.map((x: { path: string }) => x.path.split("/").at(-1)), [
      "tell",
      "after",
    ]);

    // With a subscriber connected, it is delivered: it succeeds.
    await using lib = await connect({ stateDir: ham.stateDir });
    const events = await lib.subscribe({ channel: "ops" });
    const since3 = await ham.seq();
    await ham.ok("raise", "srv", "--type", "2");
    const got = await deadline(events.next(), 10_000, "the live notification");
    assert.equal(got.value.type, "notify");
    const ok = await ham.nextEvent(
      (e) => e.type === "action" && e.condition === "srv/b" && e.action === "tell",
      since3,
      "tell",
    );
    assert.equal(ok.detail?.ok, true);
  },
);

Deno.test(
  "a channel's backlog survives a takeover right after the notification",
  async () => {
    await using ham = await HamProcess.start();
    await ham.ok("entity", "srv");
    await raiseCondition(ham, "srv/alarm", "3");
    await ham.ok("action", "srv/alarm/tell", "notify", "--rearm", "--channel", "ops");
    const since = await ham.seq();
    await ham.ok("raise", "srv", "--type", "3");
    const sent = await ham.nextEvent((e) => e.type === "notify", since, "the notification");
    const old = await ham.killHam("SIGKILL");
    await ham.waitTakeover(old);
    await using lib = await connect({ stateDir: ham.stateDir });
    const events = await lib.subscribe({ channel: "ops" });
    const got = await deadline(events.next(), 10_000, "the backlog after the takeover");
    assert.equal(got.value.seq, sent.seq);
  },
);
