/**
 * A client that self-attaches, for the access-control tests:
 *
 * `attach_self_client.ts STATE_DIR ENTITY self|child|PID|slot|command`
 *
 * claims its own pid (`self`), the pid of a child it starts (`child`), or any given pid,
 * in `attach-self`; prints `ok` or `CODE: message`, detaches what it attached, and exits.
 * With `slot` it self-attaches with a heartbeat, asks for a heartbeat slot, maps it and
 * beats through it, and prints `slot BEAT uid=OWNER` (what the beat did, and the uid
 * owning the slot file) instead of `ok`. With `command` it self-attaches its own pid and
 * prints the command the HAM recorded for the entity (JSON), instead of `ok`. With `handle`
 * it attaches nothing: it takes the library's handle on the entity by name
 * (`entityHandle()`) and publishes state 3 through it, and prints the outcome of each
 * (`ok ok`, `ok EPERM`, ...).
 *
 * @module
 */

import { HamClient } from "../../lib/client/client.ts";
import { HamError } from "../../lib/core/errors.ts";

const [stateDir, entity, claim] = Deno.args;
let child: Deno.ChildProcess | null = null;
let pid: number;
if (claim === "self" || claim === "slot" || claim === "command" || claim === "handle") {
  pid = Deno.pid;
} else if (claim === "child") {
  child = new Deno.Command("/bin/sleep", { args: ["30"], stdout: "null", stderr: "null" }).spawn();
  pid = child.pid;
} else pid = Number(claim);

const client = await HamClient.connect({ stateDir, client: "attach-self-test" });
try {
  if (claim === "handle") {
    const { Ham } = await import("../../lib/client/ham.ts");
    const outcome = (p: Promise<unknown>) =>
      p.then(() => "ok", (err) => err instanceof HamError ? err.code : String(err));
    const found = await outcome(new Ham(client).entityHandle(entity));
    const { EntityHandle } = await import("../../lib/client/handles.ts");
    console.log(found, await outcome(new EntityHandle(client, entity).publishState(3)));
  } else if (claim === "slot") {
    await client.request("attach-self", {
      entity,
      pid,
      heartbeat: { periodMs: 100, low: 1, high: 0 },
    });
    const r = await client.request("heartbeat", { entity, slot: true });
    if (!r.slot) throw new Error("no slot was given");
    const { mapBeatSlot } = await import("../../lib/os/beat_slot_file.ts");
    const { beatSlot } = await import("../../lib/core/heartbeat_slot.ts");
    const mapped = mapBeatSlot(r.slot);
    const beat = beatSlot(mapped.view, Date.now());
    mapped.unmap();
    await client.request("detach-self", { entity });
    console.log(`slot ${beat} uid=${Deno.statSync(r.slot.path).uid}`);
  } else if (claim === "command") {
    await client.request("attach-self", { entity, pid });
    const view = await client.request("status", { path: entity }) as { command: unknown };
    await client.request("detach-self", { entity });
    console.log(JSON.stringify(view.command));
  } else {
    await client.request("attach-self", { entity, pid });
    await client.request("detach-self", { entity });
    console.log("ok");
  }
} catch (err) {
  console.log(err instanceof HamError ? `${err.code}: ${err.message}` : String(err));
} finally {
  await client.close();
  child?.kill("SIGKILL");
  await child?.status;
}
