/**
 * The status mirror's cost of one change (issue 10): with `entities` entities, each with a
 * condition and an action (so 3 × `entities` files), the time one change to one entity
 * takes to reach the mirror directory, rendered and written the way the HAM does it
 * (`StatusMirror`), against the whole-tree rendering the HAM did before (every entity's
 * view and files rendered again, then diffed against what was written).
 *
 * @module
 */

import { createState, type HamState } from "../lib/core/model.ts";
import type { HamRecord, RecordBody } from "../lib/core/records.ts";
import { applyRecord, touchedEntities } from "../lib/core/reducer.ts";
import { statusFiles } from "../lib/core/status_text.ts";
import type { Clock } from "../lib/os/clock.ts";
import { writeStatusTree } from "../lib/daemon/status_files.ts";
import { StatusMirror } from "../lib/daemon/status_mirror.ts";
import { type Figure, figure } from "./stats.ts";

const INFO = { hamPid: Deno.pid, guardianPid: null, startedAt: Date.now() };
/** No coalescing delay: the figure is the write alone. */
const NOW: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  sleep: () => Promise.resolve(true),
};

function tree(entities: number, onTouched: (names: string[]) => void): HamState {
  const state = createState();
  let seq = 0;
  const apply = (r: RecordBody) => {
    const rec = { ...r, seq: ++seq } as HamRecord;
    applyRecord(state, rec);
    onTouched(touchedEntities(rec));
  };
  for (let i = 0; i < entities; i++) {
    const entity = `e${i}`;
    apply({ t: "entity", entity, flags: 0, at: 0 });
    apply({ t: "cond-add", entity, condition: "death", type: "death", flags: 1, match: null });
    apply({
      t: "action-add",
      entity,
      condition: "death",
      action: "note",
      flags: 1,
      params: { kind: "log", message: "died", prefix: true, verbosity: 1 },
    });
  }
  return state;
}

/**
 * Measures `changes` changes (a state change of one entity each) at `entities` entities:
 * the mirror as the HAM keeps it now, and the whole-tree rendering it replaced.
 */
export async function measureMirrorChange(entities: number, changes: number): Promise<Figure[]> {
  const dir = await Deno.makeTempDir({ prefix: "ham-bench-mirror-" });
  try {
    let mirror: StatusMirror | null = null;
    const state = tree(entities, (names) => mirror?.touch(names));
    mirror = new StatusMirror({
      dir: `${dir}/now`,
      state: () => state,
      info: () => INFO,
      clock: NOW,
      log: () => {},
    });
    await mirror.schedule(); // The first, full write.
    const known = new Map<string, string>();
    await writeStatusTree(`${dir}/before`, statusFiles(state, INFO), known);
    let seq = 1e9;
    const change = (i: number) => {
      const r = { t: "state", entity: `e${(i * 7919) % entities}`, to: i, seq: ++seq } as const;
      applyRecord(state, r);
      mirror!.touch(touchedEntities(r));
    };
    const now: number[] = [];
    const before: number[] = [];
    for (let i = 0; i < changes; i++) {
      change(i);
      let t0 = performance.now();
      await mirror.schedule();
      now.push(performance.now() - t0);
      t0 = performance.now();
      await writeStatusTree(`${dir}/before`, statusFiles(state, INFO), known);
      before.push(performance.now() - t0);
    }
    await mirror.close();
    const n = entities.toLocaleString("en-US");
    return [
      figure({
        id: "status.change",
        label: `Status mirror: one change with ${n} entities (${3 * entities} files)`,
        unit: "ms",
        target: null,
        note: "the touched entity's files and the top .info rendered and written",
      }, now),
      figure({
        id: "status.change_full",
        label: `… the same change rendered over the whole tree (before)`,
        unit: "ms",
        target: null,
        note: "every entity rendered again, then diffed with what was written",
      }, before),
    ];
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  const entities = Number(Deno.args[0] ?? 10_000);
  for (const f of await measureMirrorChange(entities, Number(Deno.args[1] ?? 20))) {
    console.log(`${f.id}: median ${f.median.toFixed(2)} ${f.unit}, p95 ${f.p95.toFixed(2)}`);
  }
}
