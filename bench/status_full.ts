/**
 * A full status request at scale: the library round trip of `status` with no path (every
 * entity), against a floor measured in the same run: `JSON.parse` of the same answer in
 * this process (what any client of a JSON protocol pays for it, without the HAM's part).
 *
 * @module
 */

import type { Ham } from "../lib/client/ham.ts";
import { type Figure, figure, withFloor } from "./stats.ts";

/** Measures `samples` full status requests of a HAM with `entities` entities. */
export async function measureFullStatus(
  ham: Ham,
  entities: number,
  samples: number,
): Promise<Figure[]> {
  const rounds: number[] = [];
  const parse: number[] = [];
  let bytes = 0;
  for (let i = 0; i < samples + 2; i++) {
    const t0 = performance.now();
    const view = await ham.client.request("status", { path: null });
    const t1 = performance.now();
    const text = JSON.stringify({ id: 1, ok: true, result: view });
    bytes = text.length;
    const t2 = performance.now();
    JSON.parse(text);
    const t3 = performance.now();
    if (i < 2) continue; // Warm-up.
    rounds.push(t1 - t0);
    parse.push(t3 - t2);
  }
  const count = entities.toLocaleString("en-US");
  const floor = figure({
    id: `status.full_floor_${entities}`,
    label: `JSON.parse of the same answer (${(bytes / 1048576).toFixed(1)} MiB), this process`,
    unit: "ms",
    target: null,
  }, parse);
  const full = figure({
    id: `status.full_${entities}`,
    label: `full status request (library round trip), ${count} entities`,
    unit: "ms",
    target: entities === 10_000 ? { median: 20, text: "≤ 20 ms" } : null,
  }, rounds);
  return [floor, withFloor(full, floor)];
}
