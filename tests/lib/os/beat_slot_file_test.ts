import { equal, ok, throws } from "node:assert/strict";
import {
  beatSlot,
  periodIndexEnding,
  SLOT_BYTES,
  slotLastBeat,
  slotSeen,
} from "../../../lib/core/heartbeat_slot.ts";
import { BeatSlotFile, mapBeatSlot, resetBeatsDir } from "../../../lib/os/beat_slot_file.ts";
import { mountTmpfs } from "../../support/tmpfs.ts";

async function tempFile(): Promise<{ dir: string; path: string } & AsyncDisposable> {
  const dir = await Deno.makeTempDir({ prefix: "ham-slots-" });
  return {
    dir,
    path: `${dir}/1`,
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

Deno.test("a beat stored through the process's mapping is what the HAM's pread sees", async () => {
  await using t = await tempFile();
  const file = BeatSlotFile.create(t.path, 100, null);
  try {
    // 40 slots: the second page holds the last 8.
    const offsets = Array.from({ length: 40 }, () => file.allocate()!);
    equal(offsets[39], 39 * SLOT_BYTES);
    equal((await Deno.stat(t.path)).size, 8192);
    for (const offset of [offsets[3], offsets[35]]) {
      const slot = file.slot(offset);
      slot.arm(1000, 100);
      const mapped = mapBeatSlot({ path: t.path, offset });
      try {
        equal(beatSlot(mapped.view, 1250), "marked");
        const seen = slot.read()!;
        ok(slotSeen(seen, periodIndexEnding(1000, 100, 1300)));
        ok(!slotSeen(seen, 1));
        equal(slotLastBeat(seen, null, 1300), 1250);
        slot.revoke();
        equal(beatSlot(mapped.view, 1350), "revoked");
        slot.arm(2000, 50); // A restart: re-armed, ring cleared.
        ok(!slotSeen(slot.read()!, 2));
        equal(beatSlot(mapped.view, 2010), "marked");
        ok(slotSeen(slot.read()!, 0));
      } finally {
        mapped.unmap();
      }
    }
    // Another slot of the same page is untouched.
    ok(!slotSeen(file.slot(offsets[4]).read()!, 2));
  } finally {
    file.close();
  }
  throws(() => Deno.statSync(t.path), Deno.errors.NotFound, "closing removes the file");
});

Deno.test("a slot file hands out at most its maximum of slots", async () => {
  await using t = await tempFile();
  const file = BeatSlotFile.create(t.path, 3, null);
  try {
    equal(file.allocate(), 0);
    equal(file.allocate(), SLOT_BYTES);
    equal(file.allocate(), 2 * SLOT_BYTES);
    equal(file.allocate(), null);
    equal(file.used, 3);
  } finally {
    file.close();
  }
});

Deno.test("a process that truncates its slot file harms only the reads of its slots", async () => {
  await using t = await tempFile();
  const file = BeatSlotFile.create(t.path, 100, null);
  try {
    const offset = file.allocate()!;
    const slot = file.slot(offset);
    slot.arm(0, 10);
    await Deno.truncate(t.path, 0);
    equal(slot.read(), null, "a short read is no slot, not a crash");
    slot.arm(0, 10); // Writing re-extends the file; nothing breaks.
    ok(slot.read() !== null);
  } finally {
    file.close();
  }
});

Deno.test("a slot file is not created over an existing file or link", async () => {
  await using t = await tempFile();
  Deno.writeTextFileSync(t.path, "mine");
  throws(() => BeatSlotFile.create(t.path, 10, null), /Cannot create heartbeat slot file/);
  Deno.symlinkSync("/etc/passwd", `${t.dir}/link`);
  throws(() => BeatSlotFile.create(`${t.dir}/link`, 10, null));
  equal(Deno.readTextFileSync(t.path), "mine");
});

Deno.test("mapBeatSlot() of a missing file fails with EACCES", () => {
  throws(() => mapBeatSlot({ path: "/nonexistent/ham/beats/1", offset: 0 }), { code: "EACCES" });
});

Deno.test("resetBeatsDir() makes the directory reachable but not listable, and empties it", async () => {
  await using t = await tempFile();
  resetBeatsDir(t.dir);
  equal(Deno.statSync(`${t.dir}/beats`).mode! & 0o777, 0o711);
  Deno.writeTextFileSync(`${t.dir}/beats/123-4`, "old");
  resetBeatsDir(t.dir);
  equal([...Deno.readDirSync(`${t.dir}/beats`)].length, 0);
});

Deno.test("resetBeatsDir() replaces a symbolic link in the slot directory's place, never following it", async () => {
  await using t = await tempFile();
  const target = `${t.dir}/elsewhere`;
  Deno.mkdirSync(target);
  Deno.writeTextFileSync(`${target}/precious`, "keep");
  Deno.symlinkSync(target, `${t.dir}/beats`);
  resetBeatsDir(t.dir);
  ok(Deno.lstatSync(`${t.dir}/beats`).isDirectory);
  equal(Deno.readTextFileSync(`${target}/precious`), "keep");
});

Deno.test("on a full disk a slot file cannot grow: no slot, and no SIGBUS later", async () => {
  await using fs = await mountTmpfs(64 * 1024, "a full disk for slot files");
  if (fs === null) return;
  const file = BeatSlotFile.create(`${fs.path}/slots`, 1000, null);
  try {
    equal(file.allocate(), 0, "the first page fits");
    await fs.fill([]);
    let granted = 1;
    while (file.allocate() !== null) granted++;
    equal(granted, 32, "the slots of the allocated page, and no more");
    // Every slot handed out is backed: a store into its mapping is safe.
    const mapped = mapBeatSlot({ path: `${fs.path}/slots`, offset: 31 * SLOT_BYTES });
    try {
      file.slot(31 * SLOT_BYTES).arm(0, 10);
      equal(beatSlot(mapped.view, 5), "marked");
      ok(slotSeen(file.slot(31 * SLOT_BYTES).read()!, 0));
    } finally {
      mapped.unmap();
    }
  } finally {
    file.close();
  }
});
