/**
 * The lanes: an idle FIFO lane starts a task in the caller's turn; a busy one queues it
 * behind the task before it, even one scheduled while that task runs its first, synchronous
 * part.
 */

import assert from "node:assert/strict";
import { Lanes } from "../../../lib/engine/lanes.ts";

Deno.test("Lanes.run() starts a task on an idle lane at once, in the caller's turn", async () => {
  const lanes = new Lanes();
  const order: string[] = [];
  const done = lanes.run("other", () => {
    order.push("task");
    return Promise.resolve();
  }, () => {});
  order.push("after run()");
  await done;
  assert.deepEqual(order, ["task", "after run()"]);
  assert.equal(lanes.busy, 0);
});

Deno.test("Lanes.run() queues a task behind the one before it, even one scheduled from its synchronous part", async () => {
  const lanes = new Lanes();
  const order: string[] = [];
  const gate = Promise.withResolvers<void>();
  let inner: Promise<void> | null = null;
  const first = lanes.run("nowait", async () => {
    order.push("first starts");
    // Scheduled before the first task's first await: it must still wait for all of it.
    inner = lanes.run("nowait", () => {
      order.push("inner");
      return Promise.resolve();
    }, () => {});
    await gate.promise;
    order.push("first ends");
  }, () => {});
  const second = lanes.run("nowait", () => {
    order.push("second");
    return Promise.resolve();
  }, () => {});
  // Another lane is not held up.
  await lanes.run("other", () => {
    order.push("other lane");
    return Promise.resolve();
  }, () => {});
  assert.deepEqual(order, ["first starts", "other lane"]);
  gate.resolve();
  await Promise.all([first, inner, second]);
  assert.deepEqual(order, ["first starts", "other lane", "first ends", "inner", "second"]);
  await lanes.idle();
  // Idle again: the next task starts at once.
  lanes.run("nowait", () => {
    order.push("later");
    return Promise.resolve();
  }, () => {});
  assert.equal(order.at(-1), "later");
});

Deno.test("Lanes.run() passes a task's error to onError and keeps the lane going", async () => {
  const lanes = new Lanes();
  const errors: unknown[] = [];
  const order: string[] = [];
  const failing = lanes.run(
    "other",
    () => Promise.reject(new Error("boom")),
    (e) => errors.push(e),
  );
  const next = lanes.run("other", () => {
    order.push("next");
    return Promise.resolve();
  }, () => {});
  await Promise.all([failing, next]);
  assert.equal((errors[0] as Error).message, "boom");
  assert.deepEqual(order, ["next"]);
});

Deno.test("Lanes.run() lets the tasks behind a released task go ahead, except those of its key", async () => {
  const lanes = new Lanes();
  const order: string[] = [];
  const gate = Promise.withResolvers<void>();
  const task = (name: string) => () => {
    order.push(name);
    return Promise.resolve();
  };
  const a = lanes.run(
    "other",
    async (release) => {
      order.push("a waits");
      release();
      release(); // idempotent
      await gate.promise;
      order.push("a ends");
    },
    () => {},
    "A",
  );
  const a2 = lanes.run("other", task("a2"), () => {}, "A");
  const b = lanes.run("other", task("b"), () => {}, "B");
  await b;
  // b went ahead of the released task; a2, of its key, waits for it, off the lane.
  assert.deepEqual(order, ["a waits", "b"]);
  await lanes.run("other", task("c"), () => {});
  assert.deepEqual(order, ["a waits", "b", "c"]);
  gate.resolve();
  await Promise.all([a, a2]);
  assert.deepEqual(order, ["a waits", "b", "c", "a ends", "a2"]);
  await lanes.idle();
  assert.equal(lanes.busy, 0);
  // Once it has ended, a task of its key runs on the lane again, at once when idle.
  lanes.run("other", task("a3"), () => {}, "A");
  assert.equal(order.at(-1), "a3");
});
