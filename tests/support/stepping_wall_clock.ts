/**
 * A wall clock that is set at every reading, for tests of code that must measure durations
 * and deadlines on the monotonic clock (`performance.now()`): `Date.now()` moves by `stepMs`
 * more than real time at each call, as if NTP or an operator stepped it each time. Code
 * that counts a duration with `Date.now()` then sees each one as hours long (or negative).
 *
 * @module
 */

/**
 * Replaces `Date.now` until disposed (`using`): each reading is the last one plus `stepMs`
 * plus the real time since it. `new Date()` and timers are left alone.
 *
 * @example
 * ```ts
 * import { steppingWallClock } from "./stepping_wall_clock.ts";
 *
 * {
 *   using _ = steppingWallClock(3_600_000);
 *   console.log(Date.now() - Date.now() <= -3_600_000); // true: an hour passes per reading
 * }
 * ```
 */
export function steppingWallClock(stepMs: number): Disposable {
  const real = Date.now;
  let offset = 0;
  Date.now = () => real() + (offset += stepMs);
  return { [Symbol.dispose]: () => void (Date.now = real) };
}
