/**
 * The status mirror (`<state-dir>/status/`) with a real HAM: a change rewrites the files of
 * the entity it touched and leaves every other file alone, and the heartbeat fields that move
 * without a journal record (last beat, missed periods) are refreshed when beats stop.
 */

import { deepEqual as assertEquals, match, ok as assert } from "node:assert/strict";
import type { EntityView } from "../../lib/core/status_view.ts";
import { HamProcess, until } from "../support/ham_process.ts";

function field(text: string, label: string): string | null {
  const m = new RegExp(`^${label} *: (.*)$`, "m").exec(text);
  return m ? m[1] : null;
}

async function readInfo(ham: HamProcess, entity: string): Promise<string | null> {
  return await Deno.readTextFile(`${ham.stateDir}/status/${entity}/.info`).catch(() => null);
}

Deno.test("the status mirror rewrites only the files of the entity a change touched", async () => {
  await using ham = await HamProcess.start({ guardian: false });
  for (const name of ["a", "b", "c"]) await ham.ok("entity", name);
  await ham.ok("condition", "b/death", "death");
  const seen = await until(
    async () =>
      // null (not false) until all are there: until() stops at anything but null.
      ((await readInfo(ham, "c")) !== null && (await readInfo(ham, "b")) !== null &&
        await Deno.stat(`${ham.stateDir}/status/b/death/.info`).then(() => true, () => false)) ||
      null,
    "the first mirror",
  );
  assert(seen);
  const inodes = async () =>
    Object.fromEntries(
      await Promise.all(
        ["a/.info", "b/.info", "b/death/.info", "c/.info"].map(async (f) =>
          [f, (await Deno.stat(`${ham.stateDir}/status/${f}`)).ino] as const
        ),
      ),
    );
  const before = await inodes();
  await ham.ok("state", "a", "5");
  await until(
    async () => field((await readInfo(ham, "a")) ?? "", "State") === "5" ? true : null,
    "a's state on file",
  );
  const after = await inodes();
  // a/.info was replaced (a new inode); the others were not touched.
  assert(after["a/.info"] !== before["a/.info"]);
  assertEquals(
    [after["b/.info"], after["b/death/.info"], after["c/.info"]],
    [before["b/.info"], before["b/death/.info"], before["c/.info"]],
  );
  match(await Deno.readTextFile(`${ham.stateDir}/status/.info`), /Num Conditions {4}: 1\n/);
});

Deno.test("the status mirror's heartbeat fields follow beats and missed periods", async () => {
  await using ham = await HamProcess.start({ guardian: false });
  // low/high 0: no threshold, so missed periods never write a record; only the refresh
  // can bring them to the file.
  await ham.ok(
    "attach",
    "hb",
    "--heartbeat",
    "200ms",
    "--low",
    "0",
    "--high",
    "0",
    "--",
    "/bin/sleep",
    "1000",
  );
  const info = () => readInfo(ham, "hb");
  // Attaching counts as the first beat.
  const attached = await until(async () => field((await info()) ?? "", "Last Heartbeat"), "hb");
  await ham.ok("heartbeat", "hb");
  const beat = await until(async () => {
    const v = field((await info()) ?? "", "Last Heartbeat");
    return v !== null && v !== attached ? v : null;
  }, "the beat on file");
  const status = await ham.ok("status", "hb", "--json") as EntityView;
  assertEquals(beat, status.heartbeat?.lastBeat);
  // No more beats: the missed count climbs on file without any record being written.
  const missed = await until(
    async () => {
      const n = Number(field((await info()) ?? "", "Missed Heartbeats"));
      return n >= 3 ? n : null;
    },
    "missed heartbeats on file",
    20_000,
  );
  assert(missed >= 3);
  assertEquals(field((await info())!, "Last Heartbeat"), beat);
  // A new beat resets it on file too.
  await ham.ok("heartbeat", "hb");
  await until(async () => {
    const text = (await info()) ?? "";
    return field(text, "Last Heartbeat") !== beat ? true : null;
  }, "the second beat on file");
});
