/**
 * Subscriptions across a takeover and a stop, with real `ham`, Guardian and `hamctl`
 * processes: `hamctl events --follow` reconnects and resumes from its sequence number
 * after a takeover, and exits 0 after printing the HAM's last event on `stop`; a library
 * subscriber on a self-attached connection keeps receiving events after a takeover.
 */

import * as assert from "node:assert/strict";
import { connect } from "../../lib/client/ham.ts";
import type { HamEvent } from "../../lib/core/protocol.ts";
import { BIN, deadline, HamProcess } from "../support/ham_process.ts";
import { LineReader } from "../support/line_reader.ts";

function followProcess(stateDir: string, ...args: string[]): Deno.ChildProcess {
  return new Deno.Command(`${BIN}/hamctl`, {
    args: ["--state-dir", stateDir, "events", "--follow", ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

Deno.test(
  "hamctl events --follow resumes after a takeover and exits 0 with the stop event on stop",
  async () => {
    await using ham = await HamProcess.start();
    await ham.ok("entity", "p");
    const since = await ham.seq();
    const follow = followProcess(ham.stateDir, "--json", "--since", String(since));
    const out = new LineReader(follow.stdout);
    const err = new LineReader(follow.stderr);
    try {
      await ham.ok("state", "p", "1");
      const first = JSON.parse(await out.until((l) => l.includes('"state"'), "the first state"));
      assert.equal(first.seq, since);

      const old = await ham.killHam("SIGKILL");
      await ham.waitTakeover(old);
      await ham.ok("state", "p", "2");
      await out.until(
        (l) => JSON.parse(l).detail?.to === 2,
        "the state after the takeover",
        20_000,
      );

      await ham.ok("stop");
      const rest = await out.rest(20_000);
      const status = await deadline(follow.status, 10_000, "hamctl events --follow to exit");
      assert.equal(status.code, 0, `stderr: ${(await err.rest()).join("\n")}`);
      const events = [...out.seen.map((l) => JSON.parse(l) as HamEvent)];
      const seqs = events.map((e) => e.seq);
      assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b), "in order");
      assert.equal(new Set(seqs).size, seqs.length, "no duplicate");
      for (let i = 1; i < seqs.length; i++) assert.equal(seqs[i], seqs[i - 1] + 1, "no gap");
      assert.ok(events.some((e) => e.type === "takeover"), "the takeover is in the stream");
      assert.equal(events.at(-1)!.type, "stop", `the last line is the stop: ${rest}`);
    } finally {
      try {
        follow.kill("SIGKILL");
      } catch { /* exited */ }
      await out.cancel();
      await err.cancel();
      await follow.status;
    }
  },
);

Deno.test(
  "hamctl events --follow prints the stop event as its last line and exits 0",
  async () => {
    await using ham = await HamProcess.start({ guardian: false });
    const follow = followProcess(ham.stateDir, "--since", String(await ham.seq()));
    const out = new LineReader(follow.stdout);
    try {
      await ham.ok("entity", "p");
      await ham.ok("state", "p", "1");
      await out.until((l) => / state p /.test(l), "the state event");
      await ham.ok("stop");
      const lines = await out.rest(20_000);
      const status = await deadline(follow.status, 10_000, "hamctl events --follow to exit");
      assert.equal(status.code, 0);
      assert.match(lines.at(-1) ?? "", /^\d+ \S+ stop /, `lines: ${lines}`);
    } finally {
      try {
        follow.kill("SIGKILL");
      } catch { /* exited */ }
      await out.cancel();
      await follow.stderr.cancel().catch(() => {});
      await follow.status;
    }
  },
);

Deno.test(
  "Ham.subscribe() on a self-attached connection keeps receiving events after a takeover",
  async () => {
    await using ham = await HamProcess.start();
    await ham.ok("entity", "p");
    await using lib = await connect({ stateDir: ham.stateDir, client: "test" });
    await lib.attachSelf("me");
    const events = await lib.subscribe({ entity: "p" });
    await ham.ok("state", "p", "1");
    const before = await deadline(events.next(), 10_000, "the event before the takeover");
    assert.equal(before.value.detail?.to, 1);

    const old = await ham.killHam("SIGKILL");
    await ham.waitTakeover(old);
    await ham.ok("state", "p", "2");
    const after = await deadline(events.next(), 20_000, "the event after the takeover");
    assert.equal(after.done, false);
    assert.equal(after.value.detail?.to, 2);
    assert.equal(after.value.seq > before.value.seq, true);
    await lib.detachSelf("me");
  },
);
