/**
 * The wall clock other processes share: `clock_gettime(CLOCK_REALTIME)` through FFI, so a
 * kill instant taken here compares, to the microsecond, with the instant a restarted
 * process stamps for itself (`Date.now()` only has millisecond resolution, and
 * `performance.now()` is another clock).
 *
 * @module
 */

const CLOCK_REALTIME = 0;

let lib:
  | Deno.DynamicLibrary<{
    clock_gettime: { parameters: ["i32", "buffer"]; result: "i32" };
  }>
  | null = null;
const timespec = new BigInt64Array(2);

/** Milliseconds since the epoch from `CLOCK_REALTIME`, with sub-microsecond resolution. */
export function realtimeMs(): number {
  lib ??= Deno.dlopen("libc.so.6", {
    clock_gettime: { parameters: ["i32", "buffer"], result: "i32" },
  });
  if (lib.symbols.clock_gettime(CLOCK_REALTIME, timespec) !== 0) {
    throw new Error("Cannot read CLOCK_REALTIME: clock_gettime failed");
  }
  return stampMs(timespec[0], timespec[1]);
}

/** A `(seconds, nanoseconds)` instant as milliseconds since the epoch. */
export function stampMs(sec: bigint | number, nsec: bigint | number): number {
  return Number(sec) * 1000 + Number(nsec) / 1e6;
}
