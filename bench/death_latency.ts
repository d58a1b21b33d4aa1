/**
 * Measurement 1: SIGKILL of a monitored process → its death condition fired.
 *
 * Each sample attaches a fresh stamping worker with a `death` condition (one log action,
 * below the HAM's verbosity, so nothing is written), lets the HAM go idle, takes the
 * `CLOCK_REALTIME` instant right before `kill(pid, SIGKILL)`, and waits for the
 * `condition` event. Two readings of the same instant:
 *
 * - when the subscriber received the event: an upper bound that includes the delivery
 *   (JSON over the socket and the client's read loop);
 * - the HAM's own stamp of the event (`at`, the wall clock to the microsecond, taken as the
 *   condition fires): the figure itself, the one held against the pidfd floor (same clock
 *   as the kill instant; `lib/os/wall_clock.ts`).
 *
 * The `death` event that comes before it is timed too: it shows how much of the figure
 * is the detection of the exit and how much the HAM's work before it fires.
 *
 * @module
 */

import { realtimeMs } from "./clock.ts";
import type { BenchHam } from "./bench_ham.ts";
import { EventTap } from "./event_tap.ts";
import { sleep } from "./sleep.ts";
import { type Figure, figure } from "./stats.ts";

/** Options of {@linkcode measureDeath}. */
export interface DeathOptions {
  /** The worker command (a stamping worker or any long sleeper). */
  worker: string[];
  /** Number of samples. */
  samples: number;
  /** Idle time before each kill, in ms. @default {50} */
  gapMs?: number;
}

/**
 * Measures SIGKILL → death condition fired; returns the two readings as figures, and a
 * third one that splits the first: SIGKILL → the `death` event received (the HAM emits it
 * as soon as it learns of the exit, before acting on it).
 */
export async function measureDeath(h: BenchHam, opts: DeathOptions): Promise<Figure[]> {
  await using tap = await EventTap.open(h.stateDir);
  const received: number[] = [];
  const stamped: number[] = [];
  const detected: number[] = [];
  for (let i = 0; i < opts.samples; i++) {
    const name = `death-${i}`;
    const entity = await h.ham.attach(name, { argv: opts.worker });
    const death = await entity.condition("death", "death");
    await death.log("note", "died", { verbosity: 9 });
    await sleep(opts.gapMs ?? 50);
    tap.drain();
    const t0 = realtimeMs();
    Deno.kill(entity.pid!, "SIGKILL");
    const d = await tap.next((ev) => ev.type === "death" && ev.entity === name);
    const r = await tap.next((ev) =>
      ev.type === "condition" && ev.entity === name && ev.detail?.event === "death"
    );
    detected.push(d.receivedMs - t0);
    received.push(r.receivedMs - t0);
    stamped.push(r.event.at - t0);
  }
  const others = "s6 1.4, PM2 1.9, runit 2.0 ms";
  return [
    figure({
      id: "death.detected",
      label: "SIGKILL → death event received",
      unit: "ms",
      target: null,
      note: "the exit as the HAM first reports it, before it journals the death and fires; " +
        "includes delivery",
    }, detected),
    figure({
      id: "death.received",
      label: "SIGKILL → death condition fired, event received",
      unit: "ms",
      target: null,
      note: "upper bound: includes delivery to the subscriber (a wake-up of another process)",
    }, received),
    figure({
      id: "death.stamped",
      label: "SIGKILL → death condition fired, HAM's stamp",
      unit: "ms",
      target: { median: 1, text: "≤ 1 ms", others },
      note: "the HAM's stamp of the condition event (µs) minus the kill instant",
    }, stamped),
  ];
}
