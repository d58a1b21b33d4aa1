/**
 * What the plain-file status mirror holds, and what brings it up to date
 * ({@linkcode StatusTree}): each entity's files are rendered again only when the entity
 * was touched, so one change costs its own entity, not the whole tree. Pure: the daemon
 * writes the {@linkcode StatusWrites} it returns (`lib/daemon/status_mirror.ts`).
 *
 * @module
 */

import type { Entity, HamState } from "./model.ts";
import { entityView, type HamInfo, hamSummary, listedInView } from "./status_view.ts";
import { renderEntityFiles, renderHamInfo } from "./status_text.ts";

/** The file changes that make a mirror directory match the state. */
export interface StatusWrites {
  /** Files to create or replace: relative path → contents. */
  write: Map<string, string>;
  /**
   * Relative paths to remove, each a file or a directory with everything in it; none is
   * inside another, and none is the parent of a file in `write`.
   */
  remove: string[];
}

/** The heartbeat fields an entity's `.info` was rendered with. */
interface BeatFields {
  lastBeat: number | null;
  missed: number;
}

/** What the mirror holds of one entity. */
interface Rendered {
  files: Map<string, string>;
  conditions: number;
  actions: number;
  beat: BeatFields | null;
}

function parentOf(rel: string): string {
  const i = rel.lastIndexOf("/");
  return i < 0 ? "" : rel.slice(0, i);
}

function dirsOf(files: ReadonlyMap<string, string>): Set<string> {
  const dirs = new Set<string>();
  for (const rel of files.keys()) {
    for (let p = parentOf(rel); p !== "" && !dirs.has(p); p = parentOf(p)) dirs.add(p);
  }
  return dirs;
}

/**
 * The changes that turn the files `before` into `after` (both relative path → contents):
 * new and changed files are written; a directory left with no file is removed whole, and
 * a file gone from a directory that stays is removed alone.
 *
 * @example
 * ```ts
 * import { diffFiles } from "./status_tree.ts";
 * const before = new Map([["web/.info", "a"], ["web/death/.info", "b"]]);
 * const w = diffFiles(before, new Map([["web/.info", "c"]]));
 * console.log([...w.write.keys()], w.remove); // ["web/.info"] ["web/death"]
 * ```
 */
export function diffFiles(
  before: ReadonlyMap<string, string>,
  after: ReadonlyMap<string, string>,
): StatusWrites {
  const write = new Map<string, string>();
  for (const [rel, text] of after) if (before.get(rel) !== text) write.set(rel, text);
  const keep = dirsOf(after);
  const gone = [...dirsOf(before)].filter((d) => !keep.has(d));
  const goneSet = new Set(gone);
  // Only the outermost directory that goes: everything inside goes with it.
  const remove = gone.filter((d) => !goneSet.has(parentOf(d)));
  for (const rel of before.keys()) {
    if (!after.has(rel) && !goneSet.has(parentOf(rel))) remove.push(rel);
  }
  return { write, remove };
}

/**
 * The status mirror's contents, kept between changes so that a change re-renders only the
 * entities it touched (and the top `.info`, from running counts), and the heartbeat fields
 * that moved without a record (`Last Heartbeat`, `Missed Heartbeats`) can be found
 * without rendering anything.
 *
 * @example
 * ```ts
 * import { createState } from "./model.ts";
 * import { applyRecord } from "./reducer.ts";
 * import { StatusTree } from "./status_tree.ts";
 * const state = createState();
 * applyRecord(state, { seq: 1, t: "entity", entity: "web", flags: 0, at: 0 });
 * const tree = new StatusTree();
 * const info = { hamPid: 1, guardianPid: null, startedAt: 0 };
 * console.log([...tree.update(state, info, ["web"]).write.keys()]); // [".info", "web/.info"]
 * console.log(tree.update(state, info, ["web"]).write.size); // 0
 * ```
 */
export class StatusTree {
  #entities = new Map<string, Rendered>();
  #top: string | null = null;
  #conditions = 0;
  #actions = 0;
  /** Entities rendered with heartbeat fields. */
  #beating = new Set<string>();

  /** Entities whose files are held. */
  get size(): number {
    return this.#entities.size;
  }

  /** Entities rendered with heartbeat fields (the ones {@linkcode staleHeartbeats} looks at). */
  get heartbeats(): number {
    return this.#beating.size;
  }

  /** Every file held now, relative path → contents (for a write that walks the directory). */
  files(): Map<string, string> {
    const out = new Map<string, string>();
    if (this.#top !== null) out.set(".info", this.#top);
    for (const r of this.#entities.values()) for (const [k, v] of r.files) out.set(k, v);
    return out;
  }

  /** Forgets everything held (what is on disk is no longer known). */
  reset(): void {
    this.#entities.clear();
    this.#beating.clear();
    this.#top = null;
    this.#conditions = 0;
    this.#actions = 0;
  }

  /**
   * Renders again the entities named in `touched` (the ones gone from `state` are removed)
   * and the top `.info`; returns the files that changed.
   */
  update(state: HamState, info: HamInfo, touched: Iterable<string>): StatusWrites {
    const out: StatusWrites = { write: new Map(), remove: [] };
    for (const name of new Set(touched)) {
      const e = state.entities.get(name);
      const w = this.#entity(name, e !== undefined && listedInView(e) ? e : null);
      for (const [k, v] of w.write) out.write.set(k, v);
      out.remove.push(...w.remove);
    }
    const top = renderHamInfo(hamSummary(state, info, {
      entities: this.#entities.size,
      conditions: this.#conditions,
      actions: this.#actions,
    }));
    if (top !== this.#top) out.write.set(".info", top);
    this.#top = top;
    return out;
  }

  /** Renders again every entity of `state` and every one held (after a reload of the state). */
  updateAll(state: HamState, info: HamInfo): StatusWrites {
    return this.update(state, info, [...this.#entities.keys(), ...state.entities.keys()]);
  }

  /**
   * The entities whose heartbeat fields on file differ from `state` now (a beat came, or a
   * period was missed, neither of which writes a record): what a refresh renders again. At
   * most `max`: those whose missed count moved first, then those whose last beat moved,
   * each the longest unrendered first (a rendered entity goes to the back of the line), so
   * a large fleet of beating entities costs `max` files per refresh and none waits forever.
   */
  staleHeartbeats(state: HamState, max = Infinity): string[] {
    const missed: string[] = [];
    const beaten: string[] = [];
    for (const name of this.#beating) {
      const e = state.entities.get(name);
      const beat = this.#entities.get(name)?.beat;
      if (!e || !beat || e.hbMissed !== beat.missed) missed.push(name);
      else if (e.lastBeat !== beat.lastBeat && missed.length + beaten.length < max) {
        beaten.push(name);
      }
      if (missed.length >= max) break;
    }
    return missed.concat(beaten).slice(0, max);
  }

  #entity(name: string, e: Entity | null): StatusWrites {
    const held = this.#entities.get(name);
    const view = e === null ? null : entityView(e);
    const files = view === null ? new Map<string, string>() : renderEntityFiles(view);
    const writes = diffFiles(held?.files ?? new Map(), files);
    if (held) {
      this.#conditions -= held.conditions;
      this.#actions -= held.actions;
    }
    if (view === null || e === null) {
      // Its directory goes whole (diffFiles: no file is left in it).
      this.#entities.delete(name);
      this.#beating.delete(name);
      return writes;
    }
    const conditions = view.conditions.length;
    const actions = view.conditions.reduce((n, c) => n + c.actions.length, 0);
    const beat = e.heartbeat ? { lastBeat: e.lastBeat, missed: e.hbMissed } : null;
    this.#entities.set(name, { files, conditions, actions, beat });
    this.#conditions += conditions;
    this.#actions += actions;
    // To the back of the line of heartbeat refreshes.
    this.#beating.delete(name);
    if (beat) this.#beating.add(name);
    return writes;
  }
}
