import assert from "node:assert/strict";
import type { HamError } from "../../../lib/core/errors.ts";
import { Recoverable } from "../../../lib/ha/recoverable.ts";
import {
  HA_RECOVERY_ICOUNT,
  HAREPLACERECOVERYFN,
  type RecoveryCore,
  type RecoveryFn,
} from "../../../lib/ha/recovery_core.ts";
import { within } from "../../support/within.ts";

/** A stand-in resource that records being closed. */
class Res {
  closed = false;
  fail: Error | null = null;
  constructor(readonly id: number) {}
}

type Fn = RecoveryFn<Thing, string[]>;

/** The smallest HA object: one recovering op that answers the resource's id. */
class Thing extends Recoverable<Res, Thing, string[]> {
  static make(res: Res, fn: Fn | null, log: string[] = []): Thing {
    return new Thing(Thing.newCore<Res, Thing, string[]>(res, fn, log), fn !== null);
  }
  private constructor(core: RecoveryCore<Res, Thing, string[]>, attached: boolean) {
    super(core, attached);
  }
  id(): Promise<number> {
    return this.run((r) => r.fail ? Promise.reject(r.fail) : Promise.resolve(r.id));
  }
  dup(): Thing {
    return new Thing(this.shareCore(), true);
  }
  protected closeResource(r: Res): void {
    if (r.closed) throw new Deno.errors.BadResource("closed twice");
    r.closed = true;
  }
}

const code = (c: string) => (e: unknown) => (e as HamError).code === c;
const fixer = (tag: string, id: number): Fn => (failed, log) => {
  log.push(tag);
  failed.adopt(new Res(id));
  return failed;
};

Deno.test("Recoverable.attach() throws EEXIST when a recovery function is attached", () => {
  const t = Thing.make(new Res(1), fixer("a", 2));
  assert.throws(() => t.attach(fixer("b", 3), []), code("EEXIST"));
});

Deno.test("Recoverable.attach() replaces the recovery function with replace or HAREPLACERECOVERYFN", async () => {
  const log: string[] = [];
  const r = new Res(1);
  r.fail = new Deno.errors.ConnectionReset("reset");
  const t = Thing.make(r, fixer("a", 2), log);
  t.attach(fixer("b", 3), log, { replace: true });
  assert.equal(await t.id(), 3);
  t.raw.fail = new Deno.errors.ConnectionReset("reset");
  t.attach(fixer("c", 4), log, { flags: HAREPLACERECOVERYFN });
  assert.equal(await t.id(), 4);
  assert.deepEqual(log, ["b", "c"]);
});

Deno.test("Recoverable.attach() throws EBADF on replace when none is attached", () => {
  const t = Thing.make(new Res(1), null);
  assert.equal(t.attached, false);
  assert.throws(() => t.attach(fixer("a", 2), [], { replace: true }), code("EBADF"));
  t.attach(fixer("a", 2), []);
  assert.equal(t.attached, true);
});

Deno.test("Recoverable.detach() stops recovery and throws EBADF when not attached", async () => {
  const r = new Res(1);
  const t = Thing.make(r, fixer("a", 2));
  t.detach();
  r.fail = new Deno.errors.BrokenPipe("pipe");
  await assert.rejects(t.id(), Deno.errors.BrokenPipe);
  assert.throws(() => t.detach(), code("EBADF"));
  assert.throws(() => t.control(HA_RECOVERY_ICOUNT, 1), code("EBADF"));
});

Deno.test("Recoverable.dup() shares the resource, the recovery function and the counters", async () => {
  const log: string[] = [];
  const r = new Res(1);
  const a = Thing.make(r, fixer("a", 2), log);
  const b = a.dup();
  assert.equal(b.raw, r);
  b.control(HA_RECOVERY_ICOUNT, 5);
  assert.equal(a.stats.icountLimit, 5);
  a.attach(fixer("z", 9), log, { replace: true });
  r.fail = new Deno.errors.BrokenPipe("pipe");
  assert.equal(await b.id(), 9, "replacing on one replaces for both");
  assert.equal(await a.id(), 9, "the recovered resource is under both");
  assert.equal(a.stats.acount, 1);
  assert.deepEqual(log, ["z"]);
});

Deno.test("Recoverable.close() closes the resource only with the last dup", async () => {
  const r = new Res(1);
  const a = Thing.make(r, fixer("a", 2));
  const b = a.dup();
  a.close();
  assert.equal(r.closed, false);
  assert.equal(a.closed, true);
  assert.equal(await b.id(), 1, "closing one dup does not close the other");
  await assert.rejects(a.id(), Deno.errors.BadResource);
  assert.throws(() => a.close(), Deno.errors.BadResource);
  b[Symbol.dispose]();
  b[Symbol.dispose]();
  assert.equal(r.closed, true);
});

Deno.test("Recoverable.dup() throws EBADF when the object is not HA-aware", () => {
  const t = Thing.make(new Res(1), null);
  assert.throws(() => t.dup(), code("EBADF"));
});

Deno.test("Recoverable.adopt() puts the new resource under the object and closes the old one", () => {
  const old = new Res(1);
  const t = Thing.make(old, null);
  const next = new Res(2);
  t.adopt(next);
  assert.equal(t.raw, next);
  assert.equal(old.closed, true);
  next.closed = true; // closed behind the object's back
  t.adopt(new Res(3)); // closing an old resource already gone is not an error
  t.close();
  const late = new Res(4);
  assert.throws(() => t.adopt(late), Deno.errors.BadResource);
  assert.equal(late.closed, true);
});

Deno.test("Recoverable.close() ends at once an op that waits for a recovery that hangs", async () => {
  const called = Promise.withResolvers<void>();
  const hang = Promise.withResolvers<boolean>();
  const r = new Res(1);
  r.fail = new Deno.errors.BrokenPipe("pipe");
  const t = Thing.make(r, () => {
    called.resolve();
    return hang.promise; // the server never comes back, and nothing gives up
  });
  const op = t.id();
  await called.promise;
  t.close();
  await assert.rejects(within(op, "the op to end with the close"), Deno.errors.Interrupted);
  hang.resolve(false);
});

Deno.test("Recoverable.adopt() in a recovery serves the dups of a failed object closed meanwhile", async () => {
  const called = Promise.withResolvers<void>();
  const gate = Promise.withResolvers<void>();
  const r = new Res(1);
  r.fail = new Deno.errors.BrokenPipe("pipe");
  const a = Thing.make(r, async (failed) => {
    called.resolve();
    await gate.promise;
    failed.adopt(new Res(2));
    return true;
  });
  const b = a.dup();
  const onA = a.id();
  await called.promise;
  const onB = b.id();
  a.close(); // b still holds the connection
  gate.resolve();
  await assert.rejects(onA, Deno.errors.Interrupted);
  assert.equal(await onB, 2);
  assert.equal(r.closed, true);
  b.close();
});
