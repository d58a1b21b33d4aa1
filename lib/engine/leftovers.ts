/**
 * What an entity's process leaves behind when it ends: the children it forked that outlive
 * it (found by process group and spawn marker, see `os/leftovers.ts`). By the entity's kill
 * mode (systemd's `KillMode=`):
 *
 * - `control-group` (the default): they are ended — SIGTERM, then SIGKILL to whatever is
 *   still there (or was forked meanwhile) after `leftoverStopTimeoutMs` — each through a
 *   pidfd opened after checking its start time, so a reused pid is never signalled. A
 *   restart of the entity waits until they are gone.
 * - `process`: they are kept, journaled under the entity (`status` lists them) and watched,
 *   so each drops off the list when it ends.
 *
 * A daemonizing command the HAM now follows keeps its daemon and what the daemon forked;
 * everything else the command left is ended (or kept) the same way. Only processes the HAM
 * spawned have leftovers: a process attached by pid is not the HAM's to clean up after.
 *
 * @module
 */

import { DEFAULTS } from "../core/defaults.ts";
import type { PidSet } from "../core/entity_pids.ts";
import type { Entity, Leftover } from "../core/model.ts";
import type { LeftoverQuery } from "../os/leftovers.ts";
import type { EngineParts } from "./seams.ts";
import type { ProcessLookup, WatchHandle } from "./process_ops.ts";
import { endProcesses, entityPidsOf } from "./process_end.ts";

/** Options of {@linkcode Leftovers}. */
export interface LeftoverOptions {
  /** Wait after SIGTERM before SIGKILL, in ms. @default {DEFAULTS.leftoverStopTimeoutMs} */
  stopTimeoutMs?: number;
}

interface Kept {
  proc: Leftover;
  watch: WatchHandle;
}

/** The leftovers of every entity: ended, or kept and watched. */
export class Leftovers {
  #parts: EngineParts;
  #stopTimeoutMs: number;
  /** Endings under way, by entity: a restart waits for its entity's. */
  #ending = new Map<string, Promise<void>>();
  /** Kept leftovers being watched, by entity, then pid. */
  #kept = new Map<string, Map<number, Kept>>();
  /** Entities whose process this engine spawned (its orphans come to this HAM). */
  #local = new Set<string>();
  /** Entities whose kept list changed and is not journaled yet. */
  #dirty = new Set<string>();
  #flushing = false;
  /** Looks announced by {@linkcode Leftovers.due} and not made yet, by entity. */
  #due = new Map<string, { made: PromiseWithResolvers<void>; look: () => void }>();
  /** The scan of a resume under way (see {@linkcode Leftovers.scanning}), else null. */
  #lookup: ProcessLookup | null = null;

  /** Creates the tracker over the engine's parts. */
  constructor(parts: EngineParts, options: LeftoverOptions = {}) {
    this.#parts = parts;
    this.#stopTimeoutMs = options.stopTimeoutMs ?? DEFAULTS.leftoverStopTimeoutMs;
  }

  /**
   * Whether the current process of `name` is this HAM's own (spawned by it), so what it
   * leaves is found among the HAM's descendants; false for one watched by pid (a previous
   * HAM's, after a takeover).
   */
  own(name: string, spawnedHere: boolean): void {
    if (spawnedHere) this.#local.add(name);
    else this.#local.delete(name);
  }

  /**
   * The process of `e` (as it was while it ran: pid, start time, spawn marker) ended, or
   * exited leaving the daemon `spare` that the entity follows now: ends or keeps what it
   * left behind, by the entity's kill mode. Returns the pids found.
   */
  ended(e: Entity, spare: number | null = null, fence = false): number[] {
    try {
      return this.#ended(e, spare, fence);
    } finally {
      this.#made(e.name);
    }
  }

  /**
   * A look for what the process of `name` left behind is due: `look` makes it (through
   * {@linkcode Leftovers.ended}) soon, off the event path, once the death's conditions
   * fired. Until it is made, {@linkcode Leftovers.settled} waits for it, and
   * {@linkcode Leftovers.settledNow} makes it at once.
   */
  due(name: string, look: () => void): void {
    if (!this.#due.has(name)) this.#due.set(name, { made: Promise.withResolvers(), look });
  }

  #made(name: string): void {
    this.#due.get(name)?.made.resolve();
    this.#due.delete(name);
  }

  #ended(e: Entity, spare: number | null, fence: boolean): number[] {
    // A fence kills even after the engine stopped (a cluster member leaving as it stops).
    if (e.spawnId === null || e.pid === null || (this.#parts.life.stopped && !fence)) return [];
    const query: LeftoverQuery = {
      spawnId: e.spawnId,
      group: e.startTime === null ? null : e.pid,
      since: e.startTime,
      spare,
      skip: this.#entityPids(),
      local: this.#local.has(e.name),
    };
    // The resume's scan, when the process had ended before it was made (so whatever it
    // forked was there to be seen): else a look of its own.
    const look = this.#lookup;
    const scanned = look !== null && !look.sawAlive(e.pid, e.startTime) ? look : null;
    return this.#handle(e.name, e.killMode, query, scanned, fence);
  }

  /**
   * Runs `fn` (a resume, synchronous) with `lookup` answering its first looks for
   * leftovers: one scan of every process for all of them. Later looks (each round of
   * ending them) read the processes anew.
   */
  scanning(lookup: ProcessLookup, fn: () => void): void {
    this.#lookup = lookup;
    try {
      fn();
    } finally {
      this.#lookup = null;
    }
  }

  /**
   * After a takeover: a death the previous HAM recorded and did not finish handling may
   * have left processes it had no time to end. They are looked for by spawn marker only
   * (the dead process's start time is gone, and with it the proof that a process group of
   * its pid is still its own). Kept leftovers that still run are watched again.
   */
  resume(): void {
    const { journal } = this.#parts;
    // Built at the first death it is needed for (a takeover at 10,000 entities has none).
    let skip: PidSet | null = null;
    for (const e of journal.state.entities.values()) {
      // No process yet: not restarted since, so the marker is still the dead process's.
      if (e.deathPending && e.pid === null && e.spawnId !== null) {
        skip ??= this.#entityPids();
        const query = { spawnId: e.spawnId, group: null, since: null, spare: null, local: false };
        this.#handle(e.name, e.killMode, { ...query, skip }, this.#lookup);
      }
      if (e.leftovers.length > 0) {
        const before = e.leftovers.length;
        this.#keep(e.name, e.leftovers);
        if ((this.#kept.get(e.name)?.size ?? 0) !== before) this.#changed(e.name);
      }
    }
  }

  /**
   * Resolves once the ending of `name`'s leftovers (if under way) is over, after the look
   * for them when one is due.
   */
  settled(name: string): Promise<void> {
    const due = this.#due.get(name);
    if (due) return due.made.promise.then(() => this.settled(name));
    return this.#ending.get(name) ?? Promise.resolve();
  }

  /**
   * Like {@linkcode Leftovers.settled}, for a restart about to spawn: a look that is due is
   * made now (the restart needs it first); null when nothing is left to wait for, so the
   * restart spawns in this turn.
   */
  settledNow(name: string): Promise<void> | null {
    this.#due.get(name)?.look();
    if (this.#due.has(name)) return this.settled(name);
    return this.#ending.get(name) ?? null;
  }

  /** Stops watching `name`'s kept leftovers (detached or removed: they run on, untracked). */
  forget(name: string): void {
    for (const k of this.#kept.get(name)?.values() ?? []) k.watch.cancel();
    this.#kept.delete(name);
    this.#dirty.delete(name);
    this.#local.delete(name);
    this.#made(name);
  }

  /** Stops watching every kept leftover (the engine stops). */
  stop(): void {
    for (const name of [...this.#kept.keys()]) this.forget(name);
  }

  /** The entities' pids: the store's index, or (a store that keeps none) a set of them. */
  #entityPids(): PidSet {
    return entityPidsOf(this.#parts);
  }

  #handle(
    name: string,
    mode: Entity["killMode"],
    query: LeftoverQuery,
    lookup: ProcessLookup | null = null,
    fence = false,
  ): number[] {
    const { processes, log, events } = this.#parts;
    const found = (lookup ?? processes).leftovers(query);
    if (found.length === 0) return [];
    const pids = found.map((l) => l.pid);
    const list = pids.length > 10 ? `${pids.slice(0, 10).join(" ")} ...` : pids.join(" ");
    if (fence && mode !== "process") {
      // A copy fenced (or withdrawn as its node leaves the cluster) ends at once, whole.
      log.log("notice", `Entity "${name}" fenced: SIGKILL to what it left (${list})`);
      events.emit({ type: "leftovers", entity: name, detail: { pids, action: "ended" } });
      for (const p of found) {
        try {
          processes.signal(p.pid, 9, p.startTime);
        } catch { /* gone already */ }
      }
      return pids;
    }
    if (mode === "process") {
      log.log("notice", `Entity "${name}" left ${pids.length} process(es) behind: kept (${list})`);
      events.emit({ type: "leftovers", entity: name, detail: { pids, action: "kept" } });
      this.#keep(name, found);
      this.#changed(name);
      return pids;
    }
    log.log(
      "notice",
      `Entity "${name}" left ${pids.length} process(es) behind: ending them (${list})`,
    );
    events.emit({ type: "leftovers", entity: name, detail: { pids, action: "ended" } });
    const before = this.#ending.get(name) ?? Promise.resolve();
    const ending = this.#parts.life.track(
      before.then(() =>
        endProcesses(
          this.#parts,
          found,
          () => this.#parts.processes.leftovers(query),
          this.#stopTimeoutMs,
          {
            owner: `Entity "${name}"`,
            noun: "leftover process(es)",
          },
        )
      ),
    );
    this.#ending.set(name, ending);
    void ending.finally(() => {
      if (this.#ending.get(name) === ending) this.#ending.delete(name);
    });
    return pids;
  }

  /** Watches `procs` as kept leftovers of `name` (those still running), up to the cap. */
  #keep(name: string, procs: Leftover[]): void {
    const { processes } = this.#parts;
    let kept = this.#kept.get(name);
    if (!kept) {
      kept = new Map();
      this.#kept.set(name, kept);
    }
    const map = kept;
    for (const proc of procs) {
      if (map.has(proc.pid)) continue;
      if (map.size >= DEFAULTS.maxLeftovers) break;
      let watch: WatchHandle;
      try {
        watch = processes.watch(proc.pid, proc.startTime);
      } catch {
        continue; // gone already
      }
      map.set(proc.pid, { proc, watch });
      watch.exited.then((st) => {
        if (st === null || map.get(proc.pid)?.watch !== watch) return;
        map.delete(proc.pid);
        this.#changed(name);
      });
    }
  }

  /** Journals the kept list of `name` soon, once for every change made meanwhile. */
  #changed(name: string): void {
    this.#dirty.add(name);
    if (this.#flushing) return;
    this.#flushing = true;
    queueMicrotask(() => {
      this.#flushing = false;
      const { journal } = this.#parts;
      const bodies = [...this.#dirty].flatMap((n) => {
        if (!journal.state.entities.has(n)) {
          this.forget(n);
          return [];
        }
        const procs = [...(this.#kept.get(n)?.values() ?? [])].map((k) => k.proc);
        return [{ t: "leftovers" as const, entity: n, procs }];
      });
      this.#dirty.clear();
      if (bodies.length > 0 && !this.#parts.life.stopped) void journal.record(bodies);
    });
  }
}
