/**
 * Journal records: every change to the HAM state, as data. The journal stores them,
 * the Guardian follows them, and `applyRecord()` is the only code that interprets them.
 *
 * @module
 */

import type { ConditionType } from "./flags.ts";
import type {
  Action,
  ActionParams,
  EntityKind,
  HeartbeatHealth,
  HeartbeatSpec,
  KillMode,
  Leftover,
  RaiseMatch,
  RunEvent,
  StateMatch,
} from "./model.ts";
import type { ItemPath } from "./names.ts";

/** A change to the state, without its sequence number. */
export type RecordBody =
  /** A placeholder entity (`ham_entity`). */
  | { t: "entity"; entity: string; flags: number; at: number }
  /** A process attached to an entity (new, or filling a placeholder or a kept dead entity). */
  | {
    t: "attach";
    entity: string;
    kind: Exclude<EntityKind, "placeholder" | "global">;
    pid: number;
    startTime: string | null;
    argv: string[] | null;
    cwd: string | null;
    env: Record<string, string> | null;
    spawnId: string | null;
    spawned: boolean;
    flags: number;
    heartbeat: HeartbeatSpec | null;
    /** Absent in journals written before kill modes: `control-group`. */
    killMode?: KillMode;
    at: number;
  }
  /** An attach is about to spawn a process carrying `spawnId` (journaled before it does). */
  | { t: "attach-intent"; entity: string; spawnId: string }
  /** The spawn of an attach-intent failed, or its process was cleaned up after a takeover. */
  | { t: "attach-abandoned"; spawnId: string }
  /** The entity is removed (detach, or death without restart). */
  | { t: "remove"; entity: string }
  | {
    t: "cond-add";
    entity: string;
    condition: string;
    type: ConditionType;
    flags: number;
    match: StateMatch | RaiseMatch | null;
  }
  | { t: "cond-remove"; entity: string; condition: string }
  | {
    t: "action-add";
    entity: string;
    condition: string;
    action: string;
    flags: number;
    params: ActionParams;
  }
  /** `auto`: removed because it failed; an emptied condition goes too unless keep-on-empty. */
  | { t: "action-remove"; entity: string; condition: string; action: string; auto: boolean }
  | {
    t: "fail-add";
    entity: string;
    condition: string;
    action: string;
    name: string;
    params: ActionParams;
  }
  | { t: "fail-remove"; entity: string; condition: string; action: string; name: string }
  | { t: "enable"; path: ItemPath; enabled: boolean; recurse: boolean }
  | { t: "flags"; path: ItemPath; flags: number }
  | { t: "verbosity"; value: number }
  /** The entity's process died. */
  | {
    t: "death";
    entity: string;
    pid: number;
    code: number | null;
    signal: string | null;
    at: number;
  }
  /** The entity was restarted: new pid, restart count, pruning of non-rearmed items. */
  | {
    t: "restart";
    entity: string;
    pid: number;
    /** The command used, when the restart action gave its own. */
    argv?: string[] | null;
    startTime: string | null;
    spawnId: string | null;
    at: number;
  }
  /**
   * An operator asked to restart the entity (`hamctl restart`), replacing process `pid`
   * (null: it had none), the new one to carry spawn marker `spawnId`: journaled before
   * anything is done, so a HAM that takes over finishes it. `spawnId` null: the request is
   * dropped (its restart could not be made).
   */
  | { t: "restart-request"; entity: string; pid: number | null; spawnId: string | null }
  /** A restart policy delays (backoff) or holds back (limit reached) a restart. */
  | { t: "restart-policy"; entity: string; backoffMs: number; blocked: string | null }
  /** The processes its processes left behind that the entity keeps (kill mode `process`). */
  | { t: "leftovers"; entity: string; procs: Leftover[] }
  /** The entity is now followed at another pid (a daemon that forked). */
  | { t: "follow"; entity: string; pid: number; startTime: string | null }
  /**
   * An event fired conditions: one run per fired condition, each with its action list as
   * it was then. Journaled durably before any action runs.
   */
  | { t: "fire"; event: RunEvent; runs: RunStart[] }
  /** An action list ended (completed, broke on failure, or its condition vanished). */
  | { t: "run-end"; run: string }
  /** The handling of an entity's death (conditions, removal) has finished. */
  | { t: "death-done"; entity: string }
  /** Statistics: an action (or, with `fail`, an action-fail item) ran. */
  | {
    t: "result";
    entity: string;
    condition: string;
    action: string;
    fail: string | null;
    ok: boolean;
    /** The run and the index of the action in its list, when part of a run. */
    run?: string;
    index?: number;
    /** The action was disabled, and skipped: the run goes on past it, nothing is counted. */
    skipped?: boolean;
  }
  /** The entity published a new state. */
  | { t: "state"; entity: string; to: number }
  /** Heartbeat bookkeeping. */
  | {
    t: "heartbeat";
    entity: string;
    missed: number;
    health: HeartbeatHealth;
    lastBeat: number | null;
  }
  /** A HAM or Guardian failure was observed (counts for `status`). */
  | { t: "failure"; role: "ham" | "guardian"; at: number };

/** One action list started by a `fire` record. */
export interface RunStart {
  run: string;
  owner: string;
  condition: string;
  lane: "nowait" | "independent" | "other";
  list: Action[];
}

/** A journal record: a change and its sequence number. */
export type HamRecord = RecordBody & { seq: number };
