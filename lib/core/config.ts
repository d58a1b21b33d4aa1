/**
 * Declarative configuration: the entities, conditions, actions and action-fail lists a
 * HAM should have, read from a config file's data (`readConfig`), read from a running
 * HAM's status (`fromView`), compared (`planApply`) and written back (`toConfigData`).
 * Pure: the YAML text and the requests that carry a plan out are elsewhere.
 *
 * The file's shape (every key but `entities` optional):
 *
 * ```yaml
 * entities:
 *   web:
 *     command: ["/usr/bin/web", "--port", "80"]   # absent: a placeholder
 *     cwd: /srv/web
 *     env: { MODE: prod }
 *     keepOnDeath: false
 *     killMode: control-group             # or process (systemd's KillMode=)
 *     heartbeat: { period: 1s, low: 2, high: 4 }
 *     conditions:
 *       death:
 *         type: death                  # any condition type hamctl accepts
 *         flags: [rearm]               # rearm independent nowait keep-on-empty from-set ...
 *         from: 0                      # state conditions (numbers, or state lists with *-set)
 *         to: 0
 *         raise: { type: 0, class: 0, severity: 0 }   # raise conditions
 *         actions:
 *           restart: { kind: restart, flags: [rearm], policy: { backoff: 100ms, intensity: 5 } }
 *           note: { kind: log, message: "web died", flags: [rearm] }
 *           hook:
 *             kind: execute
 *             command: [/bin/sh, -c, "echo restarted"]
 *             fails: { tell: { kind: notify, channel: ops, code: 1 } }
 *   "@global": { conditions: { ... } }
 * ```
 *
 * @module
 */

import { DEFAULTS } from "./defaults.ts";
import { formatDuration, parseDuration } from "./duration.ts";
import { HamError } from "./errors.ts";
import {
  ACTION_KINDS,
  type ActionKind,
  CONDITION_TYPES,
  type ConditionType,
  FAIL_KINDS,
  flagNames,
  HREARMAFTERRESTART,
  parseFlags,
  signalName,
} from "./flags.ts";
import { type ActionParams, type HeartbeatSpec, KILL_MODES, type KillMode } from "./model.ts";
import { GLOBAL_ENTITY, validateEntityName, validateName, validateNodeName } from "./names.ts";
import { decodeHeartbeat, decodeParams } from "./request_decoder.ts";
import type { RequestOf } from "./protocol.ts";
import type { EntityView, HamView } from "./status_view.ts";

/** A key path in the config data, such as `["entities", "web", "conditions", "death"]`. */
export type KeyPath = (string | number)[];

/** A config error: EINVAL with the key path of the bad value. */
export class ConfigError extends HamError {
  /** Where in the data. */
  readonly key: KeyPath;

  /** An error about the value at `key`. */
  constructor(key: KeyPath, message: string) {
    super("EINVAL", message);
    this.name = "ConfigError";
    this.key = key;
  }
}

/** An action-fail item as configured. */
export interface FailSpec {
  name: string;
  params: ActionParams;
}

/** An action as configured. */
export interface ActionSpec {
  name: string;
  /** False for an action disabled (`enabled: false`). @default {true} */
  enabled?: boolean;
  /** The flag word as the HAM keeps it (with its re-arm default applied). */
  flags: number;
  params: ActionParams;
  fails: FailSpec[];
}

/** A condition as configured: the `condition` request's fields, its name and its actions. */
export type ConditionSpec = Omit<RequestOf<"condition">, "id" | "op" | "path"> & {
  name: string;
  /** False for a condition disabled (`enabled: false`). @default {true} */
  enabled?: boolean;
  actions: ActionSpec[];
};

/** An entity as configured. */
export interface EntitySpec {
  name: string;
  /**
   * A cluster entity (`cluster: true`): declared for the cluster, run on one live node of
   * `placement` (most preferred first; empty: any node). Absent: an entity of this HAM.
   */
  cluster?: { placement: string[] };
  argv: string[] | null;
  cwd: string | null;
  env: Record<string, string> | null;
  flags: number;
  heartbeat: HeartbeatSpec | null;
  /** What is done with what its command leaves behind. @default {"control-group"} */
  killMode: KillMode;
  /** False for an entity disabled (`enabled: false`: not monitored). @default {true} */
  enabled?: boolean;
  conditions: ConditionSpec[];
}

type Obj = Record<string, unknown>;

function object(v: unknown, key: KeyPath, allowed: string[]): Obj {
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new ConfigError(key, "Expected a mapping");
  }
  for (const k of Object.keys(v)) {
    if (!allowed.includes(k)) {
      throw new ConfigError(
        [...key, k],
        `Unknown key "${k}": expected one of ${allowed.join(", ")}`,
      );
    }
  }
  return v as Obj;
}

function at<T>(key: KeyPath, f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    if (err instanceof HamError) throw new ConfigError(key, err.message);
    throw err;
  }
}

function stringList(v: unknown, key: KeyPath): string[] {
  if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === "string")) {
    throw new ConfigError(key, "Expected a non-empty list of strings");
  }
  return v as string[];
}

function flags(item: "entity" | "condition" | "action", v: unknown, key: KeyPath): number {
  if (v === undefined || v === null) return 0;
  if (!Array.isArray(v)) throw new ConfigError(key, "Expected a list of flag names");
  return at(key, () => parseFlags(item, v));
}

function uint(v: unknown, key: KeyPath, dflt = 0, max = 0xffffffff): number {
  if (v === undefined || v === null) return dflt;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0 || v > max) {
    throw new ConfigError(
      key,
      `Invalid number ${JSON.stringify(v)}: expected an integer from 0 to ${max}`,
    );
  }
  return v;
}

function dur(v: unknown, key: KeyPath): number {
  if (typeof v !== "string" && typeof v !== "number") {
    throw new ConfigError(key, `Invalid duration ${JSON.stringify(v)}`);
  }
  return at(key, () => parseDuration(v, `"${key.join(".")}"`));
}

function str(v: unknown, key: KeyPath): string {
  if (typeof v !== "string") throw new ConfigError(key, "Expected a string");
  return v;
}

const PARAM_KEYS: Record<ActionKind, string[]> = {
  restart: ["command", "policy"],
  execute: ["command", "timeout"],
  waitfor: ["delay", "path"],
  signal: ["signal", "pid", "node", "entity"],
  log: ["message", "verbosity", "prefix"],
  "heartbeat-healthy": [],
  notify: ["channel", "code", "value", "node"],
};

const POLICY_KEYS = ["backoff", "maxBackoff", "jitter", "intensity", "window", "cooldown"];

function params(v: unknown, key: KeyPath, allowed: readonly ActionKind[], extra: string[]): {
  o: Obj;
  params: ActionParams;
} {
  const kind = (v as Obj | null)?.kind;
  if (typeof kind !== "string" || !allowed.includes(kind as ActionKind)) {
    throw new ConfigError(
      [...key, "kind"],
      `Invalid action kind ${JSON.stringify(kind)}: expected one of ${allowed.join(", ")}`,
    );
  }
  const k = kind as ActionKind;
  const o = object(v, key, ["kind", ...extra, ...PARAM_KEYS[k]]);
  const wire: Obj = { kind: k };
  if (o.command !== undefined) wire.argv = stringList(o.command, [...key, "command"]);
  if (o.policy !== undefined) {
    const pk = [...key, "policy"];
    const p = object(o.policy, pk, POLICY_KEYS);
    const policy: Obj = {};
    for (
      const [name, field] of [["backoff", "backoffMs"], ["maxBackoff", "maxBackoffMs"], [
        "window",
        "windowMs",
      ], ["cooldown", "cooldownMs"]]
    ) {
      if (p[name] !== undefined) policy[field] = dur(p[name], [...pk, name]);
    }
    if (p.jitter !== undefined) policy.jitter = p.jitter;
    if (p.intensity !== undefined) policy.intensity = p.intensity;
    wire.policy = policy;
  }
  if (o.delay !== undefined) wire.delayMs = dur(o.delay, [...key, "delay"]);
  if (o.timeout !== undefined) wire.timeoutMs = dur(o.timeout, [...key, "timeout"]);
  if (o.path !== undefined) wire.pathname = o.path;
  for (
    const f of [
      "signal",
      "pid",
      "node",
      "entity",
      "message",
      "verbosity",
      "prefix",
      "channel",
      "code",
      "value",
    ]
  ) {
    if (o[f] !== undefined) wire[f] = o[f];
  }
  return { o, params: at(key, () => decodeParams(wire, allowed)) };
}

function isDeathType(t: string): boolean {
  return t === "death" || t === "abnormal-death";
}

function readAction(name: string, v: unknown, key: KeyPath, cond: ConditionType): ActionSpec {
  at(key, () => validateName("action", name));
  const { o, params: p } = params(v, key, Object.keys(ACTION_KINDS) as ActionKind[], [
    "flags",
    "fails",
    "enabled",
  ]);
  let f = flags("action", o.flags, [...key, "flags"]);
  if (!isDeathType(cond)) f |= HREARMAFTERRESTART; // The HAM's default (QNX 7.1).
  const fails: FailSpec[] = [];
  if (o.fails !== undefined) {
    const fk = [...key, "fails"];
    for (
      const [fname, fv] of Object.entries(object(o.fails, fk, Object.keys(o.fails as Obj ?? {})))
    ) {
      at([...fk, fname], () => validateName("action-fail", fname));
      fails.push({ name: fname, params: params(fv, [...fk, fname], FAIL_KINDS, []).params });
    }
  }
  return { name, ...enabledOf(o.enabled, [...key, "enabled"]), flags: f, params: p, fails };
}

/** The `enabled` key: absent or true is enabled (left out of the spec), false disabled. */
function enabledOf(v: unknown, key: KeyPath): { enabled?: false } {
  if (v === undefined || v === true) return {};
  if (v === false) return { enabled: false };
  throw new ConfigError(key, "Expected true or false");
}

function state(v: unknown, key: KeyPath): number {
  if (Array.isArray(v)) {
    return v.reduce((bits: number, s, i) => bits | (1 << uint(s, [...key, i], 0, 31)), 0) >>> 0;
  }
  return uint(v, key);
}

function readCondition(name: string, v: unknown, key: KeyPath): ConditionSpec {
  at(key, () => validateName("condition", name));
  const o = object(v, key, ["type", "flags", "from", "to", "raise", "actions", "enabled"]);
  const type = o.type;
  if (typeof type !== "string" || !(type in CONDITION_TYPES)) {
    throw new ConfigError(
      [...key, "type"],
      `Invalid condition type ${JSON.stringify(type)}: expected one of ${
        Object.keys(CONDITION_TYPES).join(", ")
      }`,
    );
  }
  const raise = o.raise === undefined
    ? {}
    : object(o.raise, [...key, "raise"], ["type", "class", "severity"]);
  const actions: ActionSpec[] = [];
  if (o.actions !== undefined) {
    const ak = [...key, "actions"];
    const list = object(o.actions, ak, Object.keys((o.actions as Obj) ?? {}));
    for (const [aname, av] of Object.entries(list)) {
      actions.push(readAction(aname, av, [...ak, aname], type as ConditionType));
    }
  }
  return {
    name,
    type: type as ConditionType,
    flags: flags("condition", o.flags, [...key, "flags"]),
    from: state(o.from, [...key, "from"]),
    to: state(o.to, [...key, "to"]),
    rtype: uint(raise.type, [...key, "raise", "type"]),
    rclass: uint(raise.class, [...key, "raise", "class"]),
    rseverity: uint(raise.severity, [...key, "raise", "severity"]),
    ...enabledOf(o.enabled, [...key, "enabled"]),
    actions,
  };
}

function readEntity(name: string, v: unknown, key: KeyPath): EntitySpec {
  at(key, () => validateEntityName(name, true));
  const o = object(v ?? {}, key, [
    "command",
    "cwd",
    "env",
    "keepOnDeath",
    "killMode",
    "heartbeat",
    "conditions",
    "cluster",
    "placement",
    "enabled",
  ]);
  const global = name === GLOBAL_ENTITY;
  if (global && o.enabled !== undefined) {
    throw new ConfigError(
      [...key, "enabled"],
      `The global entity "${GLOBAL_ENTITY}" is always enabled`,
    );
  }
  const cluster = clusterOf(o, key, global);
  if (
    global && (o.command !== undefined || o.heartbeat !== undefined || o.killMode !== undefined)
  ) {
    throw new ConfigError(key, `The global entity "${GLOBAL_ENTITY}" has conditions only`);
  }
  let env: Record<string, string> | null = null;
  if (o.env !== undefined) {
    const ek = [...key, "env"];
    env = {};
    for (const [k, ev] of Object.entries(object(o.env, ek, Object.keys((o.env as Obj) ?? {})))) {
      env[k] = str(ev, [...ek, k]);
    }
  }
  let heartbeat: HeartbeatSpec | null = null;
  if (o.heartbeat !== undefined) {
    const hk = [...key, "heartbeat"];
    const h = object(o.heartbeat, hk, ["period", "low", "high"]);
    heartbeat = at(
      hk,
      () =>
        decodeHeartbeat({ periodMs: dur(h.period, [...hk, "period"]), low: h.low, high: h.high }),
    );
  }
  if (o.keepOnDeath !== undefined && typeof o.keepOnDeath !== "boolean") {
    throw new ConfigError([...key, "keepOnDeath"], "Expected true or false");
  }
  if (o.killMode !== undefined && !KILL_MODES.includes(o.killMode as KillMode)) {
    throw new ConfigError([...key, "killMode"], `Expected ${KILL_MODES.join(" or ")}`);
  }
  const conditions: ConditionSpec[] = [];
  if (o.conditions !== undefined) {
    const ck = [...key, "conditions"];
    for (
      const [cname, cv] of Object.entries(
        object(o.conditions, ck, Object.keys((o.conditions as Obj) ?? {})),
      )
    ) {
      conditions.push(readCondition(cname, cv, [...ck, cname]));
    }
  }
  const cwd = o.cwd === undefined ? null : str(o.cwd, [...key, "cwd"]);
  if (cwd !== null && !cwd.startsWith("/")) {
    throw new ConfigError([...key, "cwd"], `Invalid cwd "${cwd}": must be absolute`);
  }
  const argv = o.command === undefined ? null : stringList(o.command, [...key, "command"]);
  if (cluster && argv === null) {
    throw new ConfigError(
      [...key, "cluster"],
      "A cluster entity needs a command (it is started on whichever node runs it)",
    );
  }
  return {
    name,
    ...(cluster ? { cluster } : {}),
    argv,
    cwd,
    env,
    flags: o.keepOnDeath === true ? parseFlags("entity", ["keep-on-death"]) : 0,
    heartbeat,
    killMode: (o.killMode as KillMode | undefined) ?? "control-group",
    ...enabledOf(o.enabled, [...key, "enabled"]),
    conditions,
  };
}

/** The `cluster` and `placement` keys of an entity: absent for a local entity. */
function clusterOf(o: Obj, key: KeyPath, global: boolean): { placement: string[] } | undefined {
  if (o.cluster !== undefined && typeof o.cluster !== "boolean") {
    throw new ConfigError([...key, "cluster"], "Expected true or false");
  }
  if (o.cluster !== true) {
    if (o.placement !== undefined) {
      throw new ConfigError([...key, "placement"], "A placement needs cluster: true");
    }
    return undefined;
  }
  if (global) {
    throw new ConfigError([...key, "cluster"], `The global entity "${GLOBAL_ENTITY}" is local`);
  }
  if (o.placement === undefined || o.placement === null) return { placement: [] };
  const pk = [...key, "placement"];
  if (!Array.isArray(o.placement)) throw new ConfigError(pk, "Expected a list of node names");
  return {
    placement: o.placement.map((n, i) => at([...pk, i], () => validateNodeName("node", n))),
  };
}

/** Reads and checks config data; throws {@linkcode ConfigError} naming the bad key. */
export function readConfig(data: unknown): EntitySpec[] {
  const top = object(data ?? {}, [], ["entities"]);
  if (top.entities === undefined || top.entities === null) return [];
  const list = object(top.entities, ["entities"], Object.keys(top.entities as Obj));
  return Object.entries(list).map(([name, v]) => readEntity(name, v, ["entities", name]));
}

/**
 * The configuration a running HAM has, from its status (self-attached entities left out).
 * A clustered HAM's cluster entities come from `clustered`: the `status NAME` of each one
 * of `view.cluster` (its definition, where it runs elsewhere); its local copies of them are
 * not local entities.
 */
export function fromView(view: HamView, clustered: EntityView[] = []): EntitySpec[] {
  const cluster = new Set((view.cluster?.entities ?? []).map((e) => e.name));
  const local = view.entities.filter((e) => e.type !== "ATTACHEDSELF" && !cluster.has(e.name));
  return [...local, ...clustered].map((e) => ({
    name: e.name,
    ...(e.placement !== undefined ? { cluster: { placement: e.placement } } : {}),
    argv: e.type === "ATTACHED" || e.placement !== undefined ? e.command : null,
    cwd: e.cwd ?? null,
    env: e.env ?? null,
    flags: e.flags,
    heartbeat: e.heartbeat &&
      { periodMs: e.heartbeat.periodMs, low: e.heartbeat.low, high: e.heartbeat.high },
    killMode: e.killMode ?? "control-group",
    ...(e.enabled === false && e.name !== GLOBAL_ENTITY ? { enabled: false as const } : {}),
    conditions: e.conditions.map((c) => {
      const m = (c.match ?? {}) as Partial<
        Record<"from" | "to" | "rtype" | "rclass" | "rseverity", number>
      >;
      return {
        name: c.path.slice(c.path.lastIndexOf("/") + 1),
        type: c.type,
        flags: c.flags,
        from: m.from ?? 0,
        to: m.to ?? 0,
        rtype: m.rtype ?? 0,
        rclass: m.rclass ?? 0,
        rseverity: m.rseverity ?? 0,
        ...(c.enabled === false ? { enabled: false as const } : {}),
        actions: c.actions.map((a) => ({
          name: a.path.slice(a.path.lastIndexOf("/") + 1),
          ...(a.enabled === false ? { enabled: false as const } : {}),
          flags: a.flags,
          params: a.params,
          fails: a.fails.map((f) => ({ name: f.name, params: f.params })),
        })),
      };
    }),
  }));
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === "object") {
    return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical((v as Obj)[k])]));
  }
  return v;
}

/** One change of a plan: what, to which item, where in the file, and the requests. */
export interface Change {
  change: "create" | "update" | "remove";
  /** `web` or `web/death`. */
  item: string;
  /** The key of the item in the file (for error messages); [] for removals. */
  key: KeyPath;
  /** The requests that make it, in order. */
  requests: PlanRequest[];
}

/**
 * A request of a plan; `tolerate` lists error codes that mean "already so", `key` is the
 * file's key it comes from, and `unlessDead` skips it once a `wait` of its change saw the
 * entity dead (the SIGKILL of a replacement, sent only when SIGTERM was not enough).
 */
export type PlanRequest =
  & { op: string; tolerate?: string[]; key?: KeyPath; unlessDead?: boolean }
  & Obj;

function conditionRequests(entity: string, c: ConditionSpec): PlanRequest[] {
  const path = `${entity}/${c.name}`;
  const key = ["entities", entity, "conditions", c.name];
  return [
    {
      op: "condition",
      key,
      path,
      type: c.type,
      flags: c.flags,
      from: c.from,
      to: c.to,
      rtype: c.rtype,
      rclass: c.rclass,
      rseverity: c.rseverity,
    },
    ...c.actions.flatMap((a) => [
      {
        op: "action",
        key: [...key, "actions", a.name],
        path: `${path}/${a.name}`,
        flags: a.flags,
        ...a.params,
      },
      ...a.fails.map((f) => ({
        op: "action-fail",
        key: [...key, "actions", a.name, "fails", f.name],
        path: `${path}/${a.name}`,
        name: f.name,
        ...f.params,
      })),
      ...(a.enabled === false ? [disable(`${path}/${a.name}`, [...key, "actions", a.name])] : []),
    ]),
    ...(c.enabled === false ? [disable(path, key)] : []),
  ];
}

/** The request that disables the item at `path` (alone: not what is under it). */
function disable(path: string, key: KeyPath): PlanRequest {
  return { op: "control", key, path, command: "disable", recurse: false };
}

/** A wait of up to `timeoutMs` for entity `name` to be dead. */
function dead(name: string, timeoutMs: number, tolerate: string[]): PlanRequest {
  return { op: "wait", entity: name, for: "dead", timeoutMs, since: null, tolerate };
}

function entityRequests(e: EntitySpec): PlanRequest[] {
  if (e.name === GLOBAL_ENTITY) return [];
  return e.argv === null ? [{ op: "entity", entity: e.name, flags: e.flags }] : [{
    op: "attach",
    entity: e.name,
    argv: e.argv,
    pid: null,
    cwd: e.cwd,
    env: e.env,
    flags: e.flags,
    heartbeat: e.heartbeat,
    killMode: e.killMode,
    ...(e.cluster ? { cluster: e.cluster } : {}),
  }];
}

/** The requests that create entity `e` as the file describes it, conditions included. */
export function creationRequests(e: EntitySpec): PlanRequest[] {
  return [
    ...entityRequests(e),
    ...e.conditions.flatMap((x) => conditionRequests(e.name, x)),
    ...(e.enabled === false ? [disable(e.name, ["entities", e.name])] : []),
  ];
}

/**
 * What to do to make `current` match `desired`: entities and conditions to create, update
 * (a condition is replaced whole; an entity whose command, cwd, env, heartbeat or kill mode changed
 * is replaced: its process is stopped with SIGTERM and its command started again) or, with
 * `prune`, remove (entities are detached: their processes keep running).
 */
export function planApply(current: EntitySpec[], desired: EntitySpec[], prune: boolean): Change[] {
  const changes: Change[] = [];
  const now = new Map(current.map((e) => [e.name, e]));
  const want = new Set(desired.map((e) => e.name));
  for (const d of desired) {
    const key = ["entities", d.name];
    const c = now.get(d.name);
    if (!c) {
      changes.push({
        change: "create",
        item: d.name,
        key,
        requests: creationRequests(d),
      });
      continue;
    }
    const shape = (e: EntitySpec) => ({
      cluster: e.cluster ?? null,
      argv: e.argv,
      cwd: e.cwd,
      env: e.env,
      heartbeat: e.heartbeat,
      killMode: e.killMode,
    });
    if (d.name !== GLOBAL_ENTITY && !same(shape(c), shape(d))) {
      if (c.cluster || d.cluster) {
        // Replacing stops the process first, and only the node that runs a cluster entity
        // can: an edit of one goes through its conditions, not by replacing it.
        throw new ConfigError(
          key,
          `Cannot update cluster entity "${d.name}" in place: its command, cwd, env, ` +
            `heartbeat, placement or cluster key changed; detach it (hamctl detach ` +
            `${d.name}) and apply again`,
        );
      }
      changes.push({
        change: "update",
        item: d.name,
        key,
        requests: [
          // Removed first: the death the replacement causes fires none of them.
          ...c.conditions.map((x) => ({ op: "condition-remove", path: `${d.name}/${x.name}` })),
          // Kept on that death, so the requests after it find it (none is refused, and
          // logged as refused); the attach below makes it anew with the file's flags.
          {
            op: "control",
            path: d.name,
            command: "add-flags",
            flags: parseFlags("entity", ["keep-on-death"]),
            recurse: false,
          },
          // Stopped as `hamctl restart` stops it: SIGTERM, then SIGKILL after the grace.
          { op: "kill", entity: d.name, signal: 15, tolerate: ["ESRCH", "ENOENT"] },
          dead(d.name, DEFAULTS.restartStopTimeoutMs, ["ENOENT", "ETIMEDOUT"]),
          {
            op: "kill",
            entity: d.name,
            signal: 9,
            tolerate: ["ESRCH", "ENOENT"],
            unlessDead: true,
          },
          { ...dead(d.name, 30_000, ["ENOENT"]), unlessDead: true },
          { op: "detach", entity: d.name, tolerate: ["ENOENT"] },
          ...creationRequests(d),
          // Without prune, the conditions the file does not have are kept: added again.
          ...(prune ? [] : c.conditions.filter((x) => !d.conditions.some((y) => y.name === x.name)))
            .flatMap((x) => conditionRequests(d.name, x)),
        ],
      });
      continue;
    }
    // The entity's own control changes (not its tree's): enabled, then its flags.
    const control = (command: string, flags?: number) =>
      changes.push({
        change: "update",
        item: d.name,
        key,
        requests: [{
          op: "control",
          path: d.name,
          command,
          ...(flags === undefined ? {} : { flags }),
          recurse: false,
        }],
      });
    if ((c.enabled ?? true) !== (d.enabled ?? true) && d.name !== GLOBAL_ENTITY) {
      control(d.enabled === false ? "disable" : "enable");
    }
    if (c.flags !== d.flags && d.name !== GLOBAL_ENTITY) control("set-flags", d.flags);
    const conds = new Map(c.conditions.map((x) => [x.name, x]));
    for (const dc of d.conditions) {
      const ckey = [...key, "conditions", dc.name];
      const cc = conds.get(dc.name);
      if (!cc) {
        changes.push({
          change: "create",
          item: `${d.name}/${dc.name}`,
          key: ckey,
          requests: conditionRequests(d.name, dc),
        });
      } else if (!same(cc, dc)) {
        changes.push({
          change: "update",
          item: `${d.name}/${dc.name}`,
          key: ckey,
          requests: [
            { op: "condition-remove", path: `${d.name}/${dc.name}` },
            ...conditionRequests(d.name, dc),
          ],
        });
      }
    }
    if (prune) {
      const keep = new Set(d.conditions.map((x) => x.name));
      for (const cc of c.conditions) {
        if (!keep.has(cc.name)) {
          changes.push({
            change: "remove",
            item: `${d.name}/${cc.name}`,
            key: [],
            requests: [{ op: "condition-remove", path: `${d.name}/${cc.name}` }],
          });
        }
      }
    }
  }
  if (prune) {
    for (const c of current) {
      if (want.has(c.name)) continue;
      if (c.name === GLOBAL_ENTITY) {
        for (const cc of c.conditions) {
          changes.push({
            change: "remove",
            item: `${c.name}/${cc.name}`,
            key: [],
            requests: [{ op: "condition-remove", path: `${c.name}/${cc.name}` }],
          });
        }
        continue;
      }
      changes.push({
        change: "remove",
        item: c.name,
        key: [],
        requests: [{ op: "detach", entity: c.name, tolerate: ["ENOENT"] }],
      });
    }
  }
  return changes;
}

function paramsData(p: ActionParams): Obj {
  switch (p.kind) {
    case "restart": {
      const o: Obj = { kind: p.kind };
      if (p.argv) o.command = p.argv;
      if (p.policy) {
        o.policy = {
          backoff: formatDuration(p.policy.backoffMs),
          maxBackoff: formatDuration(p.policy.maxBackoffMs),
          jitter: p.policy.jitter,
          intensity: p.policy.intensity,
          window: formatDuration(p.policy.windowMs),
          cooldown: formatDuration(p.policy.cooldownMs),
        };
      }
      return o;
    }
    case "execute":
      return {
        kind: p.kind,
        command: p.argv,
        ...(p.timeoutMs === undefined ? {} : { timeout: formatDuration(p.timeoutMs) }),
      };
    case "waitfor":
      return {
        kind: p.kind,
        delay: formatDuration(p.delayMs),
        ...(p.pathname ? { path: p.pathname } : {}),
      };
    case "signal":
      return {
        kind: p.kind,
        signal: signalName(p.signal),
        ...(p.pid !== null ? { pid: p.pid } : {}),
        ...(p.node !== undefined ? { node: p.node, entity: p.entity } : {}),
      };
    case "log":
      return { kind: p.kind, message: p.message, verbosity: p.verbosity, prefix: p.prefix };
    case "heartbeat-healthy":
      return { kind: p.kind };
    case "notify":
      return {
        kind: p.kind,
        channel: p.channel,
        code: p.code,
        value: p.value,
        ...(p.node !== undefined ? { node: p.node } : {}),
      };
  }
}

/** The config data of `entities`, in the file's shape (what `hamctl export` prints). */
export function toConfigData(entities: EntitySpec[]): Obj {
  const out: Obj = {};
  for (const e of entities) {
    if (e.name === GLOBAL_ENTITY && e.conditions.length === 0) continue;
    const o: Obj = {};
    if (e.cluster) {
      o.cluster = true;
      if (e.cluster.placement.length > 0) o.placement = e.cluster.placement;
    }
    if (e.argv) o.command = e.argv;
    if (e.cwd) o.cwd = e.cwd;
    if (e.env) o.env = e.env;
    if (e.name !== GLOBAL_ENTITY) o.keepOnDeath = e.flags !== 0;
    if (e.argv && e.killMode !== "control-group") o.killMode = e.killMode;
    if (e.enabled === false) o.enabled = false;
    if (e.heartbeat) {
      o.heartbeat = {
        period: formatDuration(e.heartbeat.periodMs),
        low: e.heartbeat.low,
        high: e.heartbeat.high,
      };
    }
    if (e.conditions.length > 0) {
      o.conditions = Object.fromEntries(e.conditions.map((c) => {
        const co: Obj = { type: c.type };
        if (c.enabled === false) co.enabled = false;
        const cf = flagNames("condition", c.flags);
        if (cf.length > 0) co.flags = cf;
        if (c.type === "state") Object.assign(co, { from: c.from, to: c.to });
        if (c.type === "raise") {
          co.raise = { type: c.rtype, class: c.rclass, severity: c.rseverity };
        }
        co.actions = Object.fromEntries(c.actions.map((a) => {
          const ao: Obj = paramsData(a.params);
          if (a.enabled === false) ao.enabled = false;
          const af = flagNames("action", a.flags);
          if (af.length > 0) ao.flags = af;
          if (a.fails.length > 0) {
            ao.fails = Object.fromEntries(a.fails.map((f) => [f.name, paramsData(f.params)]));
          }
          return [a.name, ao];
        }));
        return [c.name, co];
      }));
    }
    out[e.name] = o;
  }
  return { entities: out };
}
