/**
 * Restart-storm protection, pure: given a policy, the times of recent restarts and now,
 * decides whether a restart goes ahead at once, after a backoff, or is held back by the
 * intensity limit. A restart action without a policy of its own gets
 * {@linkcode POLICY_DEFAULTS} (the engine passes it): 5 starts within 10 s, the second and
 * later ones in the window after a doubling backoff from 100 ms; `--intensity 0` lifts the
 * limit and `--backoff 0` the backoff. With no policy at all the answer is "at once".
 *
 * @module
 */

import type { RestartPolicy } from "./model.ts";
import { DEFAULTS } from "./defaults.ts";

/** What to do about a restart. */
export type RestartDecision =
  | { kind: "now" }
  | { kind: "backoff"; delayMs: number }
  | { kind: "limit"; count: number; reason: string };

/** The defaults of a restart policy's fields, from {@linkcode DEFAULTS}. */
export const POLICY_DEFAULTS: Readonly<RestartPolicy> = Object.freeze({
  backoffMs: DEFAULTS.restartBackoffMs,
  maxBackoffMs: DEFAULTS.restartMaxBackoffMs,
  jitter: DEFAULTS.restartJitter,
  intensity: DEFAULTS.restartIntensity,
  windowMs: DEFAULTS.restartWindowMs,
  cooldownMs: DEFAULTS.restartCooldownMs,
});

/**
 * Decides a restart. `recent` are restart times (ms); `random` is in [0, 1).
 * The k-th restart within the window (k ≥ 1) waits backoff × 2^(k−1), capped, ± jitter;
 * the first one in a quiet window goes at once. When `intensity` restarts already happened
 * within the window, the limit is hit.
 */
export function decideRestart(
  policy: RestartPolicy | null,
  recent: readonly number[],
  now: number,
  random: number,
): RestartDecision {
  if (!policy) return { kind: "now" };
  const inWindow = recent.filter((t) => now - t < policy.windowMs).length;
  if (policy.intensity > 0 && inWindow >= policy.intensity) {
    return {
      kind: "limit",
      count: inWindow,
      reason: `${inWindow} restarts within ${policy.windowMs} ms (limit ${policy.intensity})`,
    };
  }
  if (inWindow === 0 || policy.backoffMs === 0) return { kind: "now" };
  const base = Math.min(policy.maxBackoffMs, policy.backoffMs * 2 ** (inWindow - 1));
  const spread = base * policy.jitter * (2 * random - 1);
  return { kind: "backoff", delayMs: Math.max(0, Math.round(base + spread)) };
}
