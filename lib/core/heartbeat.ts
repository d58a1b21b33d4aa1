/**
 * Heartbeat accounting (QNX §3), pure. Time is quantized to periods: at the end of each
 * period the HAM looks whether at least one beat arrived during it; a period without a
 * beat is a miss. `missed` counts consecutive misses and a beat resets it to 0. Crossing
 * `low` fires `hb-missed-low` once and crossing `high` fires `hb-missed-high` once; the
 * health then stays latched until a heartbeat-healthy action or a restart. A threshold
 * of 0 disables that condition; low = high fires both at the same period end.
 *
 * @module
 */

import type { HeartbeatHealth, HeartbeatSpec } from "./model.ts";

/** Heartbeat state of one entity. */
export interface BeatState {
  missed: number;
  health: HeartbeatHealth;
}

/** What a period end produced. */
export interface TickResult {
  next: BeatState;
  /** Conditions to fire, in order. */
  fire: Array<"hb-missed-low" | "hb-missed-high">;
}

const RANK: Record<HeartbeatHealth, number> = { "healthy": 0, "missed-low": 1, "missed-high": 2 };

/** Evaluates the end of one period. */
export function tick(spec: HeartbeatSpec, s: BeatState, beatSeen: boolean): TickResult {
  if (beatSeen) return { next: { missed: 0, health: s.health }, fire: [] };
  const missed = s.missed + 1;
  const fire: TickResult["fire"] = [];
  let health = s.health;
  if (spec.low > 0 && missed >= spec.low && RANK[health] < RANK["missed-low"]) {
    fire.push("hb-missed-low");
    health = "missed-low";
  }
  if (spec.high > 0 && missed >= spec.high && RANK[health] < RANK["missed-high"]) {
    fire.push("hb-missed-high");
    health = "missed-high";
  }
  return { next: { missed, health }, fire };
}

/** The end of the period containing `t`, for periods starting at `origin`. */
export function periodEnd(origin: number, periodMs: number, t: number): number {
  const n = Math.floor((t - origin) / periodMs) + 1;
  return origin + n * periodMs;
}

/**
 * True when a heartbeat fires no condition: both thresholds are 0 (QNX 7.1 lets either be
 * 0 to disable its condition). Missed periods are still counted (`status` shows them).
 */
export function firesNothing(spec: HeartbeatSpec): boolean {
  return spec.low === 0 && spec.high === 0;
}

/** What `hamctl` and the HAM's log say of a heartbeat that {@linkcode firesNothing}. */
export function firesNothingNote(entity: string, spec: HeartbeatSpec): string {
  return `Entity "${entity}" has a heartbeat every ${spec.periodMs} ms with neither a low nor ` +
    `a high threshold: a missed beat fires no condition (missed periods are only counted)`;
}
