/** Notify actions to named channels: delivered live, and kept for a subscriber that was away. */

import * as assert from "node:assert/strict";
import { connect } from "../../lib/client/ham.ts";
import { deadline, HamProcess } from "../support/ham_process.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test(
  "a notify action reaches its channel, also when the subscriber connects later",
  opts,
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

Deno.test("events keep their numbers and history across a Guardian takeover", opts, async () => {
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
