import { equal, ok } from "node:assert/strict";
import { HamClient } from "../../../lib/client/client.ts";
import { createState } from "../../../lib/core/model.ts";
import { EventHub } from "../../../lib/daemon/event_hub.ts";
import { ControlServer } from "../../../lib/daemon/server.ts";
import { waitFor } from "../../../lib/daemon/waits.ts";
import { deadline } from "../../support/ham_process.ts";

Deno.test("waitFor() releases every wait of a connection at once when it closes", async () => {
  const dir = await Deno.makeTempDir();
  const hub = new EventHub();
  const store = { state: createState() };
  const srv = await ControlServer.listen(
    `${dir}/ham.sock`,
    (req, conn) => {
      if (req.op !== "wait") return Promise.resolve({ pong: true as const });
      return waitFor(store, hub, req, conn.signal);
    },
    () => ({ hamPid: Deno.pid, guardianPid: null }),
  );
  try {
    const c = await HamClient.connect({ stateDir: dir, client: "t", timeoutMs: 0 });
    const waits = Array.from({ length: 1000 }, () =>
      c.request("wait", {
        entity: "never",
        for: "running",
        since: null,
        pid: null,
        timeoutMs: 3_600_000,
      }).catch(() => "ended"));
    await deadline(
      (async () => {
        while (hub.listenerCount < 1000) await new Promise((r) => setTimeout(r, 5));
      })(),
      10_000,
      "1,000 waits to register",
    );
    await c.close();
    await Promise.all(waits);
    await deadline(
      (async () => {
        while (hub.listenerCount > 0) await new Promise((r) => setTimeout(r, 5));
      })(),
      5_000,
      "the waits to be released (their timeout is an hour)",
    );
    equal(hub.listenerCount, 0);
    // A later event costs nothing for them.
    const t0 = performance.now();
    for (let i = 0; i < 1000; i++) hub.publish({ type: "log", entity: "x" });
    ok(performance.now() - t0 < 1000);
  } finally {
    await srv.close();
    hub.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("waitFor() times out naming what it waited for in words", async () => {
  const hub = new EventHub();
  const store = { state: createState() };
  try {
    for (
      const [what, words] of [
        ["death", "to have a death condition fire"],
        ["running", "to be running"],
      ] as const
    ) {
      const req = {
        id: 1,
        op: "wait" as const,
        entity: "web",
        for: what,
        since: null,
        pid: null,
        timeoutMs: 1,
      };
      const err = await waitFor(store, hub, req).then(() => null, (e) => e);
      equal(err?.code, "ETIMEDOUT");
      equal(err?.message, `Timed out after 1 ms waiting for entity "web" ${words}`);
    }
  } finally {
    hub.close();
  }
});
