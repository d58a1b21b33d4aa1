/**
 * A worker for the death-notification example: a server that attaches ITSELF to the HAM
 * (`ham_attach_self`), as Qt Remote Objects' QNX backend does, and hangs a death condition
 * with a log action on its own entity. It prints `ready pid <pid>` once attached, then
 * serves until it is killed. Its connection to the HAM is its lifeline: when the process
 * dies the connection closes, and the HAM sees the death.
 *
 * Run: bin/deno run --allow-read --allow-write --allow-net --allow-env examples/workers/self_attached_server.ts STATE_DIR [NAME]
 *
 * @module
 */

import { connect } from "../../mod.ts";

const [stateDir, name = "server"] = Deno.args;
if (stateDir === undefined) {
  console.error("Usage: self_attached_server.ts STATE_DIR [NAME]");
  Deno.exit(2);
}
const ham = await connect({ stateDir, client: name });
const self = await ham.attachSelf(name);
const death = await self.condition("death", "death");
await death.log("note", `server "${name}" died; its clients have been told`);
console.log(`ready pid ${Deno.pid}`);
// Serve until killed. Should the HAM go away first, there is nobody left to tell.
await ham.client.closed;
