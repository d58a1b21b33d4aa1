/**
 * Durations as people write them (`500us`, `250ms`, `5s`, `1m`, `1h`, `2d`, or a bare number
 * of milliseconds), for `hamctl` options and config files, and back.
 *
 * @module
 */

import { DEFAULTS } from "./defaults.ts";
import { HamError } from "./errors.ts";

const UNITS: Record<string, number> = {
  us: 0.001,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/**
 * Parses a duration into whole milliseconds (a non-zero duration under 1 ms is 1 ms).
 * Throws EINVAL naming `what` (`--timeout`, a config key) for a malformed or negative one,
 * and for one longer than `max` (what the HAM accepts: a longer one would be refused only
 * once sent, naming a wire field).
 *
 * @example
 * ```ts
 * import { parseDuration } from "./duration.ts";
 * console.log(parseDuration("1h", "--timeout")); // 3600000
 * ```
 */
export function parseDuration(
  text: string | number,
  what: string,
  max: number = DEFAULTS.maxDurationMs,
): number {
  let ms = NaN;
  if (typeof text === "number") {
    if (Number.isFinite(text) && text >= 0) ms = Math.ceil(text);
  } else {
    const m = /^(\d+(?:\.\d+)?)(us|ms|s|m|h|d)?$/.exec(text.trim());
    if (m) ms = Math.ceil(Number(m[1]) * UNITS[m[2] ?? "ms"]);
  }
  if (ms > max) {
    throw new HamError(
      "EINVAL",
      `Invalid duration ${JSON.stringify(text)} for ${what}: longer than the longest accepted, ` +
        `${max} ms (${Math.floor(max / UNITS.d * 10) / 10} days)`,
    );
  }
  if (!Number.isNaN(ms)) return ms;
  throw new HamError(
    "EINVAL",
    `Invalid duration ${JSON.stringify(text)} for ${what}: expected a number of ms, or a ` +
      `number with us, ms, s, m, h or d (such as 500us, 250ms, 5s, 1h)`,
  );
}

/** Writes milliseconds in the largest unit that divides them: `1h`, `90s`, `250ms`. */
export function formatDuration(ms: number): string {
  for (const unit of ["d", "h", "m", "s"]) {
    if (ms !== 0 && ms % UNITS[unit] === 0) return `${ms / UNITS[unit]}${unit}`;
  }
  return `${ms}ms`;
}
