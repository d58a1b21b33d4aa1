import assert from "node:assert/strict";
import { FdBudget } from "../../guardian/fd_budget.ts";
import { OutputMirror } from "../../guardian/output_mirror.ts";
import { createState, newEntity } from "../../lib/core/model.ts";
import { closePipes, EntityOutput, outputPipes } from "../../lib/os/entity_output.ts";
import { readLinkText } from "../../lib/os/proc_fs.ts";

/** What descriptor `fd` of this process refers to. */
function fdTarget(fd: number): string | null {
  return readLinkText(`/proc/self/fd/${fd}`);
}

/** Makes the FIFOs of `names` as the HAM does before spawning. */
function makeFifos(dir: string, ...names: string[]): void {
  const out = new EntityOutput({
    stateDir: dir,
    maxBytes: 1 << 20,
    keep: 1,
    maxLineBytes: 4096,
    fileName: (e) => e,
  });
  for (const name of names) out.ensure(name);
  out.close();
}

Deno.test("OutputMirror.sync() holds the FIFOs of spawned entities only, and closes those gone", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ham-mirror-" });
  try {
    makeFifos(dir, "web", "db");
    const state = createState();
    const web = newEntity("web", "attached", 0);
    web.argv = ["/bin/sleep", "1"];
    web.spawned = true;
    const db = newEntity("db", "attached", 0);
    db.argv = ["/bin/sleep", "1"]; // Attached by pid: its process never writes into them.
    const gone = newEntity("gone", "attached", 0);
    gone.argv = ["/bin/sleep", "1"];
    gone.spawned = true; // No FIFOs on disk: nothing to hold.
    for (const e of [web, db, gone]) state.entities.set(e.name, e);
    const mirror = new OutputMirror(dir);
    mirror.sync(state, null);
    assert.equal(mirror.size, 1);
    const [held] = mirror.take();
    const pipes = outputPipes(dir, "web");
    assert.deepEqual(
      [held.entity, fdTarget(held.stdout), fdTarget(held.stderr)],
      ["web", pipes.stdout, pipes.stderr],
    );
    closePipes(held);

    mirror.sync(state, null);
    assert.equal(mirror.size, 1);
    state.entities.delete("web");
    mirror.sync(state, null);
    assert.equal(mirror.size, 0);
    assert.deepEqual(mirror.take(), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("OutputMirror.sync() opens the new FIFOs of an entity removed and attached again", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ham-mirror-" });
  try {
    makeFifos(dir, "web");
    const state = createState();
    const web = newEntity("web", "attached", 0);
    web.argv = ["/bin/sleep", "1"];
    web.spawned = true;
    state.entities.set("web", web);
    const mirror = new OutputMirror(dir);
    mirror.sync(state, null);
    // The HAM removed the entity (and its FIFOs) and attached it again (new FIFOs) between
    // two syncs: the entity is merely touched.
    const pipes = outputPipes(dir, "web");
    Deno.removeSync(pipes.stdout);
    Deno.removeSync(pipes.stderr);
    makeFifos(dir, "web");
    mirror.sync(state, ["web"]);
    const [held] = mirror.take();
    assert.equal(held.entity, "web");
    assert.deepEqual([fdTarget(held.stdout), fdTarget(held.stderr)], [
      pipes.stdout,
      pipes.stderr,
    ]);
    assert.equal(mirror.size, 0);
    closePipes(held);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("OutputMirror.sync() holds no more FIFOs than its budget allows", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ham-mirror-" });
  try {
    makeFifos(dir, "web", "db");
    const state = createState();
    for (const name of ["web", "db"]) {
      const e = newEntity(name, "attached", 0);
      e.argv = ["/bin/sleep", "1"];
      e.spawned = true;
      state.entities.set(name, e);
    }
    const budget = new FdBudget(3);
    const mirror = new OutputMirror(dir, budget);
    mirror.sync(state, null);
    assert.equal(mirror.size, 1);
    assert.equal(budget.used, 2);
    for (const held of mirror.take()) closePipes(held);
    assert.equal(budget.used, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
