import assert from "node:assert/strict";
import { HREARMAFTERRESTART } from "../../../lib/core/flags.ts";
import { createState, type HamState, newEntity } from "../../../lib/core/model.ts";
import {
  decodeState,
  encodeState,
  listSnapshotsSync,
  readLatestSnapshotSync,
  snapshotPath,
  writeSnapshot,
} from "../../../lib/store/snapshot.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ham-snapshot-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function sampleState(seq: number): HamState {
  const state = createState();
  state.seq = seq;
  state.lastTakeover = 1234;
  for (const name of ["zeta", "alpha", "mid"]) {
    const e = newEntity(name, "attached", 100);
    e.pid = 4000 + name.length;
    e.argv = ["/usr/bin/" + name, "--flag"];
    e.env = { NAME: name };
    e.heartbeat = { periodMs: 500, low: 2, high: 5 };
    e.lastExit = { pid: 10, code: null, signal: "SIGKILL", at: 99 };
    for (const c of ["death", "abnormal", "attach"]) {
      e.conditions.set(c, {
        name: c,
        type: "death",
        flags: HREARMAFTERRESTART,
        enabled: true,
        match: c === "attach" ? { from: 1, to: 2 } : null,
        fired: 3,
        actions: [{
          name: "restart",
          flags: 0,
          enabled: false,
          params: { kind: "restart", argv: null, policy: null },
          runs: 1,
          failures: 0,
          fails: [{
            name: "log",
            params: { kind: "log", message: "x", prefix: true, verbosity: 1 },
            runs: 0,
            failures: 0,
          }],
        }],
      });
    }
    state.entities.set(name, e);
  }
  return state;
}

Deno.test("decodeState() gives back what encodeState() took, Map order included", () => {
  const state = sampleState(42);
  const back = decodeState(encodeState(state));
  assert.deepEqual(back, state);
  assert.deepEqual([...back.entities.keys()], ["@global", "zeta", "alpha", "mid"]);
  assert.deepEqual([...back.entities.get("zeta")!.conditions.keys()], [
    "death",
    "abnormal",
    "attach",
  ]);
  assert.ok(back.entities.get("zeta")!.conditions instanceof Map);
});

Deno.test("decodeState() refuses a flipped byte, a bad header and a short file", () => {
  const bytes = encodeState(sampleState(7));
  const flipped = bytes.slice();
  flipped[bytes.length - 5] ^= 1;
  assert.throws(() => decodeState(flipped), {
    code: "EIO",
    message: "Cannot load state image: bad checksum of row 4",
  });
  const magic = bytes.slice();
  magic[0] = 0;
  assert.throws(() => decodeState(magic), /bad magic/);
  const header = bytes.slice();
  header[40] ^= 1; // In the index.
  assert.throws(() => decodeState(header), /bad header checksum/);
  const version = bytes.slice();
  version[4] = 9;
  assert.throws(() => decodeState(version), /unsupported version 9/);
  assert.throws(
    () => decodeState(bytes.subarray(0, bytes.length - 1)),
    /the rows are \d+ bytes, the header says/,
  );
  assert.throws(() => decodeState(bytes.subarray(0, 3)), /shorter than the header/);
});

Deno.test("writeSnapshot() writes snapshot/<16-digit seq>.snap and leaves no temp file", async () => {
  await withDir(async (dir) => {
    const path = await writeSnapshot(dir, sampleState(12));
    assert.equal(path, `${dir}/snapshot/0000000000000012.snap`);
    assert.deepEqual([...Deno.readDirSync(`${dir}/snapshot`)].map((e) => e.name), [
      "0000000000000012.snap",
    ]);
    assert.deepEqual(decodeState(Deno.readFileSync(path)), sampleState(12));
  });
});

Deno.test("readLatestSnapshotSync() reads the newest snapshot, or null when there is none", async () => {
  await withDir(async (dir) => {
    assert.equal(readLatestSnapshotSync(dir), null);
    await writeSnapshot(dir, sampleState(3));
    await writeSnapshot(dir, sampleState(20));
    await writeSnapshot(dir, sampleState(9));
    assert.deepEqual(listSnapshotsSync(dir).map((s) => s.seq), [3, 9, 20]);
    const latest = readLatestSnapshotSync(dir);
    assert.equal(latest?.seq, 20);
    assert.deepEqual(latest?.state, sampleState(20));
  });
});

Deno.test("readLatestSnapshotSync() falls back to an older snapshot when the newest is corrupt", async () => {
  await withDir(async (dir) => {
    await writeSnapshot(dir, sampleState(5));
    await writeSnapshot(dir, sampleState(8));
    const path = snapshotPath(dir, 8);
    const bytes = Deno.readFileSync(path);
    Deno.writeFileSync(path, bytes.subarray(0, bytes.length >> 1));
    const lines: string[] = [];
    const latest = readLatestSnapshotSync(dir, (_level, msg) => lines.push(msg));
    assert.equal(latest?.seq, 5);
    assert.deepEqual(latest?.state, sampleState(5));
    assert.equal(lines.length, 1);
    assert.match(
      lines[0],
      /^Cannot read snapshot ".*0000000000000008\.snap": .*; trying an older one$/,
    );
  });
});

Deno.test("readLatestSnapshotSync() skips a snapshot whose seq is not its name", async () => {
  await withDir(async (dir) => {
    await writeSnapshot(dir, sampleState(5));
    Deno.writeFileSync(snapshotPath(dir, 6), encodeState(sampleState(4)));
    const lines: string[] = [];
    assert.equal(readLatestSnapshotSync(dir, (_l, msg) => lines.push(msg))?.seq, 5);
    assert.match(lines[0], /it holds seq 4/);
  });
});
