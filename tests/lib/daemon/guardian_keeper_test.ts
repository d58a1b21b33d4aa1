import assert from "node:assert/strict";
import { GuardianKeeper, type GuardianKeeperOptions } from "../../../lib/daemon/guardian_keeper.ts";
import { memoryLogger } from "../../../lib/os/logger.ts";
import { steppingWallClock } from "../../support/stepping_wall_clock.ts";
import { within } from "../../support/within.ts";

function keeper(command: string[], opts: Partial<GuardianKeeperOptions> = {}) {
  const log = memoryLogger();
  const failures: number[] = [];
  const k = new GuardianKeeper({
    stateDir: "/nonexistent",
    log,
    command,
    onFailure: (at) => void failures.push(at),
    ...opts,
  });
  return { k, log, failures };
}

/** Resolves with the keeper's Guardian pid once it differs from `not`. */
async function nextPid(k: GuardianKeeper, not: number | null): Promise<number> {
  return await within(
    (async () => {
      while (k.pid === null || k.pid === not) await new Promise((r) => setTimeout(r, 5));
      return k.pid;
    })(),
    "a new Guardian",
  );
}

Deno.test("GuardianKeeper.start() starts a new Guardian when one dies, reporting the failure", async () => {
  const { k, failures, log } = keeper(["/bin/sleep", "1000"]);
  k.start();
  const first = k.pid!;
  assert.ok(first > 0);
  Deno.kill(first, "SIGKILL");
  const second = await nextPid(k, first);
  assert.notEqual(second, first);
  assert.equal(failures.length, 1);
  assert.equal(k.starts, 2);
  assert.ok(log.lines.some((l) => l.includes(`Guardian ${first} killed by SIGKILL`)));
  await k.stop();
});

Deno.test("GuardianKeeper waits for onFailure to settle before starting the next one", async () => {
  const journaled = Promise.withResolvers<void>();
  const called = Promise.withResolvers<void>();
  const { k, log } = keeper(["/bin/sleep", "1000"], {
    onFailure: () => {
      called.resolve();
      return journaled.promise;
    },
  });
  k.start();
  const first = k.pid!;
  Deno.kill(first, "SIGKILL");
  await within(called.promise, "onFailure");
  assert.equal(k.pid, null);
  log.lines.push("-- journaled --");
  journaled.resolve();
  const second = await nextPid(k, first);
  const started = log.lines.findIndex((l) => l.includes(`Started Guardian ${second}`));
  assert.ok(started > log.lines.indexOf("-- journaled --"));
  await k.stop();
});

Deno.test("GuardianKeeper backs off when Guardians keep dying young", async () => {
  const { k, log } = keeper(["/bin/false"], { firstBackoffMs: 10, maxBackoffMs: 40 });
  k.start();
  await within(
    (async () => {
      while (k.starts < 6) await new Promise((r) => setTimeout(r, 5));
    })(),
    "six starts",
  );
  await k.stop();
  const delays = log.lines.map((l) => /next Guardian in (\d+) ms/.exec(l)?.[1]).filter(Boolean);
  assert.deepEqual(delays.slice(0, 4), ["10", "20", "40", "40"]);
});

Deno.test("GuardianKeeper tells a young death on the monotonic clock while the wall clock is set forward", async () => {
  // Each reading of the wall clock an hour later: a Guardian that dies at once has lived for
  // hours by it, and the keeper restarted such Guardians at once, in a loop.
  using _ = steppingWallClock(3_600_000);
  const { k, log } = keeper(["/bin/false"], { firstBackoffMs: 10, maxBackoffMs: 40 });
  k.start();
  await within(
    (async () => {
      while (k.starts < 4) await new Promise((r) => setTimeout(r, 5));
    })(),
    "four starts",
  );
  await k.stop();
  const delays = log.lines.map((l) => /next Guardian in (\d+) ms/.exec(l)?.[1]).filter(Boolean);
  assert.deepEqual(delays.slice(0, 2), ["10", "20"]);
});

Deno.test("GuardianKeeper.stop() ends the Guardian with SIGTERM and starts no other", async () => {
  const { k, failures } = keeper(["/bin/sleep", "1000"]);
  k.start();
  const pid = k.pid!;
  await k.stop();
  assert.equal(k.pid, null);
  assert.deepEqual(failures, []);
  assert.throws(() => Deno.kill(pid, "SIGKILL"), "the Guardian is gone");
  k.start();
  assert.equal(k.pid, null, "a stopped keeper starts nothing");
});

Deno.test("GuardianKeeper.stop() kills a Guardian that ignores SIGTERM", async () => {
  const dir = await Deno.makeTempDir();
  const ready = `${dir}/trapped`;
  const { k, log } = keeper(["/bin/sh", "-c", `trap '' TERM; touch ${ready}; exec sleep 1000`], {
    stopTimeoutMs: 100,
  });
  k.start();
  await within(
    (async () => {
      while (!await Deno.stat(ready).then(() => true, () => false)) {
        await new Promise((r) => setTimeout(r, 5));
      }
    })(),
    "the trap to be set",
  );
  await within(k.stop(), "the stop");
  await Deno.remove(dir, { recursive: true });
  assert.equal(k.pid, null);
  assert.ok(log.lines.some((l) => l.includes("did not exit on SIGTERM")));
});
