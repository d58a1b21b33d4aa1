import assert from "node:assert/strict";
import { HamError } from "../../../lib/core/errors.ts";
import {
  HA_RECOVERY_ACOUNT,
  HA_RECOVERY_ENABLE,
  HA_RECOVERY_ICOUNT,
  HA_RECOVERY_RESET_ACOUNT,
  HA_RECOVERY_RESET_ICOUNT,
  HA_RECOVERY_SUSPEND,
  type RecoveryCommand,
  RecoveryCore,
  type RecoveryFn,
} from "../../../lib/ha/recovery_core.ts";

/** A stand-in resource: an op on it answers its id, or throws its `fail`. */
interface Res {
  id: number;
  fail: Error | null;
}

const owner = { name: "owner" };
type Owner = typeof owner;
const dead = () => new Deno.errors.BrokenPipe("Broken pipe (os error 32)");
const use = (r: Res) => r.fail ? Promise.reject(r.fail) : Promise.resolve(r.id);

function core(
  fn: RecoveryFn<Owner, { calls: number }> | null,
  first: Res = { id: 1, fail: dead() },
) {
  const h = { calls: 0 };
  const c = new RecoveryCore<Res, Owner, { calls: number }>(first, fn, h, (v) => v === owner);
  return { c, h };
}

/** A core whose recovery function swaps in a working resource with the next id. */
function fixing(first: Res = { id: 1, fail: dead() }) {
  let next = 2;
  const x = core((_failed, h) => {
    h.calls++;
    x.c.swap({ id: next++, fail: null });
    return true;
  }, first);
  return x;
}

function run(x: ReturnType<typeof core>) {
  return x.c.run(owner, () => true, use);
}

Deno.test("RecoveryCore.run() answers the value and calls no recovery when the op succeeds", async () => {
  const c0 = fixing({ id: 7, fail: null });
  assert.equal(await run(c0), 7);
  assert.equal(c0.h.calls, 0);
  assert.equal(c0.c.stats.acount, 0);
});

Deno.test("RecoveryCore.run() recovers and re-issues the op when it fails with a dead-server error", async () => {
  const c0 = fixing();
  assert.equal(await run(c0), 2);
  assert.equal(c0.h.calls, 1);
  assert.deepEqual([c0.c.stats.acount, c0.c.stats.icount], [1, 0]);
});

Deno.test("RecoveryCore.run() rethrows without recovery when the error is not a dead-server error", async () => {
  const err = new Deno.errors.PermissionDenied("no");
  const c0 = fixing({ id: 1, fail: err });
  await assert.rejects(run(c0), (e) => e === err);
  assert.equal(c0.h.calls, 0);
});

Deno.test("RecoveryCore.run() rethrows the original error when the recovery function answers false", async () => {
  const err = dead();
  const x = core(() => false, { id: 1, fail: err });
  await assert.rejects(run(x), (e) => e === err);
  assert.deepEqual([x.c.stats.acount, x.c.stats.icount], [1, 0]);
});

Deno.test("RecoveryCore.run() rethrows the original error and keeps the thrown one when recovery throws", async () => {
  const err = dead();
  const boom = new Error("cannot reconnect");
  const x = core(() => Promise.reject(boom), { id: 1, fail: err });
  await assert.rejects(run(x), (e) => e === err);
  assert.equal(x.c.stats.lastRecoveryError, boom);
});

Deno.test("RecoveryCore.run() gives up when the recovery function answers another object", async () => {
  const err = dead();
  const x = core(() => ({ name: "other" }) as Owner, { id: 1, fail: err });
  await assert.rejects(run(x), (e) => e === err);
  assert.equal((x.c.stats.lastRecoveryError as HamError).code, "EBADF");
  const y = core(() => owner);
  y.c.swap({ id: 5, fail: null });
  assert.equal(await run(y), 5, "answering the failed object itself is success");
});

Deno.test("RecoveryCore.run() surfaces the error once ACOUNT recoveries were made", async () => {
  const c0 = fixing();
  c0.c.control(HA_RECOVERY_ACOUNT, 1);
  assert.equal(await run(c0), 2);
  c0.c.swap({ id: 9, fail: dead() });
  await assert.rejects(run(c0), Deno.errors.BrokenPipe);
  assert.equal(c0.h.calls, 1);
  c0.c.control(HA_RECOVERY_RESET_ACOUNT);
  assert.equal(await run(c0), 3, "RESET_ACOUNT allows recoveries again");
  c0.c.control(HA_RECOVERY_ACOUNT, -1);
  assert.equal(c0.c.stats.acountLimit, -1);
});

Deno.test("RecoveryCore.run() gives up after ICOUNT attempts when the re-issued op keeps failing", async () => {
  let calls = 0;
  const x = core(() => (calls++, true));
  x.c.control(HA_RECOVERY_ICOUNT, 3);
  await assert.rejects(run(x), Deno.errors.BrokenPipe);
  assert.equal(calls, 3);
  assert.deepEqual([x.c.stats.acount, x.c.stats.icount], [3, 0]);
  await assert.rejects(run(x), Deno.errors.BrokenPipe);
  assert.equal(calls, 6, "each failure gets its own attempts");
});

Deno.test("RecoveryCore.run() does not recover while suspended and does again after ENABLE", async () => {
  const c0 = fixing();
  c0.c.control(HA_RECOVERY_SUSPEND);
  assert.equal(c0.c.stats.suspended, true);
  await assert.rejects(run(c0), Deno.errors.BrokenPipe);
  assert.equal(c0.h.calls, 0);
  c0.c.control(HA_RECOVERY_ENABLE);
  assert.equal(await run(c0), 2);
});

Deno.test("RecoveryCore.control() zeroes the attempts of the current failure with RESET_ICOUNT", async () => {
  let calls = 0;
  const x = core((): boolean => {
    calls++;
    if (calls === 2) x.c.control(HA_RECOVERY_RESET_ICOUNT);
    if (calls === 4) x.c.swap({ id: 4, fail: null });
    return true;
  });
  x.c.control(HA_RECOVERY_ICOUNT, 3);
  assert.equal(await run(x), 4, "the reset made room for a fourth attempt");
  assert.equal(calls, 4);
});

Deno.test("RecoveryCore.control() throws EINVAL on an unknown command or a limit that is not an integer", () => {
  const { c } = core(null);
  assert.throws(() => c.control(99 as RecoveryCommand), (e) => (e as HamError).code === "EINVAL");
  assert.throws(() => c.control(HA_RECOVERY_ICOUNT, 1.5), (e) => (e as HamError).code === "EINVAL");
  c.control(HA_RECOVERY_ICOUNT, undefined);
  assert.equal(c.stats.icountLimit, -1);
});

Deno.test("RecoveryCore.run() makes one recovery for concurrent failures and re-issues every op", async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let calls = 0;
  const x = core(async () => {
    calls++;
    await gate;
    x.c.swap({ id: 2, fail: null });
    return true;
  });
  const all = Promise.all([run(x), run(x), run(x)]);
  await new Promise((r) => setTimeout(r, 0));
  release();
  assert.deepEqual(await all, [2, 2, 2]);
  assert.equal(calls, 1);
});

Deno.test("RecoveryCore.run() re-issues at once an op that failed on a resource already replaced", async () => {
  let fail!: (e: Error) => void;
  const slow: Res = { id: 1, fail: null };
  const x = core(() => Promise.reject(new Error("must not be called")), slow);
  const p = x.c.run(owner, () => true, (r) => {
    if (r === slow) return new Promise<number>((_, reject) => (fail = reject));
    return use(r);
  });
  x.c.swap({ id: 3, fail: null });
  fail(new Deno.errors.Interrupted("operation canceled"));
  assert.equal(await p, 3);
  assert.equal(x.c.stats.acount, 0);
});

Deno.test("RecoveryCore.run() re-issues an op pending on the replaced resource only after the recovery", async () => {
  const order: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let failPending!: (e: Error) => void;
  const first: Res = { id: 1, fail: null };
  const x = core(async () => {
    x.c.swap({ id: 2, fail: null });
    failPending(new Deno.errors.Interrupted("operation canceled"));
    await gate;
    order.push("recovered");
    return true;
  }, first);
  const onNew = (r: Res) => (order.push(`op on ${r.id}`), use(r));
  const pending = x.c.run(owner, () => true, (r) => {
    return r === first ? new Promise<number>((_, reject) => (failPending = reject)) : onNew(r);
  });
  const failing = x.c.run(
    owner,
    () => true,
    (r) => r === first ? Promise.reject(dead()) : onNew(r),
  );
  await new Promise((r) => setTimeout(r, 0));
  order.push("released");
  release();
  assert.deepEqual(await Promise.all([pending, failing]), [2, 2]);
  assert.deepEqual(order, ["released", "recovered", "op on 2", "op on 2"]);
  assert.equal(x.c.stats.acount, 1);
});

Deno.test("RecoveryCore.run() rethrows Interrupted when the resource was not replaced", async () => {
  const x = core(() => true, { id: 1, fail: new Deno.errors.Interrupted("canceled") });
  await assert.rejects(run(x), Deno.errors.Interrupted);
  assert.equal(x.c.stats.acount, 0);
});

Deno.test("RecoveryCore.run() runs an op issued inside the recovery function once, without recovering", async () => {
  const seen: unknown[] = [];
  const x = core(async () => {
    await run(x).catch((e) => seen.push(e));
    x.c.swap({ id: 2, fail: null });
    seen.push(await run(x));
    return true;
  });
  assert.equal(await run(x), 2);
  assert.equal(seen.length, 2);
  assert.ok(seen[0] instanceof Deno.errors.BrokenPipe);
  assert.equal(seen[1], 2);
  assert.equal(x.c.stats.acount, 1);
});

Deno.test("RecoveryCore.run() recovers at an end of input that eof() calls a death, else answers it", async () => {
  const x = core(() => (x.c.swap({ id: 2, fail: null }), true), { id: 0, fail: null });
  const read = (r: Res) => Promise.resolve(r.id === 0 ? null : r.id);
  assert.equal(await x.c.run(owner, () => true, read, (v) => v === null), 2);
  const y = core(() => false, { id: 0, fail: null });
  assert.equal(await y.c.run(owner, () => true, read, (v) => v === null), null);
  assert.equal(y.c.stats.acount, 1);
  assert.equal(await y.c.run(owner, () => true, read), null, "without eof() EOF is a value");
});

Deno.test("RecoveryCore.run() does not recover when mayRecover() is false", async () => {
  const c0 = fixing();
  await assert.rejects(c0.c.run(owner, () => false, use), Deno.errors.BrokenPipe);
  assert.equal(c0.h.calls, 0);
});

Deno.test("RecoveryCore.run() recovers an op of a task that the recovery function started, once it is done", async () => {
  let later: Promise<number> | null = null;
  const go = Promise.withResolvers<void>();
  let next = 2;
  const x = core((_failed, h) => {
    h.calls++;
    x.c.swap({ id: next++, fail: null });
    // A reader loop restarted by the recovery function: it outlives the recovery.
    later ??= go.promise.then(() => run(x));
    return true;
  });
  assert.equal(await run(x), 2);
  x.c.swap({ id: 9, fail: dead() }); // the server dies again
  go.resolve();
  assert.equal(await later, 3, "the task's op recovered");
  assert.equal(x.h.calls, 2);
});

Deno.test("RecoveryCore.run() counts the attempts afresh after an error that recovery does not handle surfaced", async () => {
  let calls = 0;
  const x = core((): boolean => {
    calls++;
    // Reconnected, but the re-issued op fails another way (a file reopened read-only).
    x.c.swap({ id: 2, fail: new Deno.errors.PermissionDenied("no") });
    return true;
  });
  x.c.control(HA_RECOVERY_ICOUNT, 1);
  await assert.rejects(run(x), Deno.errors.PermissionDenied);
  assert.equal(x.c.stats.icount, 0, "the error surfaced: the failure is over");
  x.c.swap({ id: 3, fail: dead() }); // a new failure
  await assert.rejects(run(x), Deno.errors.PermissionDenied);
  assert.equal(calls, 2, "the new failure had its attempt");
});

Deno.test("RecoveryCore.run() lets its event loop run while a recovery that repairs nothing is answered true", async () => {
  // The default ICOUNT has no limit; 50,000 keeps the code before the pause finite.
  const { c, h } = core((_failed, h) => {
    h.calls++;
    return true; // says it recovered, and did not
  });
  c.control(HA_RECOVERY_ICOUNT, 50_000);
  let timerRan = false;
  const tick = setTimeout(() => {
    timerRan = true;
    c.control(HA_RECOVERY_SUSPEND);
  }, 0);
  try {
    await assert.rejects(c.run(owner, () => true, use), Deno.errors.BrokenPipe);
  } finally {
    clearTimeout(tick);
  }
  assert.equal(timerRan, true, "a timer of the process ran while the op was being recovered");
  assert.ok(h.calls < 50_000, `${h.calls} recoveries before the timer's turn`);
});

Deno.test("RecoveryCore.run() re-issues at once after one recovery, then pauses 1, 2, 4 ms ... up to haRecoveryPauseMaxMs", async () => {
  const pauses: number[] = [];
  const h = { calls: 0 };
  const c = new RecoveryCore<Res, Owner, { calls: number }>(
    { id: 1, fail: dead() },
    (_failed, h) => {
      h.calls++;
      return true;
    },
    h,
    (v) => v === owner,
    (ms) => {
      pauses.push(ms);
      return Promise.resolve();
    },
  );
  c.control(HA_RECOVERY_ICOUNT, 12);
  await assert.rejects(c.run(owner, () => true, use), Deno.errors.BrokenPipe);
  assert.equal(h.calls, 12);
  assert.deepEqual(pauses, [1, 2, 4, 8, 16, 32, 64, 100, 100, 100, 100]);
});
