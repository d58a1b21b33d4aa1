/**
 * Ending processes the HAM is done with (what an entity's process left behind, an
 * `execute` command past its time limit): SIGTERM to each, then, once they are gone or the
 * grace is over, SIGKILL to whatever is left or was forked meanwhile, looking again each
 * round. Each is signalled through a pidfd opened after checking its start time, so a
 * reused pid is never hit, and a process group is never signalled as a whole.
 *
 * @module
 */

import type { PidSet } from "../core/entity_pids.ts";
import type { WatchHandle } from "./process_ops.ts";
import type { EngineParts } from "./seams.ts";

/** Rounds of SIGKILL (each after a new look) before giving up on the rest. */
const KILL_ROUNDS = 3;

/** A process to end: its pid and start time (null: unknown, the pid alone is checked). */
export interface ProcessToEnd {
  pid: number;
  startTime: string | null;
}

/** What {@linkcode endProcesses} may do. */
export type EndParts = Pick<EngineParts, "processes" | "clock" | "life" | "log" | "journal">;

/** How the log names what is being ended: `${owner}: 2 ${noun} still there`. */
export interface EndLabel {
  /** Whose they are: `Entity "web"`, `Action "web/death/hook"`. */
  owner: string;
  /** What they are, counted: `leftover process(es)`. */
  noun: string;
}

/**
 * Ends `found` (SIGTERM, then SIGKILL after `graceMs` to what `lookAgain` still finds, up
 * to three rounds); resolves when they are gone or given up on (logged), or at once when
 * the engine stops.
 */
export async function endProcesses(
  parts: EndParts,
  found: ProcessToEnd[],
  lookAgain: () => ProcessToEnd[],
  graceMs: number,
  label: EndLabel,
): Promise<void> {
  const { log } = parts;
  // Gone in time or not, look again: one of them may have forked as it went.
  await signalAndWait(parts, found, 15, graceMs);
  let rest = lookAgain();
  for (let round = 0; round < KILL_ROUNDS && rest.length > 0; round++) {
    if (parts.life.stopped) return;
    log.log("notice", `${label.owner}: ${rest.length} ${label.noun} still there: sending SIGKILL`);
    await signalAndWait(parts, rest, 9, graceMs);
    rest = lookAgain();
  }
  if (rest.length > 0) {
    const pids = rest.map((l) => l.pid).join(" ");
    log.log("warn", `${label.owner}: ${label.noun} ${pids} did not end on SIGKILL`);
  }
}

/**
 * Sends `signal` to each process (checked by start time) and waits until all are gone or
 * `graceMs` is over; true when they all went.
 */
async function signalAndWait(
  parts: EndParts,
  procs: ProcessToEnd[],
  signal: number,
  graceMs: number,
): Promise<boolean> {
  const { processes, clock, life } = parts;
  const exits: Promise<unknown>[] = [];
  const watches: WatchHandle[] = [];
  for (const p of procs) {
    try {
      const w = processes.watch(p.pid, p.startTime);
      watches.push(w);
      exits.push(w.exited);
      processes.signal(p.pid, signal, p.startTime);
    } catch { /* gone already (or its pid is another's now) */ }
  }
  if (exits.length === 0) return true;
  const timer = new AbortController();
  const abort = AbortSignal.any([timer.signal, life.haltSignal]);
  const gone = await Promise.race([
    Promise.all(exits).then(() => true),
    clock.sleep(graceMs, abort).then(() => false),
  ]);
  timer.abort();
  for (const w of watches) w.cancel();
  return gone;
}

/** The entities' pids (never ended as another's): the store's index, or a set of them. */
export function entityPidsOf(parts: Pick<EngineParts, "journal">): PidSet {
  const { journal } = parts;
  if (journal.entityPids) return journal.entityPids;
  const pids = new Set<number>();
  for (const e of journal.state.entities.values()) {
    if (e.pid !== null) pids.add(e.pid);
  }
  return pids;
}
