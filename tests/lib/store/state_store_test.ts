import assert from "node:assert/strict";
import { HamError } from "../../../lib/core/errors.ts";
import { HCONDKEEPONEMPTY, HREARMAFTERRESTART } from "../../../lib/core/flags.ts";
import { denoFileOps, type JournalFile, type JournalFileOps } from "../../../lib/store/journal.ts";
import { encodeFrame, listSegmentsSync, segmentPath } from "../../../lib/store/journal_frames.ts";
import { createState, type HamState } from "../../../lib/core/model.ts";
import type { RecordBody } from "../../../lib/core/records.ts";
import { listSnapshotsSync, snapshotPath } from "../../../lib/store/snapshot.ts";
import {
  type CompactStep,
  StateStore,
  type StateStoreOptions,
} from "../../../lib/store/state_store.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ham-store-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A realistic life of entity `name`: attach, death handling, a death and a restart. */
function life(name: string, i: number): RecordBody[][] {
  const at = 1_000 + i;
  const pid = 100 + i;
  return [
    [{
      t: "attach",
      entity: name,
      kind: "attached",
      pid,
      startTime: `${5000 + i}`,
      argv: ["/usr/bin/server", "--port", `${8000 + i}`],
      cwd: "/",
      env: i % 2 ? { PORT: `${8000 + i}` } : null,
      spawnId: `s-${i}`,
      spawned: true,
      flags: 0,
      heartbeat: i % 3 === 0 ? { periodMs: 1000, low: 2, high: 4 } : null,
      at,
    }],
    [
      {
        t: "cond-add",
        entity: name,
        condition: "death",
        type: "death",
        flags: HREARMAFTERRESTART,
        match: null,
      },
      {
        t: "action-add",
        entity: name,
        condition: "death",
        action: "restart",
        flags: HREARMAFTERRESTART,
        params: { kind: "restart", argv: null, policy: null },
      },
      {
        t: "action-add",
        entity: name,
        condition: "death",
        action: "log",
        flags: 0,
        params: { kind: "log", message: `${name} died`, prefix: true, verbosity: 1 },
      },
      {
        t: "cond-add",
        entity: name,
        condition: "up",
        type: "state",
        flags: HCONDKEEPONEMPTY,
        match: { from: 0, to: 2 },
      },
    ],
    [{ t: "state", entity: name, to: 2 }],
    [{
      t: "death",
      entity: name,
      pid,
      code: i % 2 ? 1 : null,
      signal: i % 2 ? null : "SIGKILL",
      at: at + 5,
    }],
    [
      {
        t: "fire",
        event: { type: "death", entity: name },
        runs: [{ run: `${name}#1`, owner: name, condition: "death", lane: "other", list: [] }],
      },
      { t: "run-end", run: `${name}#1` },
      { t: "result", entity: name, condition: "death", action: "log", fail: null, ok: true },
      {
        t: "result",
        entity: name,
        condition: "death",
        action: "restart",
        fail: null,
        ok: i % 4 !== 0,
      },
    ],
    [{
      t: "restart",
      entity: name,
      pid: pid + 1000,
      startTime: `${9000 + i}`,
      spawnId: `r-${i}`,
      at: at + 9,
    }],
    [{ t: "heartbeat", entity: name, missed: i % 3, health: "healthy", lastBeat: at + 10 }],
  ];
}

/** Commits the lives of `n` entities, interleaved, and a few global records. */
async function commitLives(store: StateStore, n: number, from = 0): Promise<void> {
  const lives = Array.from({ length: n }, (_, i) => life(`web${from + i}`, from + i));
  for (let step = 0; step < lives[0].length; step++) {
    await Promise.all(lives.map((l) => store.commit(l[step])));
  }
  await store.commit([
    { t: "verbosity", value: 3 },
    { t: "failure", role: "guardian", at: 77 },
    { t: "enable", path: { entity: `web${from}`, condition: "up" }, enabled: false, recurse: true },
    { t: "remove", entity: `web${from + n - 1}` },
  ]);
}

function assertSameState(actual: HamState, expected: HamState): void {
  assert.deepEqual(actual, expected);
  assert.deepEqual([...actual.entities.keys()], [...expected.entities.keys()]);
}

async function reopened(dir: string, options: StateStoreOptions = {}): Promise<StateStore> {
  return await StateStore.open(dir, { log: () => {}, ...options });
}

/** The state a fresh replay of `dir` gives. */
async function replayed(dir: string): Promise<HamState> {
  const store = await reopened(dir);
  await store.close();
  return store.state;
}

/** The real filesystem, with writes that fail with ENOSPC on demand. */
class FullDiskOps implements JournalFileOps {
  full = false;
  async open(path: string): Promise<JournalFile> {
    const file = await denoFileOps.open(path);
    return {
      write: async (data) => {
        if (!this.full) return file.write(data);
        await file.write(data.subarray(0, 3));
        throw new Error("No space left on device (os error 28)");
      },
      syncData: () => file.syncData(),
      truncate: (length) => file.truncate(length),
      close: () => file.close(),
    };
  }
  syncDir = denoFileOps.syncDir;
  remove = denoFileOps.remove;
}

Deno.test("StateStore.open() on an empty directory gives the initial state", async () => {
  await withDir(async (dir) => {
    const store = await reopened(`${dir}/state`);
    assertSameState(store.state, createState());
    assert.deepEqual(store.report, { snapshotSeq: 0, replayed: 0, tornBytes: 0, lostRecords: 0 });
    assert.equal(store.journal.nextSeq, 1);
    await store.close();
  });
});

Deno.test("StateStore.open() replays the journal into the state that was live", async () => {
  await withDir(async (dir) => {
    const store = await reopened(dir);
    await commitLives(store, 12);
    const live = store.state;
    assert.equal(live.entities.get("web1")!.restarts, 1);
    // The restart kept only what is rearmed.
    const web1 = live.entities.get("web1")!;
    assert.deepEqual([...web1.conditions.keys()], ["death"]);
    assert.deepEqual(web1.conditions.get("death")!.actions.map((a) => a.name), ["restart"]);
    await store.close();
    const again = await reopened(dir);
    assertSameState(again.state, live);
    assert.equal(again.report.replayed, live.seq);
    await again.close();
  });
});

Deno.test("StateStore.open() discards a torn last record and logs it", async () => {
  await withDir(async (dir) => {
    const store = await reopened(dir);
    await commitLives(store, 3);
    const live = store.state;
    await store.close();
    const path = segmentPath(dir, 1);
    const size = Deno.statSync(path).size;
    const frame = encodeFrame({ seq: live.seq + 1, t: "verbosity", value: 9 });
    Deno.writeFileSync(path, frame.subarray(0, frame.length - 4), { append: true });
    const lines: string[] = [];
    const again = await reopened(dir, { log: (_level, msg) => lines.push(msg) });
    assertSameState(again.state, live);
    assert.equal(again.report.tornBytes, frame.length - 4);
    assert.ok(lines.includes(
      `Discarded a torn journal record at offset ${size} of "${path}" (${
        frame.length - 4
      } bytes: incomplete frame)`,
    ));
    assert.equal(Deno.statSync(path).size, size);
    await again.commit([{ t: "verbosity", value: 2 }]);
    await again.close();
    assert.equal((await replayed(dir)).verbosity, 2);
  });
});

Deno.test("StateStore.open() discards a whole last frame with a bad checksum", async () => {
  await withDir(async (dir) => {
    const store = await reopened(dir);
    await commitLives(store, 2);
    const live = store.state;
    await store.close();
    const frame = encodeFrame({ seq: live.seq + 1, t: "verbosity", value: 9 });
    frame[frame.length - 3] ^= 0x20;
    Deno.writeFileSync(segmentPath(dir, 1), frame, { append: true });
    const again = await reopened(dir);
    assertSameState(again.state, live);
    assert.equal(again.report.tornBytes, frame.length);
    await again.close();
  });
});

/** Flips a byte inside record `seq`'s frame in the first segment; returns that frame's offset. */
function corruptRecord(dir: string, seq: number): number {
  const path = segmentPath(dir, 1);
  const bytes = Deno.readFileSync(path);
  let off = 0;
  for (let s = 1; s < seq; s++) off += 8 + new DataView(bytes.buffer).getUint32(off, true);
  bytes[off + 12] ^= 0x01;
  Deno.writeFileSync(path, bytes);
  return off;
}

Deno.test("StateStore.open() refuses a journal corrupt in the middle with EIO naming the offset", async () => {
  await withDir(async (dir) => {
    const store = await reopened(dir);
    await commitLives(store, 4);
    await store.close();
    const offset = corruptRecord(dir, 10);
    await assert.rejects(reopened(dir), (err: HamError) => {
      assert.equal(err.code, "EIO");
      assert.equal(
        err.message,
        `Journal "${segmentPath(dir, 1)}" is corrupt at offset ${offset}: bad checksum; ` +
          "start with --recover to keep the 9 records before it (up to seq 9) and move the rest aside",
      );
      return true;
    });
  });
});

Deno.test("StateStore.open() with recover keeps the records before the corruption", async () => {
  await withDir(async (dir) => {
    const store = await reopened(dir);
    await commitLives(store, 4);
    const total = store.state.seq;
    await store.close();
    const offset = corruptRecord(dir, 10);
    const damaged = Deno.readFileSync(segmentPath(dir, 1));
    const lines: string[] = [];
    const again = await reopened(dir, {
      recover: true,
      log: (l, msg) => lines.push(`${l}: ${msg}`),
    });
    assert.equal(again.state.seq, 9);
    assert.equal(again.report.lostRecords, total - 9);
    const aside = [...Deno.readDirSync(dir)].find((e) => e.name.startsWith("recovered-"))!.name;
    assert.match(aside, /^recovered-\d{8}T\d{6}Z$/);
    assert.match(
      lines.join("\n"),
      new RegExp(
        `error: Recovered from journal ".*0000000000000001\\.log" damaged at offset ${offset} ` +
          `\\(bad checksum\\): kept the records up to seq 9 \\(${offset} bytes of it\\); moved a copy ` +
          `of "0000000000000001\\.log" into ".*${aside}" \\(${
            total - 9
          } records after seq 9 are not replayed\\)`,
      ),
    );
    // Nothing was deleted: the damaged segment is aside as it was.
    assert.deepEqual(Deno.readFileSync(`${dir}/${aside}/0000000000000001.log`), damaged);
    await again.commit([{ t: "verbosity", value: 5 }]);
    await again.close();
    const third = await reopened(dir);
    assert.equal(third.state.seq, 10);
    assert.equal(third.state.verbosity, 5);
    await third.close();
  });
});

Deno.test("StateStore.open() refuses a bad frame at the end of a segment that is not the last", async () => {
  await withDir(async (dir) => {
    const store = await reopened(dir);
    await commitLives(store, 2);
    store.journal.rotate();
    await store.commit([{ t: "verbosity", value: 4 }]);
    await store.close();
    Deno.writeFileSync(segmentPath(dir, 1), new Uint8Array(5), { append: true });
    await assert.rejects(
      reopened(dir),
      /Journal ".*0000000000000001\.log" is corrupt at offset \d+: incomplete frame header/,
    );
    const recovered = await reopened(dir, { recover: true });
    assert.equal(recovered.report.lostRecords, 1);
    assert.equal(recovered.state.verbosity, 3);
    await recovered.close();
    // The later segment was moved aside, not deleted, and the HAM starts again after.
    const aside = [...Deno.readDirSync(dir)].find((e) => e.name.startsWith("recovered-"))!.name;
    const moved = [...Deno.readDirSync(`${dir}/${aside}`)].map((e) => e.name).sort();
    assert.equal(moved.length, 2, moved.join(", "));
    assert.equal(moved[0], "0000000000000001.log");
    const again = await reopened(dir);
    assert.equal(again.state.verbosity, 3);
    await again.close();
  });
});

Deno.test("StateStore.commit() rejects with ENOSPC, reloads the durable state, then works again", async () => {
  await withDir(async (dir) => {
    const ops = new FullDiskOps();
    const store = await reopened(dir, { fileOps: ops });
    await commitLives(store, 3);
    const acknowledged = structuredClone(store.state);
    const stateObject = store.state;
    const web0 = store.state.entities.get("web0")!.pid!;
    assert.ok(store.entityPids.has(web0));
    ops.full = true;
    const failing = [
      store.commit([{ t: "verbosity", value: 9 }]),
      store.commit([{ t: "remove", entity: "web0" }, { t: "state", entity: "web1", to: 7 }]),
    ];
    assert.equal(store.state.verbosity, 9); // Applied at once...
    assert.ok(!store.entityPids.has(web0));
    for (const p of failing) await assert.rejects(p, { name: "HamError", code: "ENOSPC" });
    assertSameState(store.state, acknowledged); // ...and gone once the write failed.
    assert.ok(store.entityPids.has(web0)); // The index follows the state rolled back.
    assert.equal(store.state, stateObject);
    ops.full = false;
    await store.commit([{ t: "state", entity: "web0", to: 3 }]);
    assert.equal(store.state.seq, acknowledged.seq + 1);
    const live = store.state;
    await store.close();
    assertSameState(await replayed(dir), live);
  });
});

Deno.test("StateStore.reload() keeps the records still being written", async () => {
  await withDir(async (dir) => {
    const store = await reopened(dir);
    await commitLives(store, 2);
    const pending = store.commit([{ t: "verbosity", value: 8 }]);
    await store.reload();
    assert.equal(store.state.verbosity, 8);
    await pending;
    const live = structuredClone(store.state);
    await store.reload();
    assertSameState(store.state, live);
    await store.close();
  });
});

Deno.test("StateStore.compact() folds the journal into a snapshot that replays the same", async () => {
  await withDir(async (dir) => {
    const store = await reopened(dir, { compactRecords: 20 });
    await commitLives(store, 5);
    assert.ok(store.shouldCompact());
    await store.compact();
    assert.ok(!store.shouldCompact());
    assert.equal(store.journal.sizeBytes, 0);
    const cut = store.state.seq;
    assert.deepEqual(listSnapshotsSync(dir).map((s) => s.seq), [cut]);
    await commitLives(store, 4, 10);
    await Promise.all([store.compact(), store.commit([{ t: "verbosity", value: 6 }])]);
    const live = store.state;
    await store.close();
    const again = await reopened(dir);
    assertSameState(again.state, live);
    assert.ok(again.report.snapshotSeq > cut);
    // The previous snapshot and the journal since it stay as a fallback.
    assert.deepEqual(listSnapshotsSync(dir).map((s) => s.seq), [cut, again.report.snapshotSeq]);
    assert.deepEqual(listSegmentsSync(dir)[0].firstSeq, cut + 1);
    await again.close();
  });
});

Deno.test("StateStore.open() falls back to the previous snapshot when the newest is corrupt", async () => {
  await withDir(async (dir) => {
    const store = await reopened(dir);
    await commitLives(store, 3);
    await store.compact();
    await commitLives(store, 3, 10);
    await store.compact();
    await store.commit([{ t: "verbosity", value: 7 }]);
    const live = store.state;
    const newest = listSnapshotsSync(dir).at(-1)!;
    await store.close();
    Deno.writeFileSync(newest.path, new Uint8Array(40));
    const lines: string[] = [];
    const again = await reopened(dir, { log: (_l, msg) => lines.push(msg) });
    assertSameState(again.state, live);
    assert.ok(again.report.snapshotSeq < newest.seq);
    assert.match(
      lines[0],
      /^Cannot read snapshot ".*": not a state image \(bad magic\); trying an older one$/,
    );
    await again.compact(); // Replaces the corrupt snapshot.
    await again.close();
    assertSameState(await replayed(dir), live);
  });
});

for (
  const [step, nth] of [
    ["rotated", 1],
    ["snapshot-written", 1],
    ["segment-removed", 1],
    ["segment-removed", 2],
    ["snapshot-removed", 1],
  ] as [CompactStep, number][]
) {
  Deno.test(`StateStore.compact() loses nothing when it stops after "${step}" #${nth}`, async () => {
    await withDir(async (dir) => {
      let seen = 0;
      let armed = false;
      const store = await reopened(dir, {
        onCompactStep: (s) => {
          if (armed && s === step && ++seen === nth) throw new Error(`crash after ${s}`);
        },
      });
      for (let round = 0; round < 3; round++) {
        await commitLives(store, 3, round * 10);
        await store.journal.rotate(); // Two segments per snapshot, so two are removed at once.
        await store.commit([{ t: "verbosity", value: round }]);
        armed = round === 2;
        if (armed) await assert.rejects(store.compact(), /crash after/);
        else await store.compact();
      }
      const live = store.state;
      // A crash in a durable write leaves a temp file behind; open() removes it.
      Deno.writeFileSync(
        `${snapshotPath(dir, 999)}`.replace(/([^/]+)$/, ".$1.1-1.tmp"),
        new Uint8Array(9),
      );
      await store.close();
      const again = await reopened(dir);
      assertSameState(again.state, live);
      await again.commit([{ t: "verbosity", value: 1 }]);
      await again.compact();
      const after = again.state;
      await again.close();
      const third = await reopened(dir);
      assertSameState(third.state, after);
      assert.deepEqual(
        [...Deno.readDirSync(`${dir}/snapshot`)].filter((e) => e.name.endsWith(".tmp")),
        [],
      );
      await third.close();
    });
  });
}

async function canMountTmpfs(): Promise<boolean> {
  const dir = await Deno.makeTempDir({ prefix: "ham-probe-" });
  try {
    const args = ["-t", "tmpfs", "-o", "size=64k", "tmpfs", dir];
    const mount = await new Deno.Command("mount", { args, stdout: "null", stderr: "null" })
      .output();
    if (!mount.success) return false;
    await new Deno.Command("umount", { args: [dir] }).output();
    return true;
  } catch {
    return false;
  } finally {
    await Deno.remove(dir).catch(() => {});
  }
}

const tmpfs = await canMountTmpfs();

Deno.test({
  name: "StateStore.commit() rejects with ENOSPC on a full 64 KiB tmpfs (needs root to mount)",
  ignore: !tmpfs,
  fn: async () => {
    await withDir(async (dir) => {
      const mount = ["-t", "tmpfs", "-o", "size=64k", "tmpfs", dir];
      assert.ok((await new Deno.Command("mount", { args: mount }).output()).success);
      try {
        Deno.writeFileSync(`${dir}/filler`, new Uint8Array(24 * 1024));
        const store = await reopened(`${dir}/state`);
        const big = (i: number): RecordBody[] => [
          { ...life(`big${i}`, i)[0][0], argv: ["x".repeat(3000)] } as RecordBody,
        ];
        let error: unknown;
        for (let i = 0; i < 40 && !error; i++) await store.commit(big(i)).catch((e) => error = e);
        assert.ok(error instanceof HamError, String(error));
        assert.equal(error.code, "ENOSPC");
        assert.match(error.message, /^Cannot append to journal ".*": no space left on device$/);
        const acknowledged = structuredClone(store.state);
        assert.equal(acknowledged.seq, store.journal.lastDurableSeq);
        Deno.removeSync(`${dir}/filler`);
        await store.commit(big(99));
        const live = store.state;
        assert.equal(live.seq, acknowledged.seq + 1);
        await store.close();
        const again = await reopened(`${dir}/state`);
        assertSameState(again.state, live);
        await again.close();
      } finally {
        await new Deno.Command("umount", { args: [dir] }).output();
      }
    });
  },
});

const CRASH_CHILD = `
import { StateStore } from "${new URL("../../../lib/store/state_store.ts", import.meta.url).href}";
const store = await StateStore.open(Deno.args[0], { log: () => {} });
const out = new TextEncoder();
for (let i = store.state.seq + 1; ; i++) {
  if (i % 40 === 0) store.compact().catch(() => {});
  const p = store.commit([{ t: "verbosity", value: i }]);
  if (i % 3 === 0) continue; // Some commits overlap, so batches hold several records.
  await p;
  Deno.stdout.writeSync(out.encode(i + "\\n"));
}
`;

Deno.test("StateStore replays every acknowledged record after a SIGKILL at any moment", async () => {
  await withDir(async (dir) => {
    const script = `${dir}/child.ts`;
    Deno.writeTextFileSync(script, CRASH_CHILD);
    let acked = 0;
    for (const lines of [90, 173, 260, 411]) {
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "--no-check", script, `${dir}/state`],
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      let seen = 0;
      const decoder = new TextDecoder();
      for await (const chunk of child.stdout) {
        const text = decoder.decode(chunk).trim().split("\n");
        acked = Number(text.at(-1));
        seen += text.length;
        if (seen >= lines) break;
      }
      child.kill("SIGKILL");
      await child.status;
      const state = await replayed(`${dir}/state`);
      assert.ok(state.seq >= acked, `seq ${state.seq} lost acknowledged record ${acked}`);
      assert.equal(state.verbosity, state.seq);
    }
    assert.ok(listSnapshotsSync(`${dir}/state`).length > 0, "the child never compacted");
  });
});

Deno.test("StateStore.open() says a snapshot is missing, not that the journal is corrupt", async () => {
  await withDir(async (dir) => {
    const store = await reopened(dir, { compactRecords: 20 });
    await commitLives(store, 5);
    await store.compact();
    await commitLives(store, 2, 10);
    await store.compact();
    await store.close();
    for (const snap of listSnapshotsSync(dir)) Deno.removeSync(snap.path);
    const first = listSegmentsSync(dir)[0];
    await assert.rejects(reopened(dir), (err: HamError) => {
      assert.equal(err.code, "EIO");
      assert.doesNotMatch(err.message, /corrupt/);
      assert.match(
        err.message,
        new RegExp(
          `^Journal ".*${first.path.split("/").at(-1)}" starts at seq ${first.firstSeq}, but no ` +
            `snapshot in ".*snapshot" holds the ${first.firstSeq - 1} records before it ` +
            `\\(it was deleted or is unreadable\\); start with --recover`,
        ),
      );
      return true;
    });
    // --recover moves the journal aside (nothing is deleted) and starts.
    const lines: string[] = [];
    const recovered = await reopened(dir, { recover: true, log: (_, m) => lines.push(m) });
    assert.equal(recovered.state.seq, 0);
    await recovered.commit([{ t: "verbosity", value: 4 }]);
    await recovered.close();
    const aside = [...Deno.readDirSync(dir)].find((e) => e.name.startsWith("recovered-"))!.name;
    assert.ok(Deno.readDirSync(`${dir}/${aside}`).toArray().length >= 1);
    assert.match(lines.join("\n"), /moved a copy of ".*\.log".* into ".*recovered-/);
    const again = await reopened(dir);
    assert.equal(again.state.verbosity, 4);
    await again.close();
  });
});
