/**
 * Pauses of the benchmarks: between samples (so the HAM is idle when the next one starts)
 * and while a HAM settles.
 *
 * @module
 */

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
