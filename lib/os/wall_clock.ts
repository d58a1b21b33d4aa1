/**
 * The wall clock with microsecond resolution, for event stamps: `Date.now()` counts whole
 * milliseconds, too coarse for the event path (a condition fires well under a millisecond
 * after the death is seen). It is `Date.now()`'s clock read through `performance.now()`,
 * which is monotonic: a step of the system clock (the two more than a millisecond apart)
 * re-anchors it, so a stamp is never further than that from `Date.now()`.
 *
 * @module
 */

/** The clocks a wall clock is made of (injected by tests). */
export interface ClockSources {
  /** A monotonic clock in ms (`performance.now()`). */
  mono(): number;
  /** The system clock in whole ms since the epoch (`Date.now()`). */
  coarse(): number;
  /** The system clock at the monotonic clock's zero (`performance.timeOrigin`). */
  origin: number;
}

/** A wall clock in ms since the epoch, to the microsecond, over `sources`. */
export function makeWallClock(sources: ClockSources): () => number {
  let offset = sources.origin;
  return () => {
    const mono = sources.mono();
    const coarse = sources.coarse();
    let t = offset + mono;
    // Date.now() truncates: the precise time is in [coarse, coarse + 1), give or take a
    // tick; outside a generous window the system clock was stepped (or never matched).
    if (t < coarse - 1 || t >= coarse + 2) {
      offset = coarse + 0.5 - mono;
      t = coarse + 0.5;
    }
    return Math.round(t * 1000) / 1000;
  };
}

/**
 * Milliseconds since the epoch, to the microsecond (three decimals at most).
 *
 * @example
 * ```ts
 * import { wallClockMs } from "./wall_clock.ts";
 *
 * const at = wallClockMs();
 * console.log(Math.abs(at - Date.now()) < 2); // true
 * ```
 */
export const wallClockMs: () => number = makeWallClock({
  mono: () => performance.now(),
  coarse: () => Date.now(),
  origin: performance.timeOrigin,
});
