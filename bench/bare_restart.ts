/**
 * The floor under a restart, measured as one sequence: the bench itself is the smallest
 * supervisor Deno allows. It starts the stamping worker, waits on its pidfd with one
 * `poll()` on the thread pool (as the HAM's watcher does), and once the SIGKILL made it
 * readable starts the worker again with `Deno.Command` (the spawn floor's way). Each sample
 * is the instant before the kill → the instant the new worker stamped: the death seen,
 * the process started, nothing else (no journal, no condition, no Guardian).
 *
 * The ratio is to the spawn floor alone; this is what a restart also contains
 * (seeing the death first), measured rather than summed from the two floors.
 *
 * @module
 */

import { libc } from "../lib/os/libc.ts";
import { openPidfd } from "../lib/os/pidfd.ts";
import { realtimeMs } from "./clock.ts";
import { sleep } from "./sleep.ts";
import { pollReadable } from "./pidfd_floor.ts";
import { readStamp, startWorker } from "./stamp_helper.ts";
import { type Figure, figure } from "./stats.ts";

/** Options of {@linkcode measureBareRestart}. */
export interface BareRestartOptions {
  /** The stamping worker command, stamping into `stampDir`. */
  worker: string[];
  /** Where the worker writes its stamps. */
  stampDir: string;
  /** Number of samples. */
  samples: number;
  /** Environment of the workers (so a cleanup can find a leftover). @default {none} */
  env?: Record<string, string>;
  /** Idle time before each kill, in ms. @default {50} */
  gapMs?: number;
}

/**
 * Measures SIGKILL → restarted worker running, restarted by this process. `restart`, when
 * given, is the HAM's figure of the same run: its note says how far it is from this floor.
 */
export async function measureBareRestart(
  opts: BareRestartOptions,
  restart?: Figure,
): Promise<Figure> {
  const lib = libc();
  const samples: number[] = [];
  let child = startWorker(opts.worker, opts.env);
  try {
    await readStamp(opts.stampDir, child.pid);
    for (let i = 0; i < opts.samples; i++) {
      const old = child;
      const fd = openPidfd(lib, "watch", old.pid);
      try {
        const ready = pollReadable(lib, fd);
        await sleep(opts.gapMs ?? 50);
        const t0 = realtimeMs();
        old.kill("SIGKILL");
        await ready;
        child = startWorker(opts.worker, opts.env);
        samples.push(await readStamp(opts.stampDir, child.pid) - t0);
      } finally {
        try {
          old.kill("SIGKILL");
        } catch { /* killed above */ }
        await old.status;
        lib.close(fd);
      }
    }
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await child.status;
  }
  const f = figure({
    id: "restart.bare",
    label: "SIGKILL → restarted by a bare loop (pidfd poll + Deno.Command, this process)",
    unit: "ms",
    target: null,
    note: "the floor under a restart: the death seen, then the spawn floor's spawn",
  }, samples);
  if (!restart) return f;
  const ratio = restart.median / f.median;
  const p95 = restart.p95 / f.median;
  return {
    ...f,
    note: `${f.note}; the HAM's restart is ${ratio.toFixed(2)}× this (p95 ${p95.toFixed(2)}×, +${
      (restart.median - f.median).toFixed(2)
    } ms)`,
  };
}
