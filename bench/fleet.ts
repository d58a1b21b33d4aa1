/**
 * Attaching many entities at once: `/bin/sleep` workers attached through the protocol,
 * in concurrent batches on one connection.
 *
 * @module
 */

import type { Ham } from "../lib/client/ham.ts";

/** The worker of the fleet measurements. */
export const SLEEPER = ["/bin/sleep", "100000"];

/**
 * Attaches a sleeper as each of `names`, `batch` requests in flight at a time; resolves
 * with their pids, in order.
 */
export async function attachSleepers(ham: Ham, names: string[], batch = 50): Promise<number[]> {
  const pids: number[] = [];
  for (let i = 0; i < names.length; i += batch) {
    const handles = await Promise.all(
      names.slice(i, i + batch).map((name) => ham.attach(name, { argv: SLEEPER })),
    );
    pids.push(...handles.map((e) => e.pid!));
  }
  return pids;
}
