/**
 * Snapshot time and size at N entities (each with a death condition holding a restart and
 * a log action): encode, decode, and the durable write.
 *
 * @module
 */

import { createState } from "../lib/model.ts";
import { applyRecord } from "../lib/reducer.ts";
import { decodeState, encodeState, writeSnapshot } from "../lib/snapshot.ts";
import { type Figure, figure } from "./stats.ts";

/** Builds a state of `n` entities through the reducer. */
function bigState(n: number) {
  const s = createState();
  let seq = 1;
  for (let i = 0; i < n; i++) {
    const entity = `worker-${i}`;
    applyRecord(s, {
      seq: seq++,
      t: "attach",
      entity,
      kind: "attached",
      pid: 10_000 + i,
      startTime: String(123456 + i),
      argv: ["/usr/bin/worker", "--id", String(i)],
      cwd: "/srv",
      env: null,
      spawnId: crypto.randomUUID(),
      spawned: true,
      flags: 0,
      heartbeat: null,
      at: Date.now(),
    });
    applyRecord(s, {
      seq: seq++,
      t: "cond-add",
      entity,
      condition: "death",
      type: "death",
      flags: 1,
      match: null,
    });
    applyRecord(s, {
      seq: seq++,
      t: "action-add",
      entity,
      condition: "death",
      action: "restart",
      flags: 1,
      params: { kind: "restart", argv: null, policy: null },
    });
    applyRecord(s, {
      seq: seq++,
      t: "action-add",
      entity,
      condition: "death",
      action: "note",
      flags: 1,
      params: { kind: "log", message: `${entity} died`, prefix: true, verbosity: 1 },
    });
  }
  return s;
}

/** Measures snapshot encode/decode/write time and size at `n` entities. */
export async function measureSnapshot(n: number, rounds: number): Promise<Figure[]> {
  const state = bigState(n);
  const dir = await Deno.makeTempDir({ prefix: "ham-snap-" });
  const enc: number[] = [], dec: number[] = [], write: number[] = [];
  let size = 0;
  try {
    for (let r = 0; r < rounds; r++) {
      let t = performance.now();
      const bytes = encodeState(state);
      enc.push(performance.now() - t);
      size = bytes.length;
      t = performance.now();
      decodeState(bytes);
      dec.push(performance.now() - t);
      t = performance.now();
      await writeSnapshot(dir, state);
      write.push(performance.now() - t);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  const f = (id: string, label: string, samples: number[], unit = "ms") =>
    figure({ id, label: `snapshot at ${n} entities: ${label}`, unit, target: null }, samples);
  return [
    f(`snapshot-encode-${n}`, "encode", enc),
    f(`snapshot-decode-${n}`, "decode (load)", dec),
    f(`snapshot-write-${n}`, "durable write (encode + fsync + rename)", write),
    f(`snapshot-size-${n}`, "size", [size / 1024 / 1024], "MiB"),
  ];
}
