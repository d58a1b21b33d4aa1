/**
 * The floor under measurement 2: the bench itself starts the stamping worker with
 * `Deno.Command` (as the HAM does) and compares the instant before `spawn()` with the
 * instant the worker stamped. No supervisor can restart faster than this on this machine
 * with this runtime; the fork+exec floor (0.48 ms) is C's.
 *
 * @module
 */

import { realtimeMs } from "./clock.ts";
import { sleep } from "./sleep.ts";
import { readStamp, startWorker } from "./stamp_helper.ts";
import { type Figure, figure } from "./stats.ts";

/** Options of {@linkcode measureSpawnFloor}. */
export interface SpawnFloorOptions {
  /** The stamping worker command, stamping into `stampDir`. */
  worker: string[];
  /** Where the worker writes its stamps. */
  stampDir: string;
  /** Number of samples. */
  samples: number;
  /** Environment of the workers (so a cleanup can find a leftover). @default {none} */
  env?: Record<string, string>;
  /** Idle time before each spawn, in ms. @default {20} */
  gapMs?: number;
}

/** Measures spawn → worker running, from the bench process. */
export async function measureSpawnFloor(opts: SpawnFloorOptions): Promise<Figure> {
  const samples: number[] = [];
  for (let i = 0; i < opts.samples; i++) {
    await sleep(opts.gapMs ?? 20);
    const t0 = realtimeMs();
    const child = startWorker(opts.worker, opts.env);
    try {
      samples.push(await readStamp(opts.stampDir, child.pid) - t0);
    } finally {
      child.kill("SIGKILL");
      await child.status;
    }
  }
  return figure({
    id: "restart.floor",
    label: "spawn → process running (Deno.Command floor)",
    unit: "ms",
    target: null,
    note: "same worker and clock, spawned by the bench itself: fork+exec (C) is 0.48 ms",
  }, samples);
}
