/**
 * The figures the benchmarks report: a summary (N, median, p95) of samples, with the
 * target it is compared against and whether the target is met.
 *
 * @module
 */

/** The target of a figure: limits on its median and/or p95, and the comparison text. */
export interface Target {
  /** Largest acceptable median. @default {no limit} */
  median?: number;
  /** Largest acceptable p95. @default {no limit} */
  p95?: number;
  /** How the target reads: `≤ 1 ms`. */
  text: string;
  /** The figures of other supervisors, from the issue. @default {none} */
  others?: string;
}

/** One line of the results table. */
export interface Figure {
  /** Stable identifier, for `--json` consumers. */
  id: string;
  /** What was measured. */
  label: string;
  /** Unit of `median` and `p95`. */
  unit: string;
  /** Number of samples (1 for a single reading). */
  n: number;
  /** Median of the samples. */
  median: number;
  /** 95th percentile of the samples (nearest rank). */
  p95: number;
  /** The target, or null when the issue sets none. */
  target: Target | null;
  /** True/false when there is a target, null when there is none. */
  met: boolean | null;
  /** How to read the figure (an upper bound, an extrapolation, ...). */
  note?: string;
}

/** The nearest-rank percentile `p` (0–100) of sorted samples. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

/** Summarizes samples into a figure; `met` is decided from the target's limits. */
export function figure(
  fields: Omit<Figure, "n" | "median" | "p95" | "met">,
  samples: readonly number[],
): Figure {
  const sorted = [...samples].sort((a, b) => a - b);
  const median = percentile(sorted, 50);
  const p95 = percentile(sorted, 95);
  const t = fields.target;
  const met = t === null
    ? null
    : (t.median === undefined || median <= t.median) && (t.p95 === undefined || p95 <= t.p95);
  return { ...fields, n: sorted.length, median, p95, met };
}
