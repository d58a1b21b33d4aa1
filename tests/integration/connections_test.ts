/**
 * Many clients at once: the default limits serve 1,000 concurrent clients, and stay
 * responsive while hundreds of connections never send their hello (a slowloris) and one
 * client floods requests without reading the answers.
 */

import { equal, ok } from "node:assert/strict";
import { HamClient } from "../../lib/client/client.ts";
import { PROTOCOL_VERSION } from "../../lib/core/protocol.ts";
import { deadline, HamProcess } from "../support/ham_process.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test("ham serves 1,000 concurrent clients beside a slowloris and a flood", opts, async () => {
  await using ham = await HamProcess.start({ guardian: false });
  const silent: Deno.Conn[] = [];
  for (let i = 0; i < 300; i++) {
    silent.push(await Deno.connect({ transport: "unix", path: ham.socket }));
  }
  const flooder = await Deno.connect({ transport: "unix", path: ham.socket });
  const enc = new TextEncoder();
  await flooder.write(enc.encode(
    JSON.stringify({ id: 0, op: "hello", version: PROTOCOL_VERSION, client: "flood" }) + "\n",
  ));
  const status = enc.encode(JSON.stringify({ id: 1, op: "status", path: null }) + "\n");
  const flooding = (async () => {
    for (;;) await flooder.write(status);
  })().catch(() => {});

  const clients: HamClient[] = [];
  try {
    for (let batch = 0; batch < 10; batch++) {
      clients.push(
        ...await Promise.all(
          Array.from({ length: 100 }, () => HamClient.connect({ stateDir: ham.stateDir })),
        ),
      );
    }
    equal(clients.length, 1000);
    const pongs = await deadline(
      Promise.all(clients.map((c) => c.request("ping"))),
      30_000,
      "1,000 pings",
    );
    ok(pongs.every((p) => p.pong));
    const r = await ham.ctl("status", "--json");
    equal(r.code, 0, r.stderr);
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    for (const c of silent) c.close();
    flooder.close();
    await flooding;
  }
});
