/**
 * Measurement 2: SIGKILL → the restarted process running.
 *
 * One entity runs the stamping worker under a rearmed `death` condition whose rearmed
 * `restart` action starts the worker again. Each sample takes the `CLOCK_REALTIME`
 * instant right before `kill(pid, SIGKILL)` and compares it with the instant the new
 * worker stamped when it started running (same clock, microsecond resolution), so the
 * figure includes neither the event's delivery nor any polling.
 *
 * @module
 */

import { realtimeMs } from "./clock.ts";
import type { BenchHam } from "./bench_ham.ts";
import { EventTap } from "./event_tap.ts";
import { sleep } from "./sleep.ts";
import { readStamp } from "./stamp_helper.ts";
import { type Figure, figure } from "./stats.ts";

/** Options of {@linkcode measureRestart}. */
export interface RestartOptions {
  /** The stamping worker command, stamping into `stampDir`. */
  worker: string[];
  /** Where the worker writes its stamps. */
  stampDir: string;
  /** Number of samples. */
  samples: number;
  /** Idle time before each kill, in ms. @default {50} */
  gapMs?: number;
  /** The entity's name. @default {"restarter"} */
  entity?: string;
}

/**
 * The policy of the benches' restart actions: they kill a worker far faster than the
 * default policy allows (5 restarts in 10 s, backing off from 100 ms), and measure the
 * restart path, not the policy.
 */
export const UNLIMITED_RESTARTS = { backoffMs: 0, intensity: 0 };

/** Measures SIGKILL → restarted worker running. */
export async function measureRestart(h: BenchHam, opts: RestartOptions): Promise<Figure> {
  const name = opts.entity ?? "restarter";
  await using tap = await EventTap.open(h.stateDir);
  const entity = await h.ham.attach(name, { argv: opts.worker });
  const death = await entity.condition("death", "death", { flags: ["rearm"] });
  await death.restart("restart", { flags: ["rearm"], policy: UNLIMITED_RESTARTS });
  let pid = entity.pid!;
  await readStamp(opts.stampDir, pid);
  const samples: number[] = [];
  for (let i = 0; i < opts.samples; i++) {
    await sleep(opts.gapMs ?? 50);
    tap.drain();
    const t0 = realtimeMs();
    Deno.kill(pid, "SIGKILL");
    const r = await tap.next((ev) => ev.type === "restart" && ev.entity === name);
    pid = r.event.detail!.pid as number;
    samples.push(await readStamp(opts.stampDir, pid) - t0);
  }
  return figure({
    id: "restart.running",
    label: "SIGKILL → restarted process running",
    unit: "ms",
    target: {
      median: 1.5,
      p95: 3,
      text: "median ≤ 1.5, p95 ≤ 3 ms",
      others: "fork+exec 0.48, C supervisor 0.90, runit 2.0, s6 2.3, PM2 5.8, monit 751, " +
        "supervisord 1008 ms",
    },
    note: "the new process's own CLOCK_REALTIME stamp minus the kill instant",
  }, samples);
}
