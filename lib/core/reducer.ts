/**
 * The one reducer: `applyRecord(state, record)` is the only code that changes HAM state.
 * The HAM applies each record as it journals it; start-up and Guardian takeover replay
 * snapshot + journal through the same function.
 *
 * It is deterministic and does no I/O: everything it needs (times, pids) is in the record.
 * For speed with 10,000 entities it updates `state` in place instead of copying it.
 * Records naming items that no longer exist are ignored, so replay never throws.
 *
 * @module
 */

import { HCONDKEEPONEMPTY, HREARMAFTERRESTART } from "./flags.ts";
import { type Action, type Condition, type Entity, type HamState, newEntity } from "./model.ts";
import type { ItemPath } from "./names.ts";
import type { HamRecord } from "./records.ts";

function findCondition(state: HamState, entity: string, condition: string): Condition | undefined {
  return state.entities.get(entity)?.conditions.get(condition);
}

function findAction(
  state: HamState,
  entity: string,
  condition: string,
  action: string,
): Action | undefined {
  return findCondition(state, entity, condition)?.actions.find((a) => a.name === action);
}

function findItem(state: HamState, p: ItemPath): Entity | Condition | Action | undefined {
  if (p.action !== undefined) return findAction(state, p.entity, p.condition!, p.action);
  if (p.condition !== undefined) return findCondition(state, p.entity, p.condition);
  return state.entities.get(p.entity);
}

function setEnabled(item: Entity | Condition | Action, enabled: boolean, recurse: boolean): void {
  item.enabled = enabled;
  if (!recurse) return;
  if ("conditions" in item) {
    for (const c of item.conditions.values()) setEnabled(c, enabled, true);
  } else if ("actions" in item) {
    for (const a of item.actions) a.enabled = enabled;
  }
}

/** Removes what a restart does not keep (QNX §5.3): non-rearmed conditions and actions. */
export function pruneAtRestart(e: Entity): void {
  for (const [name, c] of e.conditions) {
    if ((c.flags & HREARMAFTERRESTART) === 0) {
      e.conditions.delete(name);
      continue;
    }
    const before = c.actions.length;
    c.actions = c.actions.filter((a) => (a.flags & HREARMAFTERRESTART) !== 0);
    if (before > 0 && c.actions.length === 0 && (c.flags & HCONDKEEPONEMPTY) === 0) {
      e.conditions.delete(name);
    }
  }
}

function resetHeartbeat(e: Entity, at: number | null): void {
  e.hbMissed = 0;
  e.hbHealth = "healthy";
  e.lastBeat = at;
}

/** Applies one journal record to the state, in place. */
export function applyRecord(state: HamState, r: HamRecord): void {
  state.seq = r.seq;
  switch (r.t) {
    case "entity": {
      if (!state.entities.has(r.entity)) {
        const e = newEntity(r.entity, "placeholder", r.at);
        e.flags = r.flags;
        state.entities.set(r.entity, e);
      }
      return;
    }
    case "attach": {
      let e = state.entities.get(r.entity);
      if (!e) {
        e = newEntity(r.entity, r.kind, r.at);
        state.entities.set(r.entity, e);
      }
      if (r.spawnId !== null && state.pendingSpawns?.includes(r.spawnId)) {
        state.pendingSpawns = state.pendingSpawns.filter((s) => s !== r.spawnId);
      }
      e.kind = r.kind;
      e.pid = r.pid;
      e.startTime = r.startTime;
      e.argv = r.argv;
      e.cwd = r.cwd;
      e.env = r.env;
      e.spawnId = r.spawnId;
      e.spawned = r.spawned;
      e.killMode = r.killMode ?? "control-group";
      // Filling a placeholder (or a kept dead entity) adds to the flags it already holds.
      e.flags |= r.flags;
      e.heartbeat = r.heartbeat;
      e.deathPending = false;
      e.deathFired = false;
      resetHeartbeat(e, r.heartbeat ? r.at : null);
      return;
    }
    case "attach-intent": {
      state.pendingSpawns = [...(state.pendingSpawns ?? []), r.spawnId];
      return;
    }
    case "attach-abandoned": {
      state.pendingSpawns = (state.pendingSpawns ?? []).filter((s) => s !== r.spawnId);
      return;
    }
    case "remove": {
      const e = state.entities.get(r.entity);
      if (e && e.kind !== "global") state.entities.delete(r.entity);
      return;
    }
    case "cond-add": {
      const e = state.entities.get(r.entity);
      if (!e || e.conditions.has(r.condition)) return;
      e.conditions.set(r.condition, {
        name: r.condition,
        type: r.type,
        flags: r.flags,
        enabled: true,
        match: r.match,
        fired: 0,
        actions: [],
      });
      return;
    }
    case "cond-remove": {
      state.entities.get(r.entity)?.conditions.delete(r.condition);
      return;
    }
    case "action-add": {
      const c = findCondition(state, r.entity, r.condition);
      if (!c || c.actions.some((a) => a.name === r.action)) return;
      c.actions.push({
        name: r.action,
        flags: r.flags,
        enabled: true,
        params: r.params,
        runs: 0,
        failures: 0,
        fails: [],
      });
      return;
    }
    case "action-remove": {
      const e = state.entities.get(r.entity);
      const c = e?.conditions.get(r.condition);
      if (!e || !c) return;
      c.actions = c.actions.filter((a) => a.name !== r.action);
      if (r.auto && c.actions.length === 0 && (c.flags & HCONDKEEPONEMPTY) === 0) {
        e.conditions.delete(r.condition);
      }
      return;
    }
    case "fail-add": {
      const a = findAction(state, r.entity, r.condition, r.action);
      if (!a || a.fails.some((f) => f.name === r.name)) return;
      a.fails.push({ name: r.name, params: r.params, runs: 0, failures: 0 });
      return;
    }
    case "fail-remove": {
      const a = findAction(state, r.entity, r.condition, r.action);
      if (a) a.fails = a.fails.filter((f) => f.name !== r.name);
      return;
    }
    case "enable": {
      const item = findItem(state, r.path);
      if (item) setEnabled(item, r.enabled, r.recurse);
      return;
    }
    case "flags": {
      const item = findItem(state, r.path);
      if (item) item.flags = r.flags;
      return;
    }
    case "verbosity":
      state.verbosity = r.value;
      return;
    case "death": {
      const e = state.entities.get(r.entity);
      if (!e || e.pid !== r.pid) return;
      e.pid = null;
      e.startTime = null;
      e.deaths++;
      e.lastExit = { pid: r.pid, code: r.code, signal: r.signal, at: r.at };
      e.deathPending = true;
      e.deathFired = false;
      return;
    }
    case "death-done": {
      const e = state.entities.get(r.entity);
      if (e) {
        e.deathPending = false;
        e.deathFired = false;
      }
      return;
    }
    case "fire": {
      for (const run of r.runs) {
        const { run: name, owner, condition, lane, list } = run;
        state.runs.set(name, { name, owner, condition, lane, event: r.event, list, next: 0 });
        const c = findCondition(state, run.owner, run.condition);
        if (c) c.fired++;
      }
      const e = state.entities.get(r.event.entity);
      const death = r.event.type === "death" || r.event.type === "abnormal-death";
      if (e && death && e.deathPending) e.deathFired = true;
      return;
    }
    case "run-end": {
      state.runs.delete(r.run);
      return;
    }
    case "restart-request": {
      const e = state.entities.get(r.entity);
      if (!e) return;
      if (r.spawnId === null) delete e.restartRequest;
      else e.restartRequest = { pid: r.pid, spawnId: r.spawnId };
      return;
    }
    case "restart": {
      const e = state.entities.get(r.entity);
      if (!e) return;
      delete e.restartRequest; // Done, whichever restart it was.
      e.pid = r.pid;
      e.startTime = r.startTime;
      e.spawnId = r.spawnId;
      if (r.argv) e.argv = r.argv;
      e.spawned = true;
      e.restarts++;
      e.recentRestarts = [...(e.recentRestarts ?? []), r.at].slice(-64);
      e.backoffMs = 0;
      e.restartBlocked = null;
      if (e.kind === "placeholder") e.kind = "attached";
      resetHeartbeat(e, e.heartbeat ? r.at : null);
      pruneAtRestart(e);
      return;
    }
    case "restart-policy": {
      const e = state.entities.get(r.entity);
      if (!e) return;
      e.backoffMs = r.backoffMs;
      e.restartBlocked = r.blocked;
      return;
    }
    case "leftovers": {
      const e = state.entities.get(r.entity);
      if (e) e.leftovers = r.procs.map((p) => ({ pid: p.pid, startTime: p.startTime }));
      return;
    }
    case "follow": {
      const e = state.entities.get(r.entity);
      if (!e) return;
      e.pid = r.pid;
      e.startTime = r.startTime;
      return;
    }
    case "result": {
      if (r.run !== undefined && r.index !== undefined && r.fail === null) {
        const run = state.runs.get(r.run);
        if (run) run.next = Math.max(run.next, r.index + 1);
      }
      if (r.skipped) return; // QNX: a disabled action is skipped, not run.
      const a = findAction(state, r.entity, r.condition, r.action);
      if (!a) return;
      const item = r.fail === null ? a : a.fails.find((f) => f.name === r.fail);
      if (!item) return;
      item.runs++;
      if (!r.ok) item.failures++;
      return;
    }
    case "state": {
      const e = state.entities.get(r.entity);
      if (e) e.state = r.to;
      return;
    }
    case "heartbeat": {
      const e = state.entities.get(r.entity);
      if (!e) return;
      e.hbMissed = r.missed;
      e.hbHealth = r.health;
      e.lastBeat = r.lastBeat;
      return;
    }
    case "failure": {
      if (r.role === "ham") {
        state.hamFailures++;
        state.lastTakeover = r.at;
      } else {
        state.guardianFailures++;
      }
      return;
    }
  }
}

/**
 * The entities whose state `r` may change, for the state tables: the record's entity, the
 * entity of an enable/flags path, the fired event's entity and every owner of a fired
 * condition. Records of the other parts of the state (runs, pending spawns, counters)
 * name none: the globals row is written whole with every image.
 */
export function touchedEntities(r: HamRecord): string[] {
  switch (r.t) {
    case "enable":
    case "flags":
      return [r.path.entity];
    case "fire":
      return [r.event.entity, ...r.runs.map((run) => run.owner)];
    case "attach-abandoned":
    case "verbosity":
    case "run-end":
    case "failure":
      return [];
    default:
      return [r.entity];
  }
}
