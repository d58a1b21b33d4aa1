/** Restart ages for restart policies, unmoved by steps of the wall clock, on a fake clock. */

import * as assert from "node:assert/strict";
import { RestartClock } from "../../../lib/engine/restart_clock.ts";
import { FakeClock } from "../../support/fake_clock.ts";

Deno.test("RestartClock.ages() counts this HAM's restarts on the monotonic clock across steps", async () => {
  const clock = new FakeClock(1_000_000);
  const rc = new RestartClock(clock);
  const at = clock.now();
  rc.made("web", at);
  await clock.advance(2_000);
  assert.deepEqual(rc.ages("web", [at]), [2_000]);
  clock.jump(-3_600_000);
  assert.deepEqual(rc.ages("web", [at]), [2_000], "set back: not younger");
  clock.jump(7_200_000);
  assert.deepEqual(rc.ages("web", [at]), [2_000], "set forward: not older");
  await clock.advance(500);
  assert.deepEqual(rc.ages("web", [at]), [2_500]);
});

Deno.test("RestartClock.ages() ages a previous HAM's restarts by the wall clock up to its start, then the monotonic one", async () => {
  const clock = new FakeClock(1_000_000);
  const before = [clock.now() - 9_000, clock.now() - 1_000];
  const rc = new RestartClock(clock);
  await clock.advance(500);
  assert.deepEqual(rc.ages("web", before), [9_500, 1_500]);
  clock.jump(-3_600_000);
  await clock.advance(500);
  assert.deepEqual(rc.ages("web", before), [10_000, 2_000], "a step after the start moves none");
});

Deno.test("RestartClock.ages() takes a restart recorded after its start, by a clock set back before it, as made at the start", async () => {
  const clock = new FakeClock(1_000_000);
  const future = clock.now() + 3_600_000; // recorded before the clock was set back an hour
  const rc = new RestartClock(clock);
  await clock.advance(4_000);
  assert.deepEqual(rc.ages("web", [future]), [4_000]);
});

Deno.test("RestartClock.recent() gives the restarts as times of the wall clock as it reads now", async () => {
  const clock = new FakeClock(1_000_000);
  const rc = new RestartClock(clock);
  const at = clock.now();
  rc.made("web", at);
  await clock.advance(1_000);
  clock.jump(-60_000);
  assert.deepEqual(rc.recent("web", [at]), [clock.now() - 1_000]);
});

Deno.test("RestartClock forgets restarts no longer recorded, and a removed entity's", async () => {
  const clock = new FakeClock(1_000_000);
  const rc = new RestartClock(clock);
  await clock.advance(1_000);
  const first = clock.now();
  rc.made("web", first);
  await clock.advance(1_000);
  const second = clock.now();
  rc.made("web", second);
  assert.deepEqual(rc.ages("web", [first, second]), [1_000, 0]);
  // The first fell out of the record: what was kept of it is dropped, and were that time
  // recorded again it would be a time after the start this HAM did not make.
  assert.deepEqual(rc.ages("web", [second]), [0]);
  assert.deepEqual(rc.ages("web", [first, second]), [2_000, 0]);
  rc.made("db", second);
  rc.forget("db");
  assert.deepEqual(rc.ages("db", [second]), [2_000]);
});
