/**
 * Time, injectable: the engine, the status mirror and the daemons' timers take a
 * {@linkcode Clock}; unit tests pass a fake one (`tests/support/fake_clock.ts`).
 *
 * @module
 */

/** Time, injectable. */
export interface Clock {
  /** Wall-clock ms since the epoch (for records and display). */
  now(): number;
  /**
   * Monotonic ms from an arbitrary origin: what the sleeps count in. It never steps when
   * the wall clock is set (NTP, an operator's `date`), so the difference of its and
   * {@linkcode now}'s movements over a wait tells a step of the wall clock.
   */
  monotonic(): number;
  /** Sleeps `ms`; resolves early with false if `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<boolean>;
}

/** The real clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  sleep: (ms, signal) =>
    new Promise((resolve) => {
      if (signal?.aborted) return resolve(false);
      // Never negative: Deno's timers write a `TimeoutNegativeWarning` to stderr (into the
      // HAM's log) for one, as a late heartbeat timer's was.
      const t = setTimeout(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve(true);
      }, Math.max(0, ms));
      const onAbort = () => {
        clearTimeout(t);
        resolve(false);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
    }),
};
