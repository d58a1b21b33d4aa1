import assert from "node:assert/strict";
import type { HamError } from "../../../lib/core/errors.ts";
import { connect } from "../../../lib/client/ham.ts";
import { nextEventSeq, waitForRestart } from "../../../lib/ha/wait_restart.ts";
import { type FakeConn, type FakeRequest, startFakeHam } from "../../support/fake_ham.ts";

function answer(req: FakeRequest, conn: FakeConn): Promise<void> {
  if (req.op === "wait" && req.entity === "late") {
    return conn.fail(req.id, "ETIMEDOUT", 'Timed out after 5 ms waiting for entity "late"');
  }
  if (req.op === "wait") {
    return conn.reply(req.id, { entity: req.entity, reached: req.for, seq: 12 });
  }
  if (req.op === "events") return conn.reply(req.id, { events: [], next: 9 });
  return conn.reply(req.id, {});
}

const asked = (reqs: FakeRequest[], op: string) =>
  reqs.filter((r) => r.op === op).map(({ id: _id, ...rest }) => rest);

Deno.test("waitForRestart() asks the HAM to wait for a restart since a sequence number", async () => {
  await using fake = await startFakeHam(answer);
  const r = await waitForRestart("srv", { stateDir: fake.stateDir, since: 7, timeoutMs: 2500 });
  assert.deepEqual(r, { entity: "srv", reached: "restarted", seq: 12 });
  assert.deepEqual(asked(fake.requests, "wait"), [
    { op: "wait", entity: "srv", for: "restarted", timeoutMs: 2500, since: 7 },
  ]);
});

Deno.test("waitForRestart() uses a given HAM connection and waits for a later restart without since", async () => {
  await using fake = await startFakeHam(answer);
  await using ham = await connect({ stateDir: fake.stateDir });
  await waitForRestart("srv", { ham });
  assert.deepEqual(asked(fake.requests, "wait"), [
    { op: "wait", entity: "srv", for: "restarted", timeoutMs: 30_000, since: null },
  ]);
  assert.equal(fake.requests.filter((r) => r.op === "hello").length, 1);
});

Deno.test("waitForRestart() throws the HAM's ETIMEDOUT when no restart comes in time", async () => {
  await using fake = await startFakeHam(answer);
  await assert.rejects(
    waitForRestart("late", { stateDir: fake.stateDir, timeoutMs: 5 }),
    (e) => (e as HamError).code === "ETIMEDOUT",
  );
});

Deno.test("waitForRestart() throws EBADF when no HAM runs", async () => {
  const stateDir = await Deno.makeTempDir({ prefix: "ham-none-" });
  try {
    await assert.rejects(
      waitForRestart("srv", { stateDir }),
      (e) => (e as HamError).code === "EBADF",
    );
  } finally {
    await Deno.remove(stateDir, { recursive: true });
  }
});

Deno.test("nextEventSeq() answers the sequence number of the HAM's next event", async () => {
  await using fake = await startFakeHam(answer);
  assert.equal(await nextEventSeq({ stateDir: fake.stateDir }), 9);
  assert.deepEqual(asked(fake.requests, "events"), [
    { op: "events", since: Number.MAX_SAFE_INTEGER, entity: null, limit: 1 },
  ]);
});
