/**
 * Snapshot time and size at N entities (each with a death condition holding a restart and
 * a log action): the first image (every row encoded), the HAM's image after 1% of the
 * entities changed (only those rows encoded, the rest copied), the load, the durable write,
 * and, for comparison, the JSON text snapshot of ham 0.1's first cut.
 *
 * @module
 */

import { createState } from "../lib/core/model.ts";
import { applyRecord } from "../lib/core/reducer.ts";
import { writeEncodedSnapshot } from "../lib/store/snapshot.ts";
import { loadImage, StateTables } from "../lib/store/state_tables.ts";
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

/** The JSON text snapshot that the binary image replaced, encoded and parsed back. */
function jsonRoundTrip(state: ReturnType<typeof bigState>): [number, number] {
  let t = performance.now();
  const text = JSON.stringify(state, (_k, v) => v instanceof Map ? [...v.values()] : v);
  const enc = performance.now() - t;
  t = performance.now();
  JSON.parse(text);
  return [enc, performance.now() - t];
}

/** Measures snapshot image/load/write time and size at `n` entities. */
export async function measureSnapshot(n: number, rounds: number): Promise<Figure[]> {
  const state = bigState(n);
  const dir = await Deno.makeTempDir({ prefix: "ham-snap-" });
  const first: number[] = [], delta: number[] = [], load: number[] = [], write: number[] = [];
  const jsonEnc: number[] = [], jsonDec: number[] = [];
  let size = 0;
  try {
    for (let r = 0; r < rounds; r++) {
      let t = performance.now();
      const tables = StateTables.of(state);
      let bytes = tables.image(state);
      first.push(performance.now() - t);
      const changed = [];
      for (let i = 0; i < n / 100; i++) {
        const entity = `worker-${(i * 97 + r) % n}`;
        applyRecord(state, { seq: state.seq + 1, t: "state", entity, to: r + 1 });
        changed.push(entity);
      }
      tables.touch(changed);
      t = performance.now();
      bytes = tables.image(state);
      delta.push(performance.now() - t);
      size = bytes.length;
      t = performance.now();
      loadImage(bytes);
      load.push(performance.now() - t);
      t = performance.now();
      await writeEncodedSnapshot(dir, state.seq, bytes);
      write.push(performance.now() - t);
      const [e, d] = jsonRoundTrip(state);
      jsonEnc.push(e);
      jsonDec.push(d);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  const f = (id: string, label: string, samples: number[], unit = "ms") =>
    figure({ id, label: `snapshot at ${n} entities: ${label}`, unit, target: null }, samples);
  return [
    f(`snapshot-encode-${n}`, "first image (every row encoded)", first),
    f(`snapshot-delta-${n}`, "image after 1% changed (blocks the HAM)", delta),
    f(`snapshot-decode-${n}`, "load (copy, check, read rows)", load),
    f(`snapshot-write-${n}`, "durable write (async: fsync + rename)", write),
    f(`snapshot-size-${n}`, "size", [size / 1024 / 1024], "MiB"),
    f(`snapshot-json-encode-${n}`, "JSON text encode, for comparison", jsonEnc),
    f(`snapshot-json-decode-${n}`, "JSON text parse, for comparison", jsonDec),
  ];
}
