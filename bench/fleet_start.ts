/**
 * Measurement 7: time for 100 configured processes to be running: from the first of 100
 * concurrent `attach` requests to the last answer (the HAM answers once it has spawned the
 * process and journaled the attach). Each run attaches a new fleet to a HAM with none,
 * then detaches and kills it.
 *
 * @module
 */

import type { BenchHam } from "./bench_ham.ts";
import { attachSleepers } from "./fleet.ts";
import { sleep } from "./sleep.ts";
import { type Figure, figure } from "./stats.ts";

/** Measures `runs` starts of a fleet of `count` sleepers. */
export async function measureFleetStart(
  h: BenchHam,
  count: number,
  runs: number,
): Promise<Figure> {
  const samples: number[] = [];
  for (let run = 0; run < runs; run++) {
    const names = Array.from({ length: count }, (_, i) => `fleet-${run}-${i}`);
    await sleep(300);
    const t0 = performance.now();
    const pids = await attachSleepers(h.ham, names, count);
    samples.push(performance.now() - t0);
    await Promise.all(names.map((n) => h.ham.detach(n)));
    for (const pid of pids) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* gone */ }
    }
  }
  return figure({
    id: "fleet.start",
    label: `${count} configured processes running`,
    unit: "ms",
    target: count === 100
      ? { median: 100, text: "≤ 100 ms", others: "runit 123, s6 132, PM2 866 ms" }
      : null,
    note: `${count} concurrent attach requests, first sent → last answered`,
  }, samples);
}
