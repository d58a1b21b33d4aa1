/**
 * Finding what an entity's process left behind: the processes it forked that outlived it.
 * Every process the HAM spawns for an entity leads a process group of its own (see
 * `spawner.ts`) and carries the spawn's marker (`HAM_SPAWN_ID`) in its environment, which
 * everything it forks inherits. A leftover is a live process that carries the marker, or
 * that is in the entity's process group and carries no marker of another spawn — the
 * process group catches a child that cleared its environment, the marker one that left
 * the group (`setsid`, a daemon). This is systemd's control group made of what Linux gives
 * every process: no cgroup is needed (see README, "An entity's own children").
 *
 * @module
 */

import type { Leftover } from "../core/model.ts";
import { processStat, readEnviron } from "./proc.ts";
import { readDirNames } from "./proc_fs.ts";
import { SPAWN_ID_VAR } from "./spawner.ts";

/** What {@linkcode findLeftovers} looks for. */
export interface LeftoverQuery {
  /** The spawn marker of the process that ended. */
  spawnId: string;
  /**
   * Its process group (its pid: it led one), or null to look by marker only (when its
   * start time is unknown, a group of that id could be another's).
   */
  group: number | null;
  /**
   * Its start time: a process that started earlier is not one of its children (and a group
   * member that did is in a group of a pid the kernel handed out again). Null: unknown.
   */
  since: string | null;
  /** A daemon the HAM follows now: it and its descendants are not leftovers. */
  spare: number | null;
  /** Pids that are never leftovers (the processes of entities). */
  skip: ReadonlySet<number>;
}

/** True when the decimal start time `a` is not before `b`. */
function notBefore(a: string, b: string): boolean {
  return a.length !== b.length ? a.length > b.length : a >= b;
}

/**
 * The live processes (not zombies, not this process) left behind by the process a query
 * describes, ascending by pid. Scans every process in `/proc` (its `stat`; the environment
 * only of those that started after it): a death's cost, never a request's.
 */
export function findLeftovers(q: LeftoverQuery, selfPid = Deno.pid): Leftover[] {
  const found: Leftover[] = [];
  const parents = new Map<number, number>();
  for (const name of readDirNames("/proc") ?? []) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === selfPid) continue;
    const stat = processStat(pid);
    if (stat === null) continue;
    parents.set(pid, stat.ppid);
    if (stat.state === "Z" || stat.state === "X" || q.skip.has(pid)) continue;
    // What it forked started after it: older processes (most of them, for a process that
    // ran a while) cost no read of their environment.
    if (q.since !== null && !notBefore(stat.startTime, q.since)) continue;
    const marker = readEnviron(pid)?.get(SPAWN_ID_VAR);
    const ours = marker === q.spawnId;
    const grouped = q.group !== null && stat.pgid === q.group && q.since !== null &&
      marker === undefined;
    if (ours || grouped) found.push({ pid, startTime: stat.startTime });
  }
  if (q.spare === null) return found.sort((a, b) => a.pid - b.pid);
  // The followed daemon and what it forked (workers) belong to the entity now.
  const spared = (pid: number): boolean => {
    for (let p = pid, hops = 0; p > 1 && hops < 4096; hops++) {
      if (p === q.spare) return true;
      p = parents.get(p) ?? processStat(p)?.ppid ?? 0;
    }
    return false;
  };
  return found.filter((l) => !spared(l.pid)).sort((a, b) => a.pid - b.pid);
}
