import assert from "node:assert/strict";
import { HamWatch } from "../../guardian/ham_watch.ts";
import { memoryLogger } from "../../lib/os/logger.ts";
import { standInHam as fakeHam } from "../support/stand_in_ham.ts";
import { within } from "../support/within.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ham-watch-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("HamWatch.gone resolves with the lock once the HAM releases it", async () => {
  await withDir(async (dir) => {
    const ham = await fakeHam(dir);
    const watch = await HamWatch.start({ stateDir: dir, hamPid: null, log: memoryLogger() });
    let done = false;
    watch.gone.then(() => (done = true));
    await new Promise((r) => setTimeout(r, 20)); // An absence: give it a chance to be wrong.
    assert.equal(done, false, "the lock is still held");
    ham.release();
    const gone = await within(watch.gone, "the lock");
    assert.equal(gone.stopRequested, false);
    assert.equal(gone.replacedBy, null, "no pid to compare");
    assert.equal(await gone.lock.dir.tryLock(true).then(() => true), true);
    gone.lock.close();
    await ham.close();
    await watch.close();
  });
});

Deno.test("HamWatch.gone names the HAM that held the lock after the guarded one", async () => {
  await withDir(async (dir) => {
    // The stand-in writes this process's pid into the lock file, as a HAM writes its own.
    for (const [hamPid, replacedBy] of [[Deno.pid, null], [Deno.pid + 1, Deno.pid]] as const) {
      const ham = await fakeHam(dir);
      const watch = await HamWatch.start({ stateDir: dir, hamPid, log: memoryLogger() });
      ham.release();
      const gone = await within(watch.gone, "the lock");
      assert.equal(gone.replacedBy, replacedBy, `guarding pid ${hamPid}`);
      gone.lock.close();
      await ham.close();
      await watch.close();
      await Deno.remove(`${dir}/ham.sock`).catch(() => {});
    }
  });
});

Deno.test("HamWatch.gone says stop when the HAM pushed stopping before it went", async () => {
  await withDir(async (dir) => {
    const ham = await fakeHam(dir);
    const watch = await HamWatch.start({ stateDir: dir, hamPid: null, log: memoryLogger() });
    await ham.push({ type: "stopping" });
    await within(
      (async () => {
        while (!watch.stopRequested) await new Promise((r) => setTimeout(r, 2));
      })(),
      "the stopping notice",
    );
    await ham.close();
    ham.release();
    const gone = await within(watch.gone, "the lock");
    assert.equal(gone.stopRequested, true);
    gone.lock.close();
    await watch.close();
  });
});

Deno.test("HamWatch.gone names the connection when it ended before the lock came", async () => {
  await withDir(async (dir) => {
    const ham = await fakeHam(dir);
    const log = memoryLogger();
    const watch = await HamWatch.start({ stateDir: dir, hamPid: null, log });
    await ham.close();
    await within(
      (async () => {
        while (!log.lines.some((l) => l.includes("the HAM is gone (connection)"))) {
          await new Promise((r) => setTimeout(r, 2));
        }
      })(),
      "the connection's end",
    );
    ham.release();
    const gone = await within(watch.gone, "the lock");
    assert.equal(gone.noticedBy, "connection");
    assert.ok(gone.noticedAt <= performance.now());
    gone.lock.close();
    await watch.close();
  });
});

Deno.test("HamWatch.gone names the pidfd when the HAM's pid ended first", async () => {
  await withDir(async (dir) => {
    const ham = await fakeHam(dir);
    const stand = new Deno.Command("/bin/sleep", { args: ["1000"] }).spawn();
    const log = memoryLogger();
    const watch = await HamWatch.start({ stateDir: dir, hamPid: stand.pid, log });
    stand.kill("SIGKILL");
    await stand.status;
    await within(
      (async () => {
        while (!log.lines.some((l) => l.includes("the HAM is gone (pidfd)"))) {
          await new Promise((r) => setTimeout(r, 2));
        }
      })(),
      "the pidfd",
    );
    ham.release();
    const gone = await within(watch.gone, "the lock");
    assert.equal(gone.noticedBy, "pidfd");
    gone.lock.close();
    await ham.close();
    await watch.close();
  });
});
