/**
 * The spawner: entity processes lead a session and process group of their own, and a
 * spawn marker counts only with the HAM's own state directory.
 */

import * as assert from "node:assert/strict";
import { carriesMarker, spawnEntity } from "../../../lib/os/spawner.ts";
import { processStat } from "../../../lib/os/proc.ts";

Deno.test("spawnEntity() starts the process as the leader of its own session and group", async () => {
  const p = spawnEntity(["/bin/sleep", "1000"], {
    entity: "e",
    spawnId: "s",
    cwd: null,
    env: null,
  });
  try {
    const st = processStat(p.pid);
    assert.deepEqual([st?.pgid, st?.sid], [p.pid, p.pid]);
    assert.notEqual(processStat(Deno.pid)?.pgid, p.pid);
  } finally {
    Deno.kill(p.pid, "SIGKILL");
    await p.status;
  }
});

Deno.test("carriesMarker() is false when the marker comes with another HAM's state directory", () => {
  const env = new Map([["HAM_SPAWN_ID", "web#1/web/death:0"], ["HAM_STATE_DIR", "/run/a"]]);
  assert.equal(carriesMarker(env, "web#1/web/death:0", "/run/a"), true);
  assert.equal(carriesMarker(env, "web#1/web/death:0", "/run/b"), false);
  assert.equal(carriesMarker(env, "web#2/web/death:0", "/run/a"), false);
  assert.equal(carriesMarker(env, "web#1/web/death:0", null), true);
  assert.equal(carriesMarker(null, "x", null), false);
});
