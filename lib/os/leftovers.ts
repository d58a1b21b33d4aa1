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

import type { PidSet } from "../core/entity_pids.ts";
import type { Leftover } from "../core/model.ts";
import { ProcFile, readDirNames, readFileBytes } from "./proc_fs.ts";
import { procReader, type ProcView } from "./proc_scan.ts";
import { carriesMarker, denoChildren, SPAWN_ID_VAR } from "./spawner.ts";

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
  skip: PidSet;
  /**
   * The process that ended was this process's own (it spawned it, or the daemon it left
   * was re-parented here) and this process is a child subreaper: what it left behind is
   * among this process's descendants, read from the kernel's `children` lists, subtrees
   * of skipped pids left out, instead of among every process. False (after a takeover, the
   * processes of a previous HAM are not this one's descendants): every process.
   * @default {false}
   */
  local?: boolean;
}

/** True when the decimal start time `a` is not before `b`. */
function notBefore(a: string, b: string): boolean {
  return a.length !== b.length ? a.length > b.length : a >= b;
}

/**
 * The live processes (not zombies, not this process) left behind by the process a query
 * describes, ascending by pid. Reads the `stat` of this process's descendants (`local`) or
 * of every process, and the environment only of those that started after the one that
 * ended: a death's cost, never a request's. `view`: where processes are read (a
 * `ProcScan` shared by many queries, or `/proc` itself).
 */
export function findLeftovers(
  q: LeftoverQuery,
  selfPid = Deno.pid,
  view: ProcView = procReader,
): Leftover[] {
  const found: Leftover[] = [];
  const parents = new Map<number, number>();
  for (const pid of candidates(q, selfPid, view)) {
    if (pid === selfPid) continue;
    const stat = view.stat(pid);
    if (stat === null) continue;
    parents.set(pid, stat.ppid);
    if (stat.state === "Z" || stat.state === "X" || q.skip.has(pid)) continue;
    // What it forked started after it: older processes (most of them, for a process that
    // ran a while) cost no read of their environment.
    if (q.since !== null && !notBefore(stat.startTime, q.since)) continue;
    const env = view.environ(pid);
    const marker = env?.get(SPAWN_ID_VAR);
    const ours = carriesMarker(env, q.spawnId);
    const grouped = q.group !== null && stat.pgid === q.group && q.since !== null &&
      marker === undefined;
    if (ours || grouped) found.push({ pid, startTime: stat.startTime });
  }
  if (q.spare === null) return found.sort((a, b) => a.pid - b.pid);
  // The followed daemon and what it forked (workers) belong to the entity now.
  const spared = (pid: number): boolean => {
    for (let p = pid, hops = 0; p > 1 && hops < 4096; hops++) {
      if (p === q.spare) return true;
      p = parents.get(p) ?? view.stat(p)?.ppid ?? 0;
    }
    return false;
  };
  return found.filter((l) => !spared(l.pid)).sort((a, b) => a.pid - b.pid);
}

/** The pids to look at: this process's descendants when local and listed, else all. */
function candidates(q: LeftoverQuery, selfPid: number, view: ProcView): number[] {
  const all = () => view.pids();
  if (!q.local) return all();
  // Orphans are re-parented to the main thread of a subreaper: its own list is enough.
  const top = childrenList(selfPid, selfPid);
  if (top === null) return all(); // A kernel without CONFIG_PROC_CHILDREN.
  const out: number[] = [];
  // A child of this process that started before the one that ended (the Guardian, another
  // entity's process) is not its descendant, nor is anything below it: orphans go up to
  // this process, never sideways. Its subtree is not walked.
  const older = (pid: number) => {
    const started = q.since === null ? null : view.stat(pid)?.startTime ?? null;
    return started !== null && !notBefore(started, q.since!);
  };
  // Nor is a child this process started through Deno (the Guardian, an `execute` command):
  // known without reading its `stat`.
  const queue = top.filter((p) => !q.skip.has(p) && !denoChildren.has(p) && !older(p));
  // Bounded: a pid is visited once, and there are at most pid_max of them.
  const seen = new Set<number>(queue);
  while (queue.length > 0) {
    const pid = queue.pop()!;
    out.push(pid);
    for (const c of childrenOfAll(pid)) {
      if (seen.has(c) || q.skip.has(c)) continue;
      seen.add(c);
      queue.push(c);
    }
  }
  return out;
}

/** This process's main thread's `children` list, read at every death: kept open. */
let ownChildren: ProcFile | null = null;

/** `/proc/PID/task/TID/children`: the children thread TID of PID forked; null if unreadable. */
function childrenList(pid: number, tid: number): number[] | null {
  const path = `/proc/${pid}/task/${tid}/children`;
  const own = pid === Deno.pid && tid === pid;
  if (own) ownChildren ??= new ProcFile(path);
  const bytes = own ? ownChildren!.read() : readFileBytes(path);
  return bytes === null ? null : parsePids(bytes);
}

/** The pids of a `children` list ("12 345 "), read from its bytes as they are. */
export function parsePids(bytes: Uint8Array): number[] {
  const out: number[] = [];
  let n = -1;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i];
    if (c >= 48 && c <= 57) n = (n < 0 ? 0 : n * 10) + c - 48;
    else if (n >= 0) {
      out.push(n);
      n = -1;
    }
  }
  if (n >= 0) out.push(n);
  return out;
}

/** The children of every thread of `pid` (none when it is gone). */
function childrenOfAll(pid: number): number[] {
  const out: number[] = [];
  for (const tid of readDirNames(`/proc/${pid}/task`) ?? []) {
    out.push(...childrenList(pid, Number(tid)) ?? []);
  }
  return out;
}
