/**
 * Measurement: how late missed-high is detected, against its deadline. Heartbeat time is
 * quantized (QNX §3): the HAM's periods run from the attach, and an entity with period P
 * and high H whose last beat arrived in the period ending at E is due to be reported at
 * E + H·P exactly. Each sample attaches one sleeper process by pid as an entity of its own
 * (a process is one self-attached entity at most, and this one is the HAM's ancestor,
 * which may not be attached), beats it by name every P/4 for 2–3 periods (one connection
 * for all, as a process with many components would), stops after a
 * beat sent in the middle of a period (at a random point of its middle 40 %), and times
 * the `heartbeat` event of its missed-high crossing as this process receives it (µs
 * resolution, `CLOCK_REALTIME`, the clock of the HAM's `Date.now()`).
 *
 * The period origin is the instant the answer to the attach arrives: the HAM starts its
 * period clock just before it answers, so the origin taken is late by the answer's
 * delivery (a fraction of a millisecond) and the lateness slightly understated; it
 * includes the event's delivery to the subscriber, which overstates it by about as much.
 * Samples run ten at a time, each with its own entity.
 *
 * @module
 */

import { connect, type Ham } from "../lib/client/ham.ts";
import type { BenchHam } from "./bench_ham.ts";
import { realtimeMs } from "./clock.ts";
import { EventTap } from "./event_tap.ts";
import { sleep } from "./sleep.ts";
import { type Figure, figure } from "./stats.ts";

const PERIOD_MS = 100;
const HIGH = 3;
/** Samples running at once (each its own entity and period phase). */
const BATCH = 10;

/**
 * One sample: attach, beat, stop, wait for missed-high; the lateness in ms, or null when
 * the last beat could not be placed in the period it was meant for.
 */
async function sample(
  ham: Ham,
  tap: EventTap,
  name: string,
  pid: number,
): Promise<number | null> {
  await ham.attach(name, { pid }, {
    heartbeat: { periodMs: PERIOD_MS, low: 0, high: HIGH },
  });
  // The HAM starts its period clock just before it answers the attach.
  const origin = realtimeMs();
  const period = (t: number) => Math.floor((t - origin) / PERIOD_MS);
  // The last beat goes out in the middle of period 2 or 3 (counting from 0), well clear of
  // its ends, so that which period the HAM counts it in is not in doubt.
  const last = 2 + Math.floor(Math.random() * 2);
  const lastAt = origin + (last + 0.3 + 0.4 * Math.random()) * PERIOD_MS;
  let sent: number, answered: number;
  do {
    sent = realtimeMs();
    await ham.heartbeat(name);
    answered = realtimeMs();
    if (answered < lastAt) await sleep(Math.min(PERIOD_MS / 4, lastAt - answered));
  } while (answered < lastAt);
  const ev = await tap.next(
    (e) => e.type === "heartbeat" && e.entity === name && e.detail?.condition === "hb-missed-high",
  );
  await ham.detach(name);
  if (period(sent) !== last || period(answered) !== last) return null;
  return ev.receivedMs - (origin + (last + 1 + HIGH) * PERIOD_MS);
}

/** Measures missed-high detection lateness over `samples` samples. */
export async function measureHeartbeatLateness(h: BenchHam, samples: number): Promise<Figure> {
  await using tap = await EventTap.open(h.stateDir);
  await using ham = await connect({ stateDir: h.stateDir, client: "bench-beats" });
  await using stack = new AsyncDisposableStack();
  const sleeper = new Deno.Command("/bin/sleep", {
    args: ["1000"],
    env: { HAM_STATE_DIR: h.stateDir },
    stdin: "null",
  }).spawn();
  stack.defer(async () => {
    sleeper.kill("SIGKILL");
    await sleeper.status;
  });
  const lateness: number[] = [];
  for (let done = 0; done < samples; done += BATCH) {
    const n = Math.min(BATCH, samples - done);
    const batch = Array.from(
      { length: n },
      (_, i) => sample(ham, tap, `late-${done + i}`, sleeper.pid),
    );
    for (const l of await Promise.all(batch)) if (l !== null) lateness.push(l);
  }
  return figure({
    id: "heartbeat.lateness",
    label: `missed-high detected after its deadline (P ${PERIOD_MS} ms, high ${HIGH})`,
    unit: "ms",
    target: null,
    note: "event received − (end of the period of the last beat + high × P), the period " +
      "origin taken when the attach answer arrived; includes delivery to the subscriber",
  }, lateness);
}
