/**
 * Measurement: event delivery to a subscriber. One connection raises a condition about a
 * placeholder entity (`raise`); another connection of the same process follows the
 * event stream. Each sample is the time from just before the raise request is sent to
 * the subscriber receiving the `raise` event, both read from this process's
 * `performance.now()` (the events' own `at` has only millisecond resolution). Samples are
 * sequential: one raise in flight.
 *
 * @module
 */

import { connect } from "../lib/client/ham.ts";
import type { BenchHam } from "./bench_ham.ts";
import { type Figure, figure } from "./stats.ts";

const ENTITY = "event-latency";

/** Measures raise sent → raise event received over `samples` samples (after a warm-up). */
export async function measureEventLatency(h: BenchHam, samples: number): Promise<Figure> {
  await using raiser = await connect({ stateDir: h.stateDir, client: "bench-raise" });
  await using subscriber = await connect({ stateDir: h.stateDir, client: "bench-events" });
  await raiser.entity(ENTITY);
  const events = await subscriber.subscribe({ entity: ENTITY });
  const warmup = Math.min(50, samples);
  const latencies: number[] = [];
  for (let i = 0; i < warmup + samples; i++) {
    const t0 = performance.now();
    const sent = raiser.raise(ENTITY, { rtype: 1 + (i % 1000) });
    for (;;) {
      const r = await events.next();
      if (r.done) throw new Error("The event stream ended");
      if (r.value.type === "raise" && r.value.detail?.rtype === 1 + (i % 1000)) break;
    }
    const t1 = performance.now();
    await sent;
    if (i >= warmup) latencies.push(t1 - t0);
  }
  return figure({
    id: "event.latency",
    label: "raise sent → subscriber received the event",
    unit: "ms",
    target: null,
    note: "two connections of one process, performance.now(); one raise in flight",
  }, latencies);
}
