/**
 * The HAM's state: the entity → condition → action → action-fail tree, with the
 * per-entity process, heartbeat and statistics fields that must survive a restart of the
 * HAM or a Guardian takeover. Plain data; changed only by `applyRecord()`.
 *
 * @module
 */

import { HamError } from "./errors.ts";
import type { ConditionType } from "./flags.ts";
import { GLOBAL_ENTITY, type ItemPath } from "./names.ts";
import { DEFAULTS } from "./defaults.ts";

/** How a process ended. `code` and `signal` are both null when it is unknown (not our child). */
export interface ExitStatus {
  /** The exit code, when the process exited. */
  code: number | null;
  /** The signal that killed it (`SIGKILL`), when one did. */
  signal: string | null;
}

/**
 * The last death of an entity.
 *
 * @example
 * ```ts
 * import type { LastExit } from "./model.ts";
 *
 * // "exited with code 3" or "killed by SIGKILL".
 * export function howItDied(exit: LastExit): string {
 *   return exit.signal ? `killed by ${exit.signal}` : `exited with code ${exit.code}`;
 * }
 * console.log(howItDied({ pid: 42, code: 3, signal: null, at: 0 })); // "exited with code 3"
 * ```
 */
export interface LastExit {
  /** The pid that died. */
  pid: number;
  /** The exit code, when it exited. */
  code: number | null;
  /** The signal that killed it (`SIGKILL`), when one did. */
  signal: string | null;
  /** When it died, in ms since the epoch. */
  at: number;
}

/**
 * What the HAM does with the processes an entity's process leaves behind when it ends
 * (systemd's `KillMode=`): `control-group` ends them (SIGTERM, then SIGKILL after
 * `leftoverStopTimeoutMs`), `process` keeps them and lists them under the entity.
 */
export type KillMode = "control-group" | "process";

/** The kill modes, the default first. */
export const KILL_MODES: readonly KillMode[] = ["control-group", "process"];

/** A process an entity's process left behind; its start time tells it from a reused pid. */
export interface Leftover {
  pid: number;
  /** Field 22 of `/proc/PID/stat`. */
  startTime: string;
}

/** How an entity came to be. */
export type EntityKind = "attached" | "self" | "placeholder" | "global";

/**
 * Heartbeat parameters of a self-attached (or `--heartbeat`) entity.
 *
 * @example
 * ```ts
 * import type { HeartbeatSpec } from "./model.ts";
 *
 * // A beat every 2 s; hb-missed-low after 1 missed period, hb-missed-high after 3.
 * const spec: HeartbeatSpec = { periodMs: 2_000, low: 1, high: 3 };
 * console.log(spec.periodMs * spec.high); // 6000 ms of silence before hb-missed-high
 * ```
 */
export interface HeartbeatSpec {
  /** Period in milliseconds. */
  periodMs: number;
  /** Missed periods before `hb-missed-low` fires; 0 disables it. */
  low: number;
  /** Missed periods before `hb-missed-high` fires; 0 disables it. */
  high: number;
}

/**
 * Heartbeat health, latched until a heartbeat-healthy action or a restart.
 *
 * @example
 * ```ts
 * import type { HeartbeatHealth } from "./model.ts";
 *
 * export function isHealthy(health: HeartbeatHealth): boolean {
 *   return health === "healthy";
 * }
 * console.log(isHealthy("missed-low")); // false
 * ```
 */
export type HeartbeatHealth = "healthy" | "missed-low" | "missed-high";

/**
 * Restart-storm protection carried by a restart action.
 *
 * @example
 * ```ts
 * import type { RestartPolicy } from "./model.ts";
 *
 * // Exponential backoff from 100 ms to 5 s; at most 5 restarts in 10 s, then one retry after 60 s.
 * const policy: RestartPolicy = {
 *   backoffMs: 100,
 *   maxBackoffMs: 5_000,
 *   jitter: 0.1,
 *   intensity: 5,
 *   windowMs: 10_000,
 *   cooldownMs: 60_000,
 * };
 * console.log(policy.intensity); // 5
 * ```
 */
export interface RestartPolicy {
  /** First backoff delay in ms (0 = restart at once). */
  backoffMs: number;
  /** Cap of the exponential backoff in ms. */
  maxBackoffMs: number;
  /** Jitter as a fraction of the delay (0–1). */
  jitter: number;
  /** At most this many restarts within `windowMs` (0 = no limit). */
  intensity: number;
  /** The intensity window in ms. */
  windowMs: number;
  /** After the limit is hit, retry once after this cool-down in ms (0 = give up). */
  cooldownMs: number;
}

/**
 * The parameters of an action, by kind.
 *
 * @example
 * ```ts
 * import type { ActionParams } from "./model.ts";
 *
 * // A one-line description of what an action does.
 * export function describe(p: ActionParams): string {
 *   switch (p.kind) {
 *     case "restart":
 *       return p.argv ? `restart as ${p.argv.join(" ")}` : "restart";
 *     case "execute":
 *       return `run ${p.argv.join(" ")}`;
 *     case "signal":
 *       return `signal ${p.signal}`;
 *     case "notify":
 *       return `notify ${p.channel}`;
 *     default:
 *       return p.kind;
 *   }
 * }
 * console.log(describe({ kind: "execute", argv: ["/bin/true"] })); // "run /bin/true"
 * ```
 */
export type ActionParams =
  | { kind: "restart"; argv: string[] | null; policy: RestartPolicy | null }
  | {
    kind: "execute";
    argv: string[];
    /**
     * Time limit of the command in ms (0: none); absent: `DEFAULTS.executeTimeoutMs`. Past
     * it the command is ended and the action fails with ETIMEDOUT.
     */
    timeoutMs?: number;
  }
  | { kind: "waitfor"; delayMs: number; pathname: string | null }
  | {
    kind: "signal";
    pid: number | null;
    signal: number;
    /** Another node: its HAM signals `entity`'s process there (pid is then null). */
    node?: string;
    /** With `node`: the entity of that node whose process is signalled. */
    entity?: string;
  }
  | { kind: "log"; message: string; prefix: boolean; verbosity: number }
  | { kind: "heartbeat-healthy" }
  | {
    kind: "notify";
    channel: string;
    code: number;
    value: number;
    /** Another node: its HAM delivers the notification to its subscribers of `channel`. */
    node?: string;
  };

/** One item of an action's action-fail list. */
export interface ActionFail {
  name: string;
  params: ActionParams;
  runs: number;
  failures: number;
}

/** An action in a condition's list. */
export interface Action {
  name: string;
  flags: number;
  enabled: boolean;
  params: ActionParams;
  runs: number;
  failures: number;
  fails: ActionFail[];
}

/**
 * What a `state` condition matches (0 = any; sets are bitmaps, see the HCONDSTATE flags).
 *
 * @example
 * ```ts
 * import type { StateMatch } from "./model.ts";
 *
 * // Any state to state 2 (0 = any).
 * const match: StateMatch = { from: 0, to: 2 };
 * console.log(match); // { from: 0, to: 2 }
 * ```
 */
export interface StateMatch {
  /** The state left (a state, or a bit set of states with the HCONDSTATEFROMSET flag). */
  from: number;
  /** The state entered (likewise, with HCONDSTATETOSET). */
  to: number;
}

/**
 * What a `raise` condition matches (0 = any, per field).
 *
 * @example
 * ```ts
 * import type { RaiseMatch } from "./model.ts";
 *
 * // Any raise of type 2 with severity 5, whatever its class.
 * const match: RaiseMatch = { rtype: 2, rclass: 0, rseverity: 5 };
 * console.log(match.rclass === 0 ? "any class" : match.rclass); // "any class"
 * ```
 */
export interface RaiseMatch {
  /** The type raised. */
  rtype: number;
  /** Its class. */
  rclass: number;
  /** Its severity. */
  rseverity: number;
}

/** A condition on an entity. */
export interface Condition {
  name: string;
  type: ConditionType;
  flags: number;
  enabled: boolean;
  match: StateMatch | RaiseMatch | null;
  fired: number;
  actions: Action[];
}

/** A monitored process (or a placeholder, or the global entity). */
export interface Entity {
  name: string;
  kind: EntityKind;
  flags: number;
  enabled: boolean;
  /** The process being monitored, or null when there is none. */
  pid: number | null;
  /** Field 22 of `/proc/PID/stat`, to tell a recycled pid from ours. */
  startTime: string | null;
  /** The command that starts (and restarts) the entity. */
  argv: string[] | null;
  cwd: string | null;
  /** Extra environment for the command. */
  env: Record<string, string> | null;
  /** A marker put in the environment of processes the HAM spawns, to follow daemons. */
  spawnId: string | null;
  /** True when the HAM started the current process. */
  spawned: boolean;
  /** What is done with the processes its process leaves behind when it ends. */
  killMode: KillMode;
  /**
   * With kill mode `process`: the processes its processes left behind that still run (at
   * most `maxLeftovers`), listed by `status`; empty with `control-group`.
   */
  leftovers: Leftover[];
  created: number;
  restarts: number;
  deaths: number;
  lastExit: LastExit | null;
  /** The last published state (CONDSTATE "from"). */
  state: number;
  heartbeat: HeartbeatSpec | null;
  /**
   * Periods missed in a row. Changed outside the reducer too: the engine counts misses in
   * memory and journals only transitions (a change of health, a reset to 0 of a journaled
   * count), so an entity that never beats does not write a record per period.
   */
  hbMissed: number;
  hbHealth: HeartbeatHealth;
  /**
   * The last heartbeat (ms since the epoch). The one field changed outside the reducer:
   * the engine sets it on every beat without journaling it (a record per beat would cost
   * an fsync'd write per beat); it is journaled with each `heartbeat` record (a change of
   * missed count or health), so a replay has the value of the last such change.
   */
  lastBeat: number | null;
  /** Times of the latest restarts (ms since the epoch, at most 64), for restart policies. */
  recentRestarts: number[];
  /** The backoff delay before the pending restart, ms (0 = none). */
  backoffMs: number;
  /** Why the entity is not being restarted (a restart policy's limit), or null. */
  restartBlocked: string | null;
  /** A death was recorded and its handling (conditions, removal) has not finished. */
  deathPending: boolean;
  /** The pending death's conditions were fired (their runs are journaled). */
  deathFired: boolean;
  conditions: Map<string, Condition>;
  /**
   * An operator's restart under way (`hamctl restart`): the process it replaces (null: it
   * had none) and the spawn marker of the new one. Absent when there is none.
   */
  restartRequest?: { pid: number | null; spawnId: string };
}

/** An event as journaled with a run (what fired the condition). */
export interface RunEvent {
  type: string;
  entity: string;
  transition?: { from: number; to: number };
  raised?: RaiseMatch;
}

/**
 * An action list being run: journaled when it starts, advanced as each action completes,
 * dropped when it ends. A HAM that takes over resumes it at `next` instead of repeating it.
 */
export interface RunState {
  /** The run id (unique within the journal). */
  name: string;
  owner: string;
  condition: string;
  lane: "nowait" | "independent" | "other";
  event: RunEvent;
  /** The action list as it was when the condition fired. */
  list: Action[];
  /** Index of the first action that has not completed. */
  next: number;
}

/** The whole HAM state. */
export interface HamState {
  /** Sequence number of the last record applied. */
  seq: number;
  verbosity: number;
  hamFailures: number;
  guardianFailures: number;
  lastTakeover: number | null;
  entities: Map<string, Entity>;
  /** Action lists in progress. */
  runs: Map<string, RunState>;
  /** Spawn markers of attaches whose process may exist but whose attach is not journaled. */
  pendingSpawns: string[];
}

/** Creates a fresh entity record. */
export function newEntity(name: string, kind: EntityKind, created: number): Entity {
  return {
    name,
    kind,
    flags: 0,
    enabled: true,
    pid: null,
    startTime: null,
    argv: null,
    cwd: null,
    env: null,
    spawnId: null,
    spawned: false,
    killMode: DEFAULTS.killMode,
    leftovers: [],
    created,
    restarts: 0,
    deaths: 0,
    lastExit: null,
    state: 0,
    heartbeat: null,
    hbMissed: 0,
    hbHealth: "healthy",
    lastBeat: null,
    recentRestarts: [],
    backoffMs: 0,
    restartBlocked: null,
    deathPending: false,
    deathFired: false,
    conditions: new Map(),
  };
}

/** The empty state: only the global entity. */
export function createState(): HamState {
  const entities = new Map<string, Entity>();
  entities.set(GLOBAL_ENTITY, newEntity(GLOBAL_ENTITY, "global", 0));
  return {
    seq: 0,
    verbosity: DEFAULTS.verbosity,
    hamFailures: 0,
    guardianFailures: 0,
    lastTakeover: null,
    entities,
    runs: new Map(),
    pendingSpawns: [],
  };
}

/** Looks up an entity; throws ENOENT. */
export function getEntity(state: HamState, name: string): Entity {
  const e = state.entities.get(name);
  if (!e) throw new HamError("ENOENT", `Cannot find entity "${name}"`);
  return e;
}

/** Looks up a condition; throws ENOENT. */
export function getCondition(state: HamState, entity: string, condition: string): Condition {
  const c = getEntity(state, entity).conditions.get(condition);
  if (!c) throw new HamError("ENOENT", `Cannot find condition "${entity}/${condition}"`);
  return c;
}

/** Looks up an action; throws ENOENT. */
export function getAction(
  state: HamState,
  entity: string,
  condition: string,
  action: string,
): Action {
  const a = getCondition(state, entity, condition).actions.find((x) => x.name === action);
  if (!a) {
    throw new HamError("ENOENT", `Cannot find action "${entity}/${condition}/${action}"`);
  }
  return a;
}

/** Looks up whatever item a path names. */
export function getItem(state: HamState, p: ItemPath): Entity | Condition | Action {
  if (p.action !== undefined) return getAction(state, p.entity, p.condition!, p.action);
  if (p.condition !== undefined) return getCondition(state, p.entity, p.condition);
  return getEntity(state, p.entity);
}
