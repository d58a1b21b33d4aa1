/**
 * EntityPids: the entities' pids of a state, indexed and kept by the names records touched.
 */

import * as assert from "node:assert/strict";
import { EntityPids } from "../../../lib/core/entity_pids.ts";
import { createState, type HamState, newEntity } from "../../../lib/core/model.ts";

function withPid(state: HamState, name: string, pid: number | null): void {
  const e = state.entities.get(name) ?? newEntity(name, "attached", 0);
  state.entities.set(name, { ...e, pid });
}

Deno.test("EntityPids indexes a state when first asked, then follows the names touched", () => {
  const state = createState();
  withPid(state, "a", 10);
  withPid(state, "b", 20);
  withPid(state, "idle", null);
  const pids = new EntityPids(() => state);
  assert.ok(pids.has(10) && pids.has(20) && !pids.has(30));
  // A restart (a new pid), a death (none), a new entity, a removal.
  withPid(state, "a", 11);
  withPid(state, "b", null);
  withPid(state, "c", 30);
  state.entities.delete("idle");
  pids.touch(["a", "b", "c", "idle"]);
  assert.deepEqual([10, 11, 20, 30].map((p) => pids.has(p)), [false, true, false, true]);
  state.entities.delete("c");
  pids.touch(["c"]);
  assert.ok(!pids.has(30));
});

Deno.test("EntityPids keeps a pid two entities share until neither has it", () => {
  const state = createState();
  withPid(state, "a", 10);
  withPid(state, "b", 10);
  const pids = new EntityPids(() => state);
  assert.ok(pids.has(10));
  withPid(state, "a", null);
  pids.touch(["a"]);
  assert.ok(pids.has(10));
  withPid(state, "b", null);
  pids.touch(["b"]);
  assert.ok(!pids.has(10));
});

Deno.test("EntityPids indexes anew after a reset, and after more names than entities were touched", () => {
  const state = createState();
  withPid(state, "a", 10);
  const pids = new EntityPids(() => state);
  assert.ok(pids.has(10));
  // A rollback changed the state without touches: reset.
  withPid(state, "a", 12);
  pids.reset();
  assert.ok(!pids.has(10) && pids.has(12));
  // A churn of names never asked about stays bounded, and the answers stay right.
  for (let i = 0; i < 5000; i++) {
    withPid(state, `n${i}`, 1000 + i);
    pids.touch([`n${i}`]);
    state.entities.delete(`n${i}`);
    pids.touch([`n${i}`]);
  }
  withPid(state, "z", 99);
  pids.touch(["z"]);
  assert.ok(pids.has(12) && pids.has(99) && !pids.has(1000) && !pids.has(5999));
});
