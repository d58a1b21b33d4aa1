import assert from "node:assert/strict";
import { HamError } from "../../../lib/core/errors.ts";
import { lockPath } from "../../../lib/os/state_dir.ts";
import {
  readLockHolder,
  takeLock,
  waitForLock,
  writeLockHolder,
} from "../../../lib/store/state_lock.ts";
import { within } from "../../support/within.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ham-lock-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("takeLock() writes the holder's pid and makes a second taker fail with EBUSY", async () => {
  await withDir(async (dir) => {
    const held = await takeLock(`${dir}/state`);
    assert.equal(Deno.readTextFileSync(lockPath(`${dir}/state`)), `${Deno.pid}\n`);
    assert.equal(Deno.statSync(`${dir}/state`).mode! & 0o777, 0o700);
    await assert.rejects(takeLock(`${dir}/state`), (err: unknown) => {
      assert.ok(err instanceof HamError);
      assert.equal(err.code, "EBUSY");
      assert.match(err.message, new RegExp(`another HAM holds its lock \\(pid ${Deno.pid}\\)`));
      return true;
    });
    held.close();
  });
});

Deno.test("takeLock() refuses with EBUSY when the lock file was removed and made again", async () => {
  await withDir(async (dir) => {
    const held = await takeLock(dir);
    try {
      // A clean-up script that takes it for a stale file; the next taker makes a new one.
      Deno.removeSync(lockPath(dir));
      await assert.rejects(takeLock(dir), (err: unknown) => {
        assert.ok(err instanceof HamError);
        assert.equal(err.code, "EBUSY");
        return true;
      });
    } finally {
      held.close();
    }
    (await takeLock(dir)).close();
  });
});

Deno.test("waitForLock() resolves once the holder releases the lock", async () => {
  await withDir(async (dir) => {
    const held = await takeLock(dir);
    const waiting = waitForLock(dir);
    held.close();
    const mine = await within(waiting, "the lock");
    await assert.rejects(takeLock(dir), /EBUSY|another HAM/);
    await writeLockHolder(mine.file);
    assert.equal(Deno.readTextFileSync(lockPath(dir)), `${Deno.pid}\n`);
    mine.close();
  });
});

Deno.test("readLockHolder() reads the pid the last holder wrote, and null when none", async () => {
  await withDir(async (dir) => {
    const held = await takeLock(dir);
    try {
      assert.equal(await readLockHolder(held.file), Deno.pid);
      await held.file.truncate(0);
      assert.equal(await readLockHolder(held.file), null);
      await held.file.write(new TextEncoder().encode("not a pid\n"));
      assert.equal(await readLockHolder(held.file), null);
    } finally {
      held.close();
    }
  });
});
