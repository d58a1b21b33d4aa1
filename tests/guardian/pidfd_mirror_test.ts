import assert from "node:assert/strict";
import { PidfdMirror } from "../../guardian/pidfd_mirror.ts";
import { createState, newEntity } from "../../lib/core/model.ts";
import { libc } from "../../lib/os/libc.ts";
import { processStartTime } from "../../lib/os/proc.ts";
import { readDirNames } from "../../lib/os/proc_fs.ts";

function openFds(): Set<string> {
  return new Set(readDirNames(`/proc/${Deno.pid}/fd`) ?? []);
}

Deno.test("PidfdMirror.sync() keeps one pidfd per entity whose process has its start time", async () => {
  await using a = new Deno.Command("/bin/sleep", { args: ["30"] }).spawn();
  await using b = new Deno.Command("/bin/sleep", { args: ["30"] }).spawn();
  const state = createState();
  const web = newEntity("web", "attached", 0);
  web.pid = a.pid;
  web.startTime = processStartTime(a.pid);
  const db = newEntity("db", "attached", 0);
  db.pid = b.pid;
  db.startTime = "1"; // Not b's: a recycled pid must not be taken for the entity.
  state.entities.set("web", web);
  state.entities.set("db", db);
  const mirror = new PidfdMirror();
  const before = openFds();
  mirror.sync(state, null);
  assert.equal(mirror.size, 1);
  assert.equal([...openFds()].filter((fd) => !before.has(fd)).length, 1);

  // Only the named entities are looked at; a stopped entity's pidfd is closed.
  web.pid = null;
  mirror.sync(state, ["db"]);
  assert.equal(mirror.size, 1);
  mirror.sync(state, ["web"]);
  assert.equal(mirror.size, 0);
  assert.deepEqual(openFds(), before);

  web.pid = a.pid;
  mirror.sync(state, ["web"]);
  const taken = mirror.take();
  assert.deepEqual(taken.map((p) => [p.pid, p.startTime]), [[a.pid, web.startTime]]);
  assert.equal(mirror.size, 0);
  libc().close(taken[0].fd);
  a.kill();
  b.kill();
});

Deno.test("PidfdMirror.sync() with every entity closes the pidfds of entities gone from the state", async () => {
  await using a = new Deno.Command("/bin/sleep", { args: ["30"] }).spawn();
  const state = createState();
  const web = newEntity("web", "attached", 0);
  web.pid = a.pid;
  web.startTime = processStartTime(a.pid);
  state.entities.set("web", web);
  const mirror = new PidfdMirror();
  const before = openFds();
  mirror.sync(state, null);
  assert.equal(mirror.size, 1);
  state.entities.delete("web");
  mirror.sync(state, null);
  assert.equal(mirror.size, 0);
  assert.deepEqual(openFds(), before);
  a.kill();
});
