/**
 * Which conditions fire for an event, and on which lane they run (QNX §1.3, §4, §5.1).
 * Pure: state and event in, a list out.
 *
 * @module
 */

import {
  type EventType,
  HCONDINDEPENDENT,
  HCONDNOWAIT,
  HCONDSTATEFROMINV,
  HCONDSTATEFROMSET,
  HCONDSTATETOINV,
  HCONDSTATETOSET,
} from "./flags.ts";
import type { Condition, HamState, RaiseMatch, StateMatch } from "./model.ts";
import { GLOBAL_ENTITY } from "./names.ts";

/** Something that happened to an entity. */
export interface EntityEvent {
  /** What happened; an abnormal death is reported as `abnormal-death` and also fires `death`. */
  type: EventType;
  /** The entity it happened to (never the global entity). */
  entity: string;
  /** For `state`: the transition. */
  transition?: { from: number; to: number };
  /** For `raise`: what was raised. */
  raised?: RaiseMatch;
}

/** The lane a condition's action list runs on. */
export type Lane = "nowait" | "independent" | "other";

/** A condition selected to run, and where. */
export interface Firing {
  /** The entity that owns the condition: the event's entity or `@global`. */
  owner: string;
  condition: string;
  lane: Lane;
}

/** The lane for a condition's flags: NOWAIT wins over INDEPENDENT (QNX §5.1). */
export function laneOf(flags: number): Lane {
  if (flags & HCONDNOWAIT) return "nowait";
  if (flags & HCONDINDEPENDENT) return "independent";
  return "other";
}

function matchSide(value: number, want: number, isSet: boolean, inverted: boolean): boolean {
  if (!isSet) return want === 0 || want === value;
  const inSet = value < 32 && ((want >>> value) & 1) === 1;
  return inverted ? !inSet : inSet;
}

/**
 * True when a state transition matches a `state` condition. Each side is an exact value,
 * 0 for any, or with the *SET flag a bitmap (bit n = state n; states ≥ 32 are never in a
 * set), inverted by the *INV flag.
 */
export function matchesState(m: StateMatch, flags: number, from: number, to: number): boolean {
  return matchSide(
    from,
    m.from,
    (flags & HCONDSTATEFROMSET) !== 0,
    (flags & HCONDSTATEFROMINV) !== 0,
  ) &&
    matchSide(to, m.to, (flags & HCONDSTATETOSET) !== 0, (flags & HCONDSTATETOINV) !== 0);
}

/** True when a raised condition matches a `raise` condition (0 = any, per field). */
export function matchesRaise(m: RaiseMatch, r: RaiseMatch): boolean {
  return (m.rtype === 0 || m.rtype === r.rtype) &&
    (m.rclass === 0 || m.rclass === r.rclass) &&
    (m.rseverity === 0 || m.rseverity === r.rseverity);
}

function conditionMatches(c: Condition, types: readonly EventType[], ev: EntityEvent): boolean {
  if (!c.enabled) return false;
  if (c.type === "any") return true;
  if (!types.includes(c.type)) return false;
  if (c.type === "state") {
    return ev.transition !== undefined &&
      matchesState(c.match as StateMatch, c.flags, ev.transition.from, ev.transition.to);
  }
  if (c.type === "raise") {
    return ev.raised !== undefined && matchesRaise(c.match as RaiseMatch, ev.raised);
  }
  return true;
}

/** The event types an event stands for: an abnormal death is also a death. */
export function eventTypes(ev: EntityEvent): EventType[] {
  return ev.type === "abnormal-death" ? ["abnormal-death", "death"] : [ev.type];
}

/**
 * The conditions that fire for an event: the entity's own, in insertion order, then the
 * global entity's. Each condition fires once even when it matches two event types.
 * Nothing fires for a disabled entity (it is not monitored).
 */
export function firings(state: HamState, ev: EntityEvent): Firing[] {
  const entity = state.entities.get(ev.entity);
  if (!entity || !entity.enabled) return [];
  const types = eventTypes(ev);
  const out: Firing[] = [];
  const owners = [entity];
  const global = state.entities.get(GLOBAL_ENTITY);
  if (global && global.enabled && entity.name !== GLOBAL_ENTITY) owners.push(global);
  for (const owner of owners) {
    for (const c of owner.conditions.values()) {
      if (conditionMatches(c, types, ev)) {
        out.push({ owner: owner.name, condition: c.name, lane: laneOf(c.flags) });
      }
    }
  }
  return out;
}
