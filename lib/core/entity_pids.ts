/**
 * The pids of the entities' processes, indexed: whether a pid is an entity's, answered
 * without a walk of every entity. The look for leftovers asks it of each child of the HAM
 * at every death, and a walk of 10,000 entities to build the set costs ~0.6 ms of the
 * death's path.
 *
 * @module
 */

import type { HamState } from "./model.ts";

/** A set of pids, as far as a look for leftovers needs one. */
export interface PidSet {
  has(pid: number): boolean;
}

/**
 * The entities' pids of a state, kept by the entities each applied record touched
 * (`touchedEntities()` beside the reducer) and brought up to date when next asked; a state
 * replaced or rolled back ({@linkcode EntityPids.reset}) is indexed anew.
 *
 * @example
 * ```ts
 * import { EntityPids } from "./entity_pids.ts";
 * import { createState, newEntity } from "./model.ts";
 *
 * const state = createState();
 * const pids = new EntityPids(() => state);
 * state.entities.set("web", { ...newEntity("web", "attached", 0), pid: 42 });
 * if (!pids.has(42)) throw new Error("not indexed");
 * // A record gave "web" a new process (the reducer's change, then its touch).
 * state.entities.get("web")!.pid = 43;
 * pids.touch(["web"]);
 * if (pids.has(42) || !pids.has(43)) throw new Error("not kept");
 * ```
 */
export class EntityPids implements PidSet {
  #state: () => HamState;
  /** How many entities have each pid (two names may be given the same process). */
  #byPid = new Map<number, number>();
  #pidOf = new Map<string, number>();
  #dirty = new Set<string>();
  #stale = true;

  /** An index of `state()`'s entities' pids (built when first asked). */
  constructor(state: () => HamState) {
    this.#state = state;
  }

  /** Notes entities whose pid a record may have changed. */
  touch(names: Iterable<string>): void {
    if (this.#stale) return;
    for (const name of names) this.#dirty.add(name);
    // Names touched and never asked about (a churn of attaches and detaches with no death)
    // are bounded: past the number of entities, indexing anew costs no more.
    if (this.#dirty.size > Math.max(1024, this.#pidOf.size)) this.reset();
  }

  /** The state was replaced or rolled back: indexed anew when next asked. */
  reset(): void {
    this.#stale = true;
    this.#dirty.clear();
    this.#byPid.clear();
    this.#pidOf.clear();
  }

  /** True when `pid` is the process of an entity now. */
  has(pid: number): boolean {
    this.#sync();
    return this.#byPid.has(pid);
  }

  #sync(): void {
    const { entities } = this.#state();
    if (this.#stale) {
      this.#stale = false;
      for (const e of entities.values()) if (e.pid !== null) this.#set(e.name, e.pid);
      return;
    }
    for (const name of this.#dirty) {
      const old = this.#pidOf.get(name);
      if (old !== undefined) {
        this.#pidOf.delete(name);
        const left = (this.#byPid.get(old) ?? 1) - 1;
        if (left > 0) this.#byPid.set(old, left);
        else this.#byPid.delete(old);
      }
      const pid = entities.get(name)?.pid ?? null;
      if (pid !== null) this.#set(name, pid);
    }
    this.#dirty.clear();
  }

  #set(name: string, pid: number): void {
    this.#pidOf.set(name, pid);
    this.#byPid.set(pid, (this.#byPid.get(pid) ?? 0) + 1);
  }
}
