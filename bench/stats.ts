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
  /** Largest sample. */
  max: number;
  /**
   * The floor measured in the same run and this figure's median (and p95) as multiples of
   * its median, when the figure is compared to one (`withFloor`).
   */
  floor?: { id: string; median: number; ratio: number; p95Ratio: number; excess?: number };
  /** The load average (1 min) before and after the measurement. */
  load?: { before: number; after: number };
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
  fields: Omit<Figure, "n" | "median" | "p95" | "max" | "met">,
  samples: readonly number[],
): Figure {
  const sorted = [...samples].sort((a, b) => a - b);
  const median = percentile(sorted, 50);
  const p95 = percentile(sorted, 95);
  const t = fields.target;
  const met = t === null
    ? null
    : (t.median === undefined || median <= t.median) && (t.p95 === undefined || p95 <= t.p95);
  return { ...fields, n: sorted.length, median, p95, max: sorted.at(-1) ?? Number.NaN, met };
}

/** A ratio target: the figure's median (and p95) at most these multiples of its floor's. */
export interface RatioTarget {
  median?: number;
  p95?: number;
  text: string;
}

/**
 * Relates `f` to a floor measured in the same run: records both ratios and, with a ratio
 * target, decides `met` from it (replacing any absolute target).
 */
export function withFloor(f: Figure, floor: Figure, target?: RatioTarget): Figure {
  const ratio = f.median / floor.median;
  const p95Ratio = f.p95 / floor.median;
  const out: Figure = { ...f, floor: { id: floor.id, median: floor.median, ratio, p95Ratio } };
  if (target) {
    out.target = { text: target.text, others: f.target?.others };
    out.met = (target.median === undefined || ratio <= target.median) &&
      (target.p95 === undefined || p95Ratio <= target.p95);
  }
  return out;
}

/**
 * Relates `f` to a floor measured in the same run by difference: its median minus the
 * floor's median (`floor.excess`, in `f`'s unit), and `met` when that is at most `limit`.
 */
export function aboveFloor(f: Figure, floor: Figure, limit: number, text: string): Figure {
  const excess = f.median - floor.median;
  return {
    ...f,
    floor: {
      id: floor.id,
      median: floor.median,
      ratio: f.median / floor.median,
      p95Ratio: f.p95 / floor.median,
      excess,
    },
    target: { text, others: f.target?.others },
    met: excess <= limit,
  };
}

/**
 * The 1-minute load average of the machine (`Deno.loadavg()`: Deno refuses to read
 * `/proc/loadavg` without `--allow-all`).
 */
export function loadAverage(): number {
  try {
    return Math.round(Deno.loadavg()[0] * 100) / 100;
  } catch {
    return Number.NaN;
  }
}
