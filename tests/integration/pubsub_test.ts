/**
 * Heartbeats, published state, raised conditions and the event stream, end to end with
 * real `ham` and `hamctl` processes.
 */

import * as assert from "node:assert/strict";
import { alive, HamProcess } from "../support/ham_process.ts";

Deno.test(
  "the heartbeat, state, raise and events forms work exactly as written",
  async () => {
    await using ham = await HamProcess.start();
    const marker = `${ham.stateDir}/x`;
    const worker = new Deno.Command("/bin/sleep", {
      args: ["1000"],
      env: { HAM_STATE_DIR: ham.stateDir },
    }).spawn();
    const PID = String(worker.pid);
    try {
      // Watch first: everything below races the HAM's heartbeat timer, so the events are
      // read from before the first request, and the conditions exist (on a placeholder)
      // before the heartbeat starts counting.
      const since = await ham.seq();
      await ham.ok("entity", "hb");
      await ham.ok("condition", "hb/high", "hb-missed-high");
      await ham.ok("action", "hb/high/mark", "execute", "--", "/usr/bin/touch", marker);
      await ham.ok("condition", "hb/up", "state", "--from", "any", "--to", "2");
      await ham.ok("action", "hb/up/note", "log", "--message", "hb is up");
      await ham.ok(
        "condition",
        "hb/alarm",
        "raise",
        "--type",
        "3",
        "--class",
        "any",
        "--severity",
        "any",
      );
      await ham.ok("action", "hb/alarm/note", "log", "--message", "alarm");
      await ham.ok(
        "attach",
        "hb",
        "--pid",
        PID,
        "--heartbeat",
        "200ms",
        "--low",
        "2",
        "--high",
        "4",
      );
      await ham.ok("heartbeat", "hb");
      await ham.ok("state", "hb", "2");
      await ham.ok("raise", "hb", "--type", "3", "--class", "1", "--severity", "5");
      await ham.waitEvent("hb", "state", since);
      await ham.waitEvent("hb", "raise", since);

      // No more beats: missed-high fires after 4 periods (~800 ms) and runs the execute.
      await ham.waitEvent("hb", "hb-missed-high", since);
      const mark = await ham.nextEvent(
        (ev) => ev.type === "action" && ev.entity === "hb" && ev.action === "mark",
        since,
        "the missed-high execute to run",
      );
      assert.deepEqual(mark.detail, { kind: "execute", ok: true });
      Deno.statSync(marker);
      const st = await ham.ok("status", "hb", "--json");
      assert.equal(st.heartbeat.periodMs, 200);
      assert.equal(st.heartbeat.low, 2);
      assert.equal(st.heartbeat.high, 4);
      assert.equal(st.heartbeat.health, "missed-high");
      assert.ok(st.heartbeat.missed >= 4);
      assert.equal(st.state, 2);
      assert.ok(alive(worker.pid), "missing heartbeats alone do not kill");

      const events = await ham.ok("events", "--json");
      const list = Array.isArray(events) ? events : events.events;
      const types = list.map((e: { type: string }) => e.type);
      for (const t of ["attach", "state", "raise", "condition", "action", "heartbeat"]) {
        assert.ok(types.includes(t), `events include ${t}: ${types.join(",")}`);
      }
      const seqs = list.map((e: { seq: number }) => e.seq);
      assert.deepEqual(seqs, [...seqs].sort((a: number, b: number) => a - b));
    } finally {
      worker.kill("SIGKILL");
      await worker.status;
    }
  },
);

Deno.test("a storm of crashes is held to the restart policy's intensity", async () => {
  await using ham = await HamProcess.start();
  await ham.ok("attach", "crashy", "--keep-on-death", "--", "/bin/sleep", "1000");
  await ham.ok("condition", "crashy/death", "death", "--rearm");
  await ham.ok(
    "action",
    "crashy/death/restart",
    "restart",
    "--rearm",
    "--keep-on-fail",
    "--intensity",
    "3",
    "--window",
    "60s",
  );
  await ham.ok("condition", "crashy/limit", "restart-limit", "--rearm");
  await ham.ok("action", "crashy/limit/note", "log", "--message", "too many restarts");
  for (let i = 0; i < 4; i++) {
    const st = await ham.ok("status", "crashy", "--json");
    const since = await ham.seq();
    Deno.kill(st.pid, "SIGKILL");
    await ham.waitEvent("crashy", i < 3 ? "restarted" : "restart-limit", since);
  }
  const st = await ham.ok("status", "crashy", "--json");
  assert.equal(st.restarts, 3);
  assert.equal(st.pid, null);
  assert.match(st.restartBlocked, /3 restarts within 60000 ms \(limit 3\)/);
  assert.match(ham.log(), /too many restarts/);
});
