/**
 * A clock that every process of this host reads alike, for a time one process records and
 * another reads (the HAM that renewed a lease, the Guardian that takes over from it):
 * `performance.now()` counts from each process's own start. It is the time since boot
 * (`/proc/uptime`, to 10 ms, suspends included), with the boot's ID, which tells a time
 * recorded before a reboot (`/proc/sys/kernel/random/boot_id`).
 *
 * @module
 */

import { readFileBytes } from "./proc_fs.ts";

/** A reading of the boot clock. */
export interface BootTime {
  /** This boot's ID: readings of two boots cannot be compared. */
  bootId: string;
  /** Milliseconds since boot, rounded down to 10 ms. */
  ms: number;
}

const decoder = new TextDecoder();
let bootId: string | null | undefined;

/** The parsed text of `/proc/uptime` in ms (its first field, `SECONDS.CC`); null if malformed. */
export function parseUptime(text: string): number | null {
  const m = /^(\d+)\.(\d\d)\s/.exec(text);
  return m ? Number(m[1]) * 1000 + Number(m[2]) * 10 : null;
}

/** The boot clock now; null when `/proc` cannot be read. */
export function bootTime(): BootTime | null {
  if (bootId === undefined) {
    const bytes = readFileBytes("/proc/sys/kernel/random/boot_id");
    bootId = bytes === null ? null : decoder.decode(bytes).trim() || null;
  }
  if (bootId === null) return null;
  const bytes = readFileBytes("/proc/uptime");
  const ms = bytes === null ? null : parseUptime(decoder.decode(bytes));
  return ms === null ? null : { bootId, ms };
}
