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

/**
 * Starts a sleeper for each of `names` (or for each `perProcess` of them: the same process
 * attached under several names), from the bench, carrying `HAM_STATE_DIR` so the cleanup
 * finds them, and attaches it by pid, `batch` requests in flight at a time;
 * resolves with their pids, in order. The entities of the memory, idle and takeover
 * measurements: the HAM watches them by pidfd and holds no pipe of theirs.
 */
export async function attachSleepersByPid(
  ham: Ham,
  names: string[],
  batch = 50,
  perProcess = 1,
): Promise<number[]> {
  const stateDir = ham.client.socketPath.slice(0, ham.client.socketPath.lastIndexOf("/"));
  const pids: number[] = [];
  let pid = 0;
  for (let i = 0; i < names.length; i += batch) {
    const group = names.slice(i, i + batch).map((name, k) => {
      if ((i + k) % perProcess !== 0) return { name, pid };
      const child = new Deno.Command(SLEEPER[0], {
        args: SLEEPER.slice(1),
        env: { HAM_STATE_DIR: stateDir },
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn();
      child.status.catch(() => {});
      child.unref();
      pid = child.pid;
      return { name, pid };
    });
    await Promise.all(group.map(({ name, pid }) => ham.attach(name, { pid })));
    pids.push(...group.map((g) => g.pid));
  }
  return pids;
}
