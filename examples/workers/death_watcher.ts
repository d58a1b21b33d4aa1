/**
 * A worker for the death-notification example: a client of a server that wants to be
 * told when the server dies. It subscribes to the HAM's events about the server's entity,
 * prints `subscribed`, and when the death comes prints
 * `<CLIENT>: notified: "<ENTITY>" (pid <pid>) died` and exits 0. It exits 1
 * when the event stream ends without a death.
 *
 * Run: bin/deno run --allow-read --allow-write --allow-net --allow-env examples/workers/death_watcher.ts STATE_DIR ENTITY CLIENT
 *
 * @module
 */

import { connect } from "../../mod.ts";

const [stateDir, entity, client] = Deno.args;
if (client === undefined) {
  console.error("Usage: death_watcher.ts STATE_DIR ENTITY CLIENT");
  Deno.exit(2);
}
await using ham = await connect({ stateDir, client });
const events = await ham.subscribe({ entity });
console.log("subscribed");
for await (const ev of events) {
  if (ev.type !== "death") continue;
  const d = ev.detail ?? {};
  // Only the HAM's own children leave an exit status; a self-attached server just vanishes.
  const how = d.signal ? ` (${d.signal})` : typeof d.code === "number" ? ` (code ${d.code})` : "";
  console.log(`${client}: notified: "${entity}" (pid ${d.pid}) died${how}`);
  Deno.exit(0);
}
console.log(`${client}: the HAM went away before "${entity}" died`);
Deno.exit(1);
