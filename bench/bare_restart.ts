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
 * With `spawner: "posix"` (`restart.bare.posix`) the worker is started the HAM's own way
 * instead, by `posix_spawn()` through FFI (`lib/os/posix_spawn.ts`), which is quicker than
 * `Deno.Command`: the floor under the HAM's own restart, with none of its work between.
 *
 * @module
 */

import { libc, WAIT } from "../lib/os/libc.ts";
import { openPidfd } from "../lib/os/pidfd.ts";
import { posixSpawn } from "../lib/os/posix_spawn.ts";
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
  /** How the worker is started again: `Deno.Command` or `posix_spawn()`. @default {"deno"} */
  spawner?: "deno" | "posix";
}

/** A started worker: its pid, how to kill it, and its end awaited (reaped). */
interface Worker {
  pid: number;
  kill(): void;
  ended(): Promise<unknown>;
}

function denoWorker(opts: BareRestartOptions): Worker {
  const child = startWorker(opts.worker, opts.env);
  return {
    pid: child.pid,
    kill: () => {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
    },
    ended: () => child.status,
  };
}

function posixWorker(opts: BareRestartOptions): Worker {
  const lib = libc();
  const pid = posixSpawn({
    path: opts.worker[0],
    argv: opts.worker,
    env: { ...Deno.env.toObject(), ...opts.env },
    cwd: null,
    stdout: null,
    stderr: null,
  });
  lib.sched_yield(); // as the HAM's restart does (`SpawnOptions.yieldCpu`)
  return {
    pid,
    kill: () => {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* already gone */ }
    },
    // Not Deno's child: reaped here, once the kill made it exit (a blocking wait, short).
    ended: () => Promise.resolve(lib.waitid(WAIT.P_PID, pid, new Uint8Array(128), WAIT.WEXITED)),
  };
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
  const posix = opts.spawner === "posix";
  const start = () => posix ? posixWorker(opts) : denoWorker(opts);
  const samples: number[] = [];
  let child = start();
  try {
    await readStamp(opts.stampDir, child.pid);
    for (let i = 0; i < opts.samples; i++) {
      const old = child;
      const fd = openPidfd(lib, "watch", old.pid);
      try {
        const ready = pollReadable(lib, fd);
        await sleep(opts.gapMs ?? 50);
        const t0 = realtimeMs();
        old.kill();
        await ready;
        child = start();
        samples.push(await readStamp(opts.stampDir, child.pid) - t0);
      } finally {
        old.kill();
        await old.ended();
        lib.close(fd);
      }
    }
  } finally {
    child.kill();
    await child.ended();
  }
  const f = figure(
    posix
      ? {
        id: "restart.bare.posix",
        label: "SIGKILL → restarted by a bare loop (pidfd poll + posix_spawn, this process)",
        unit: "ms",
        target: null,
        note: "the floor under the HAM's restart: the death seen, then the HAM's own spawn",
      }
      : {
        id: "restart.bare",
        label: "SIGKILL → restarted by a bare loop (pidfd poll + Deno.Command, this process)",
        unit: "ms",
        target: null,
        note: "the floor under a restart: the death seen, then the spawn floor's spawn",
      },
    samples,
  );
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
