/**
 * A client that self-attaches, for the access-control tests:
 *
 * `attach_self_client.ts STATE_DIR ENTITY self|child|PID`
 *
 * claims its own pid (`self`), the pid of a child it starts (`child`), or any given pid,
 * in `attach-self`; prints `ok` or `CODE: message`, detaches what it attached, and exits.
 *
 * @module
 */

import { HamClient } from "../../lib/client/client.ts";
import { HamError } from "../../lib/core/errors.ts";

const [stateDir, entity, claim] = Deno.args;
let child: Deno.ChildProcess | null = null;
let pid: number;
if (claim === "self") pid = Deno.pid;
else if (claim === "child") {
  child = new Deno.Command("/bin/sleep", { args: ["30"], stdout: "null", stderr: "null" }).spawn();
  pid = child.pid;
} else pid = Number(claim);

const client = await HamClient.connect({ stateDir, client: "attach-self-test" });
try {
  await client.request("attach-self", { entity, pid });
  await client.request("detach-self", { entity });
  console.log("ok");
} catch (err) {
  console.log(err instanceof HamError ? `${err.code}: ${err.message}` : String(err));
} finally {
  await client.close();
  child?.kill("SIGKILL");
  await child?.status;
}
