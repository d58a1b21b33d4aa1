import assert from "node:assert/strict";
import { Guardian } from "../../guardian/guardian.ts";
import { memoryLogger } from "../../lib/os/logger.ts";
import type { RecordBody } from "../../lib/core/records.ts";
import { StateStore } from "../../lib/store/state_store.ts";
import { standInHam } from "../support/stand_in_ham.ts";
import { within } from "../support/within.ts";

function entity(i: number): RecordBody {
  return { t: "entity", entity: `e${i}`, flags: 0, at: i };
}

Deno.test("Guardian.start() keeps a live copy that follows the HAM's journal", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ham-guardian-" });
  try {
    const ham = await standInHam(dir);
    const store = await StateStore.open(dir);
    await store.commit([entity(0), entity(1)]);
    const g = await Guardian.start({ stateDir: dir, hamPid: null, log: memoryLogger() });
    assert.equal(g.tail.seq, 2);
    for (let i = 2; i < 20; i++) await store.commit([entity(i)]);
    await within(
      (async () => {
        while (g.tail.seq < 20) await new Promise((r) => setTimeout(r, 2));
      })(),
      "the live copy to reach seq 20",
    );
    assert.deepEqual(g.tail.state, store.state);
    await store.close();
    await ham.close();
    ham.release();
    const gone = await within(g.hamGone(), "the HAM to be gone");
    assert.equal(gone.stopRequested, false);
    gone.lock.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Guardian.hamGone() stops the live copy where it was", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ham-guardian-" });
  try {
    const ham = await standInHam(dir);
    const store = await StateStore.open(dir);
    const g = await Guardian.start({ stateDir: dir, hamPid: null, log: memoryLogger() });
    await ham.close();
    ham.release();
    const gone = await within(g.hamGone(), "the HAM to be gone");
    const seq = g.tail.seq;
    await store.commit([entity(0)]);
    assert.equal(g.tail.seq, seq, "it no longer follows");
    gone.lock.close();
    await store.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
