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
  /** Sleeps `ms`; resolves early with false if `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<boolean>;
}

/** The real clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
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
