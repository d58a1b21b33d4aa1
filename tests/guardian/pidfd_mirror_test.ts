import assert from "node:assert/strict";
import { FdBudget } from "../../guardian/fd_budget.ts";
import { PidfdMirror } from "../../guardian/pidfd_mirror.ts";
import { createState, newEntity } from "../../lib/core/model.ts";
import { libc } from "../../lib/os/libc.ts";
import { processStartTime } from "../../lib/os/proc.ts";
import { readDirNames, readFileBytes } from "../../lib/os/proc_fs.ts";

/**
 * This process's pidfds on `pid` (their `fdinfo` names the pid): other tests running in this
 * process at the same time open and close descriptors of their own, never pidfds on it.
 */
function pidfdsOn(pid: number): Set<string> {
  const out = new Set<string>();
  for (const fd of readDirNames(`/proc/${Deno.pid}/fdinfo`) ?? []) {
    const info = readFileBytes(`/proc/${Deno.pid}/fdinfo/${fd}`); // Null: closed meanwhile.
    if (info && new RegExp(`^Pid:\\s+${pid}$`, "m").test(new TextDecoder().decode(info))) {
      out.add(fd);
    }
  }
  return out;
}

/** The pidfds on `pid` opened since `before`. */
function newPidfds(pid: number, before: Set<string>): string[] {
  return [...pidfdsOn(pid)].filter((fd) => !before.has(fd));
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
  const beforeA = pidfdsOn(a.pid);
  const beforeB = pidfdsOn(b.pid);
  mirror.sync(state, null);
  assert.equal(mirror.size, 1);
  assert.equal(newPidfds(a.pid, beforeA).length, 1);
  assert.equal(newPidfds(b.pid, beforeB).length, 0);

  // Only the named entities are looked at; a stopped entity's pidfd is closed.
  web.pid = null;
  mirror.sync(state, ["db"]);
  assert.equal(mirror.size, 1);
  mirror.sync(state, ["web"]);
  assert.equal(mirror.size, 0);
  assert.deepEqual(newPidfds(a.pid, beforeA), []);

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
  const before = pidfdsOn(a.pid);
  mirror.sync(state, null);
  assert.equal(mirror.size, 1);
  assert.equal(newPidfds(a.pid, before).length, 1);
  state.entities.delete("web");
  mirror.sync(state, null);
  assert.equal(mirror.size, 0);
  assert.deepEqual(newPidfds(a.pid, before), []);
  a.kill();
});

Deno.test("PidfdMirror.sync() shares one pidfd among the entities of one process, within its budget", async () => {
  await using a = new Deno.Command("/bin/sleep", { args: ["30"] }).spawn();
  await using b = new Deno.Command("/bin/sleep", { args: ["30"] }).spawn();
  const state = createState();
  for (const [name, pid] of [["a1", a.pid], ["a2", a.pid], ["b1", b.pid]] as const) {
    const e = newEntity(name, "attached", 0);
    e.pid = pid;
    e.startTime = processStartTime(pid);
    state.entities.set(name, e);
  }
  const budget = new FdBudget(1);
  const mirror = new PidfdMirror(budget);
  mirror.sync(state, null);
  // a's pidfd serves a1 and a2; b's would pass the budget: b is watched at a takeover.
  assert.equal(mirror.size, 1);
  assert.equal(budget.used, 1);
  state.entities.delete("a1");
  mirror.sync(state, null);
  assert.equal(mirror.size, 1, "a2 still uses the pidfd");
  // Once a's pidfd is closed, b's fits.
  state.entities.delete("a2");
  mirror.sync(state, null);
  assert.equal(budget.used, 1);
  const taken = mirror.take();
  assert.deepEqual(taken.map((p) => p.pid), [b.pid]);
  assert.equal(budget.used, 0);
  libc().close(taken[0].fd);
  a.kill();
  b.kill();
});
