/**
 * A worker for the demo's missed-heartbeat scene: it attaches ITSELF to the HAM as NAME
 * with a heartbeat (period 100 ms, missed-low 3, missed-high 6) and beats every 25 ms.
 * SIGUSR2 makes it hiccup: no beat for PAUSE_MS (default 450), then it beats again.
 * SIGHUP makes it hang: it stays alive, but never beats again. It exits when its
 * connection to the HAM ends. (Not SIGUSR1: that one opens Deno's inspector.)
 *
 * Run: bin/deno run --allow-read --allow-write --allow-net --allow-env examples/workers/beater.ts STATE_DIR [NAME] [PAUSE_MS]
 *
 * @module
 */

import { connect } from "../../mod.ts";

const [stateDir, name = "beater", pauseText = "450"] = Deno.args;
if (stateDir === undefined) {
  console.error("Usage: beater.ts STATE_DIR [NAME] [PAUSE_MS]");
  Deno.exit(2);
}
/** No beat before this instant (ms since the epoch); Infinity once hung. */
let quietUntil = 0;
// Listening before attaching: a signal sent once the HAM shows the entity finds a listener.
Deno.addSignalListener("SIGUSR2", () => void (quietUntil = Date.now() + Number(pauseText)));
Deno.addSignalListener("SIGHUP", () => void (quietUntil = Infinity));

const ham = await connect({ stateDir, client: name });
ham.client.closed.then(() => Deno.exit(0));
await ham.attachSelf(name, { heartbeat: { periodMs: 100, low: 3, high: 6 } });

setInterval(() => {
  if (Date.now() >= quietUntil) ham.heartbeat().catch(() => {});
}, 25);
