/**
 * The status view: the HAM state as the JSON form of QNX's `/proc/ham`, for the
 * whole tree or one entity, condition or action, and the plain-file mirror of it that
 * the daemon keeps in `<state-dir>/status/`. Pure: values in, values out. The text forms
 * are in `status_text.ts`.
 *
 * @module
 */

import { type ActionKind, type ConditionType, flagNames, HREARMAFTERRESTART } from "./flags.ts";
import {
  type Action,
  type ActionParams,
  type Condition,
  type Entity,
  getAction,
  getCondition,
  getEntity,
  type HamState,
  type HeartbeatHealth,
  type RaiseMatch,
  type StateMatch,
} from "./model.ts";
import { GLOBAL_ENTITY, type ItemPath } from "./names.ts";

/** Facts about the running HAM that are not part of the journaled state. */
export interface HamInfo {
  /** The HAM's pid. */
  hamPid: number;
  /** The Guardian's pid, or null when there is none. */
  guardianPid: number | null;
  /** When this HAM started, in ms since the epoch. */
  startedAt: number;
  /** Log lines this HAM could not write (a full disk). @default 0 */
  logLinesLost?: number;
}

/**
 * The last death of an entity; `at` is an ISO time.
 *
 * @example
 * ```ts
 * import type { LastExitView } from "./status_view.ts";
 *
 * const last: LastExitView = { pid: 42, code: null, signal: "SIGKILL", at: "2026-12-03T10:00:00.000Z" };
 * console.log(`${last.pid} died at ${last.at}`);
 * ```
 */
export interface LastExitView {
  /** The pid that died. */
  pid: number;
  /** Its exit code, when it exited. */
  code: number | null;
  /** The signal that killed it (`SIGKILL`), when one did. */
  signal: string | null;
  /** When it died. */
  at: string;
}

/**
 * Heartbeat parameters and health of an entity; `lastBeat` is an ISO time.
 *
 * @example
 * ```ts
 * import type { HeartbeatView } from "./status_view.ts";
 *
 * // How long ago the last beat came, in ms, or null if none came yet.
 * export function silence(hb: HeartbeatView, now = Date.now()): number | null {
 *   return hb.lastBeat === null ? null : now - Date.parse(hb.lastBeat);
 * }
 * const hb: HeartbeatView = {
 *   periodMs: 1_000,
 *   low: 2,
 *   high: 5,
 *   lastBeat: "2026-12-03T10:00:00.000Z",
 *   missed: 3,
 *   health: "missed-low",
 * };
 * console.log(silence(hb, Date.parse("2026-12-03T10:00:03.500Z"))); // 3500
 * ```
 */
export interface HeartbeatView {
  /** The heartbeat period in ms. */
  periodMs: number;
  /** Missed periods before `hb-missed-low` fires (0: never). */
  low: number;
  /** Missed periods before `hb-missed-high` fires (0: never). */
  high: number;
  /** When the last heartbeat came, or null. */
  lastBeat: string | null;
  /** Periods missed in a row. */
  missed: number;
  /** `healthy`, or latched `missed-low` / `missed-high`. */
  health: HeartbeatHealth;
}

/**
 * An item of an action-fail list.
 *
 * @example
 * ```ts
 * import type { ActionFailView } from "./status_view.ts";
 *
 * const item: ActionFailView = {
 *   name: "page",
 *   kind: "execute",
 *   params: { kind: "execute", argv: ["/usr/local/bin/page-oncall", "web"] },
 *   runs: 1,
 *   failures: 0,
 * };
 * console.log(`${item.name} ran ${item.runs} time(s)`); // "page ran 1 time(s)"
 * ```
 */
export interface ActionFailView {
  /** The item's name in the list. */
  name: string;
  /** What it does. */
  kind: ActionKind;
  /** Its parameters (by kind). */
  params: ActionParams;
  /** Times it ran. */
  runs: number;
  /** Times it failed. */
  failures: number;
}

/**
 * An action (`/proc/ham/<entity>/<condition>/<action>`).
 *
 * @example
 * ```ts
 * import type { ActionView } from "./status_view.ts";
 *
 * // Actions that failed at least once, with how their fail lists fared.
 * export function troubled(actions: ActionView[]): string[] {
 *   return actions.filter((a) => a.failures > 0).map((a) =>
 *     `${a.path}: ${a.failures} failure(s), fail list ${a.fails.map((f) => f.name).join(", ")}`
 *   );
 * }
 * console.log(troubled([])); // []
 * ```
 */
export interface ActionView {
  /** `entity/condition/action`. */
  path: string;
  /** What it does. */
  kind: ActionKind;
  /** False when disabled. */
  enabled: boolean;
  /** The flag word. */
  flags: number;
  /** The names of the set flags. */
  flagNames: string[];
  /** Kept when the entity restarts. */
  rearm: boolean;
  /** Its parameters (by kind). */
  params: ActionParams;
  /** Times it ran. */
  runs: number;
  /** Times it failed. */
  failures: number;
  /** Its action-fail list, in order. */
  fails: ActionFailView[];
}

/**
 * A condition (`/proc/ham/<entity>/<condition>/.info`).
 *
 * @example
 * ```ts
 * import type { ConditionView } from "./status_view.ts";
 *
 * // The conditions that have fired, most often first.
 * export function busiest(conditions: ConditionView[]): string[] {
 *   return [...conditions].filter((c) => c.fired > 0).sort((a, b) => b.fired - a.fired)
 *     .map((c) => `${c.path} (${c.type}) fired ${c.fired}`);
 * }
 * console.log(busiest([])); // []
 * ```
 */
export interface ConditionView {
  /** `entity/condition`. */
  path: string;
  /** The event type it fires on. */
  type: ConditionType;
  /** False when disabled. */
  enabled: boolean;
  /** The flag word. */
  flags: number;
  /** The names of the set flags. */
  flagNames: string[];
  /** Kept when the entity restarts. */
  rearm: boolean;
  /** What a `state` or `raise` condition matches (0 = any), else null. */
  match: StateMatch | RaiseMatch | null;
  /** Times it fired. */
  fired: number;
  /** Its actions, in the order they run. */
  actions: ActionView[];
}

/** The `Entity type` of `/proc/ham`. */

/**
 * An entity (`/proc/ham/<entity>/.info`); times are ISO strings.
 *
 * @example
 * ```ts
 * import type { EntityView } from "./status_view.ts";
 *
 * // One line per entity, as a dashboard would show it.
 * export function line(e: EntityView): string {
 *   const hb = e.heartbeat ? ` heartbeat ${e.heartbeat.health}` : "";
 *   return `${e.name} ${e.running ? `pid ${e.pid}` : "down"} restarts=${e.restarts}${hb}`;
 * }
 * ```
 */
export interface EntityView {
  /** The entity's name (`@global` for the global entity). */
  name: string;
  /** The monitored process, or null. */
  pid: number | null;
  /** How it came to be. */
  type: "ATTACHED" | "ATTACHEDSELF" | "PLACEHOLDER" | "GLOBAL";
  /** False when disabled. */
  enabled: boolean;
  /** The flag word. */
  flags: number;
  /** The names of the set flags. */
  flagNames: string[];
  /** True when there is a process being monitored. */
  running: boolean;
  /** The command that starts and restarts it, or null. */
  command: string[] | null;
  /** The command's working directory, or null (the HAM's). */
  cwd: string | null;
  /** The command's extra environment, or null. */
  env: Record<string, string> | null;
  /** What is done with what its process leaves behind when it ends (`--kill-mode`). */
  killMode: "control-group" | "process";
  /** With kill mode `process`: the pids its processes left behind that still run. */
  leftovers: number[];
  /** When it was created. */
  created: string;
  /** Times it was restarted. */
  restarts: number;
  /** Times its process died. */
  deaths: number;
  /** Times of its latest restarts (at most 64), for restart policies. */
  recentRestarts: string[];
  /** The backoff a restart policy applies to the pending restart, ms (0 = none). */
  backoffMs: number;
  /** Why it is not being restarted (a restart policy's limit), or null. */
  restartBlocked: string | null;
  /** Its last death, or null. */
  lastExit: LastExitView | null;
  /** The state it last published (0 at first). */
  state: number;
  /** Heartbeat parameters and health, or null without heartbeats. */
  heartbeat: HeartbeatView | null;
  /** Its conditions. */
  conditions: ConditionView[];
  /** For a cluster entity: the node that runs it (null while none does). */
  node?: string | null;
  /** For a cluster entity: the nodes it may run on, most preferred first (empty: any). */
  placement?: string[];
}

/** How an entity came to be, as `status` shows it (QNX's names). */
export type EntityTypeName = EntityView["type"];

/**
 * The whole HAM (`/proc/ham/.info` and everything below it); times are ISO strings.
 *
 * @example
 * ```ts
 * import type { HamView } from "./status_view.ts";
 *
 * // Whether the HAM is protected by a Guardian, and how often one took over.
 * export function guarded(ham: HamView): string {
 *   return ham.guardianPid === null
 *     ? "no Guardian"
 *     : `Guardian ${ham.guardianPid}, ${ham.hamFailures} takeover(s)`;
 * }
 * ```
 */
export interface HamView {
  /** The HAM's pid. */
  hamPid: number;
  /** The Guardian's pid, or null when there is none. */
  guardianPid: number | null;
  /** When this HAM started. */
  started: string;
  /** HAM failures the Guardian took over from. */
  hamFailures: number;
  /** Guardian failures the HAM recovered from. */
  guardianFailures: number;
  /** When the Guardian last took over, or null. */
  lastTakeover: string | null;
  /** Log lines this HAM could not write (a full disk): counted, never fatal. */
  logLinesLost: number;
  /** The activity log's verbosity. */
  verbosity: number;
  /** Entities listed (the global one only with conditions). */
  numEntities: number;
  /** Conditions of the listed entities. */
  numConditions: number;
  /** Actions of those conditions. */
  numActions: number;
  /** The entities, in creation order. */
  entities: EntityView[];
  /** With `ham --cluster`: the cluster entities and where they run, as it last saw them. */
  cluster?: {
    /** This node's name. */
    node: string;
    /** The live nodes. */
    nodes: string[];
    /** Each cluster entity, the node running it (or null) and its placement list. */
    entities: { name: string; node: string | null; placement: string[] }[];
    /** Since when (ISO 8601) etcd has not answered this node; null while it answers. */
    unreachableSince: string | null;
  };
}

/** Where the cluster entities run, as a clustered HAM (`ham --cluster`) last saw it. */
export type ClusterStatusView = NonNullable<HamView["cluster"]>;

/**
 * What `status` returns: the whole HAM, or the entity, condition or action a path names.
 *
 * @example
 * ```ts
 * import type { EntityView, HamView, StatusView } from "./status_view.ts";
 *
 * // `status` answers the whole HAM, or the item a path names: tell them apart by their fields.
 * export function isHam(view: StatusView): view is HamView {
 *   return "hamPid" in view;
 * }
 * export function isEntity(view: StatusView): view is EntityView {
 *   return "conditions" in view && "name" in view;
 * }
 * ```
 */
export type StatusView = HamView | EntityView | ConditionView | ActionView;

const TYPE_NAMES: Record<Entity["kind"], EntityTypeName> = {
  attached: "ATTACHED",
  self: "ATTACHEDSELF",
  placeholder: "PLACEHOLDER",
  global: "GLOBAL",
};

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function actionView(path: string, a: Action): ActionView {
  return {
    path,
    kind: a.params.kind,
    enabled: a.enabled,
    flags: a.flags,
    flagNames: flagNames("action", a.flags),
    rearm: (a.flags & HREARMAFTERRESTART) !== 0,
    params: a.params,
    runs: a.runs,
    failures: a.failures,
    fails: a.fails.map((f) => ({
      name: f.name,
      kind: f.params.kind,
      params: f.params,
      runs: f.runs,
      failures: f.failures,
    })),
  };
}

function conditionView(path: string, c: Condition): ConditionView {
  return {
    path,
    type: c.type,
    enabled: c.enabled,
    flags: c.flags,
    flagNames: flagNames("condition", c.flags),
    rearm: (c.flags & HREARMAFTERRESTART) !== 0,
    match: c.match,
    fired: c.fired,
    actions: c.actions.map((a) => actionView(`${path}/${a.name}`, a)),
  };
}

/** The view of one entity and everything below it. */
export function entityView(e: Entity): EntityView {
  const hb = e.heartbeat;
  return {
    name: e.name,
    pid: e.pid,
    type: TYPE_NAMES[e.kind],
    enabled: e.enabled,
    flags: e.flags,
    flagNames: flagNames("entity", e.flags),
    running: e.pid !== null,
    command: e.argv,
    cwd: e.cwd,
    env: e.env,
    killMode: e.killMode ?? "control-group",
    leftovers: (e.leftovers ?? []).map((l) => l.pid),
    created: iso(e.created),
    restarts: e.restarts,
    deaths: e.deaths,
    recentRestarts: (e.recentRestarts ?? []).map(iso),
    backoffMs: e.backoffMs ?? 0,
    restartBlocked: e.restartBlocked ?? null,
    lastExit: e.lastExit && { ...e.lastExit, at: iso(e.lastExit.at) },
    state: e.state,
    heartbeat: hb && {
      ...hb,
      lastBeat: e.lastBeat === null ? null : iso(e.lastBeat),
      missed: e.hbMissed,
      health: e.hbHealth,
    },
    conditions: [...e.conditions.values()].map((c) => conditionView(`${e.name}/${c.name}`, c)),
  };
}

/**
 * Builds the status view of the whole HAM (`path` null) or of the item `path` names.
 * The global entity is listed only when it has conditions. Throws ENOENT for a path
 * naming no item.
 *
 * @example
 * ```ts
 * import { createState } from "./model.ts";
 * import { statusView } from "./status_view.ts";
 * const view = statusView(createState(), null, { hamPid: 10, guardianPid: 11, startedAt: 0 });
 * console.log("numEntities" in view && view.numEntities); // 0
 * ```
 */
export function statusView(state: HamState, path: ItemPath | null, ham: HamInfo): StatusView {
  if (path === null) return hamView(state, ham);
  const { entity, condition, action } = path;
  if (condition === undefined) return entityView(getEntity(state, entity));
  if (action === undefined) {
    return conditionView(`${entity}/${condition}`, getCondition(state, entity, condition));
  }
  return actionView(
    `${entity}/${condition}/${action}`,
    getAction(state, entity, condition, action),
  );
}

/** What {@linkcode hamSummary} counts: the listed entities and their conditions and actions. */
export interface HamCounts {
  /** Entities listed. */
  entities: number;
  /** Their conditions. */
  conditions: number;
  /** Those conditions' actions. */
  actions: number;
}

/** True for the entities a view lists: all but the global one, which only with conditions. */
export function listedInView(e: Entity): boolean {
  return e.name !== GLOBAL_ENTITY || e.conditions.size > 0;
}

/**
 * The HAM's own facts with the counts given, and no entities: what `.info` at the top of
 * the mirror shows, without building every entity's view.
 */
export function hamSummary(state: HamState, ham: HamInfo, counts: HamCounts): HamView {
  return {
    hamPid: ham.hamPid,
    guardianPid: ham.guardianPid,
    started: iso(ham.startedAt),
    hamFailures: state.hamFailures,
    guardianFailures: state.guardianFailures,
    lastTakeover: state.lastTakeover === null ? null : iso(state.lastTakeover),
    logLinesLost: ham.logLinesLost ?? 0,
    verbosity: state.verbosity,
    numEntities: counts.entities,
    numConditions: counts.conditions,
    numActions: counts.actions,
    entities: [],
  };
}

/** The view of the whole HAM: its facts and every entity. */
export function hamView(state: HamState, ham: HamInfo): HamView {
  const entities = [...state.entities.values()].filter(listedInView).map(entityView);
  const conditions = entities.flatMap((e) => e.conditions);
  const counts = {
    entities: entities.length,
    conditions: conditions.length,
    actions: conditions.reduce((n, c) => n + c.actions.length, 0),
  };
  return { ...hamSummary(state, ham, counts), entities };
}
