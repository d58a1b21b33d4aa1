/**
 * The environment of the HAM and Guardian processes themselves: glibc's malloc tuned for
 * a long-lived daemon with a small heap ({@linkcode DEFAULTS.daemonMallocEnv}: one arena
 * for every thread, memory given back to the system as soon as 64 KiB are free at the top
 * of the heap, large blocks mapped on their own), and never passed on to the processes
 * they start.
 *
 * glibc reads these variables once, when the process starts, so they must be in the
 * daemon's environment at its `exec`: `bin/ham` sets them for the first process, and a
 * process that starts a HAM (the detaching `ham`, the PID 1 keeper) adds them to its
 * environment with {@linkcode daemonEnv}. The Guardian runs with glibc's defaults: the one
 * arena cost a takeover 5–8 ms of CPU at 1,000 entities (paired) and saved the Guardian
 * only ~0.3 MiB; the HAM saves ~0.7 MiB. Both name what they added in `HAM_DAEMON_ENV`;
 * the daemon removes those variables (and that one) from its own environment as it starts
 * ({@linkcode scrubDaemonEnv}), so the entities it spawns inherit the user's environment,
 * not ham's tuning. A variable the user had set is left as the user set it.
 *
 * @module
 */

import { DEFAULTS } from "../core/defaults.ts";
import { forgetInheritedEnv } from "./spawn_env.ts";

/** The variable naming what was added: space-separated names. */
export const DAEMON_ENV_VAR = "HAM_DAEMON_ENV";

/** `NAME=value` pairs of a space-separated list, as a record. */
export function parseEnvPairs(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of text.split(/\s+/)) {
    const eq = pair.indexOf("=");
    if (eq > 0) out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

/**
 * What to add to the environment of a daemon about to be started: each tuning variable
 * the current environment lacks, and `HAM_DAEMON_ENV` naming them (empty when the user set
 * them all).
 */
export function daemonEnv(
  current: (name: string) => string | undefined = (name) => Deno.env.get(name),
): Record<string, string> {
  const added: Record<string, string> = {};
  for (const [name, value] of Object.entries(parseEnvPairs(DEFAULTS.daemonMallocEnv))) {
    if (current(name) === undefined) added[name] = value;
  }
  const names = Object.keys(added);
  return names.length === 0 ? {} : { ...added, [DAEMON_ENV_VAR]: names.join(" ") };
}

/** Removes from this process's environment the tuning variables a launcher added. */
export function scrubDaemonEnv(): void {
  try {
    const names = Deno.env.get(DAEMON_ENV_VAR);
    if (names === undefined) return;
    for (const name of names.split(/\s+/)) if (name !== "") Deno.env.delete(name);
    Deno.env.delete(DAEMON_ENV_VAR);
    forgetInheritedEnv();
  } catch { /* no --allow-env: nothing was added either */ }
}
