/**
 * The control protocol, whole: one JSON object per line over the Unix socket
 * `<state-dir>/ham.sock`, in both directions. This module is the contract both ends are
 * typed by: for every operation what a client sends ({@linkcode Requests}), what the HAM
 * decodes it to ({@linkcode Request}) and what it answers ({@linkcode Results}); the lines
 * the HAM pushes ({@linkcode Push}); the one event type ({@linkcode HamEvent}); and the
 * version ({@linkcode PROTOCOL_VERSION}).
 *
 * 1. The client opens with `{"id":0,"op":"hello","version":PROTOCOL_VERSION,...}`; the
 *    server answers `{"id":0,"ok":true,"result":{"version":..,"hamPid":..}}` or an
 *    EPROTO error and closes.
 * 2. Then any number of requests `{"id":N,"op":OP,...}`, answered in any order by
 *    `{"id":N,"ok":true,"result":...}` or `{"id":N,"ok":false,"error":{"code","message"}}`.
 * 3. The server may push `{"push":...}` lines (see {@linkcode Push}).
 *
 * `decodeRequest()` (`request_decoder.ts`) validates untrusted input against this contract.
 *
 * @module
 */

import type { ConditionType } from "./flags.ts";
import type { ActionParams, HeartbeatSpec, KillMode, RestartPolicy } from "./model.ts";
import type { ListRow } from "./list_view.ts";

export type { ListRow } from "./list_view.ts";
import type { ItemPath } from "./names.ts";
import type { StatusView } from "./status_view.ts";

/**
 * Version of this protocol, checked in the `hello` handshake.
 *
 * @example
 * ```ts
 * import { PROTOCOL_VERSION, type Requests } from "./protocol.ts";
 * const hello: Requests["hello"] = { version: PROTOCOL_VERSION, client: "me" };
 * console.log(JSON.stringify({ id: 0, op: "hello", ...hello }));
 * ```
 */
export const PROTOCOL_VERSION = 1;

// ---------------------------------------------------------------------------
// Vocabulary

/**
 * Control commands (QNX HENABLE … HGETFLAGS).
 *
 * @example
 * ```ts
 * import type { ControlCommand, Requests } from "./protocol.ts";
 *
 * const command: ControlCommand = "disable";
 * const fields: Requests["control"] = { path: "web/death", command, recurse: true };
 * console.log(fields.command); // "disable"
 * ```
 */
export type ControlCommand =
  | "enable"
  | "disable"
  | "add-flags"
  | "remove-flags"
  | "set-flags"
  | "get-flags";

/**
 * Verbosity commands (QNX VERBOSE_SET_INCR … VERBOSE_GET).
 *
 * @example
 * ```ts
 * import type { Requests, VerboseCommand } from "./protocol.ts";
 *
 * const command: VerboseCommand = "incr";
 * const fields: Requests["verbose"] = { command, value: 1 };
 * console.log(fields); // { command: "incr", value: 1 }
 * ```
 */
export type VerboseCommand = "get" | "set" | "incr" | "decr";

/**
 * Conditions `hamctl wait` and `wait` can wait for.
 *
 * @example
 * ```ts
 * import type { Requests, WaitFor } from "./protocol.ts";
 *
 * // Until "web" runs with a pid other than 4242, for at most 10 s.
 * const what: WaitFor = "restarted";
 * const fields: Requests["wait"] = { entity: "web", for: what, pid: 4242, timeoutMs: 10_000 };
 * console.log(fields.for); // "restarted"
 * ```
 */
export type WaitFor = "running" | "dead" | "restarted" | "detached" | ConditionType;

/**
 * A flag word: a number, or a list of flag names such as `["rearm", "nowait"]`.
 *
 * @example
 * ```ts
 * import type { FlagsInput } from "./protocol.ts";
 * import { parseFlags } from "./flags.ts";
 *
 * const byName: FlagsInput = ["rearm"];
 * console.log(parseFlags("action", byName) === parseFlags("action", ["rearm"])); // true
 * ```
 */
export type FlagsInput = number | readonly string[];

// ---------------------------------------------------------------------------
// Events

/**
 * An event of the HAM's stream, as `events` and `subscribe` deliver it.
 *
 * @example
 * ```ts
 * import type { HamEvent } from "./protocol.ts";
 * const death: HamEvent = { seq: 7, at: 0, type: "death", entity: "web", detail: { pid: 42 } };
 * console.log(`${death.entity} ${death.type}`); // "web death"
 * ```
 */
export interface HamEvent {
  /** Its sequence number: increasing, never reused by this HAM. */
  seq: number;
  /** When it happened, in ms since the epoch, to the microsecond (a fraction of a ms). */
  at: number;
  /** What happened: `attach`, `death`, `restart`, `condition`, `action`, `detach`, ... */
  type: string;
  /** The entity it happened to. */
  entity: string;
  /** The condition involved, as its path (it may belong to the global entity). */
  condition?: string;
  /** The action involved, by name within `condition`. */
  action?: string;
  /** Type-specific facts, such as `{ pid, code, signal }` of a death. */
  detail?: Record<string, unknown>;
}

/** What happened, before the HAM numbers it: a {@linkcode HamEvent} without `seq` and `at`. */
export type EventBody = Omit<HamEvent, "seq" | "at">;

// ---------------------------------------------------------------------------
// What clients send

/**
 * The kind-specific fields of an action or action-fail request, as a client sends them.
 *
 * @example
 * ```ts
 * import type { ActionFields, Requests } from "./protocol.ts";
 *
 * const signal: ActionFields = { kind: "signal", signal: "SIGHUP", pid: null };
 * const fields: Requests["action"] = { path: "web/death/reload", flags: ["rearm"], ...signal };
 * console.log(fields.kind); // "signal"
 * ```
 */
export type ActionFields =
  | { kind: "restart"; argv?: string[] | null; policy?: Partial<RestartPolicy> | null }
  | {
    kind: "execute";
    argv: string[];
    /** Time limit of the command in ms, 0 for none. @default {DEFAULTS.executeTimeoutMs} */
    timeoutMs?: number;
  }
  | { kind: "waitfor"; delayMs: number; pathname?: string | null }
  | {
    kind: "signal";
    signal?: string | number;
    pid?: number | null;
    /** Another node (by its name in the nodes file): signal `entity`'s process there. */
    node?: string | null;
    /** With `node`: the entity of that node whose process is signalled. */
    entity?: string | null;
  }
  | { kind: "log"; message: string; prefix?: boolean; verbosity?: number }
  | { kind: "heartbeat-healthy" }
  | {
    kind: "notify";
    channel: string;
    code?: number;
    value?: number;
    /** Another node (by its name in the nodes file): notify its subscribers of `channel`. */
    node?: string | null;
  };

/**
 * The three numbers of a raised condition, as a client sends them; absent or 0 means any.
 *
 * @example
 * ```ts
 * import type { RaiseFields, Requests } from "./protocol.ts";
 *
 * // Raise type 2, class 1, severity 5 on "disk"; a condition matching rtype 2 fires.
 * const raised: RaiseFields = { rtype: 2, rclass: 1, rseverity: 5 };
 * const fields: Requests["raise"] = { entity: "disk", ...raised };
 * console.log(fields); // { entity: "disk", rtype: 2, rclass: 1, rseverity: 5 }
 * ```
 */
export interface RaiseFields {
  /** The type of what is raised. */
  rtype?: number;
  /** Its class. */
  rclass?: number;
  /** Its severity. */
  rseverity?: number;
}

/**
 * What a client sends for each operation, apart from `id` and `op`: paths as
 * `"entity/condition"` strings, flags as numbers or names, absent optional fields taking
 * their defaults.
 *
 * @example
 * ```ts
 * import type { Requests } from "./protocol.ts";
 *
 * // Type-checked request fields: a wrong field name or type does not compile.
 * const attach: Requests["attach"] = { entity: "web", argv: ["/usr/sbin/httpd", "-f"] };
 * const condition: Requests["condition"] = { path: "web/death", type: "death", flags: ["rearm"] };
 * console.log(JSON.stringify({ id: 1, op: "attach", ...attach }), condition.type);
 * ```
 */
export interface Requests {
  /** The handshake. */
  hello: { version: number; client?: string; pid?: number | null };
  /** Is the HAM there? */
  ping: Record<never, never>;
  /** `ham_attach`: a command to start, or a running pid. */
  attach: {
    entity: string;
    argv?: string[] | null;
    pid?: number | null;
    cwd?: string | null;
    env?: Record<string, string> | null;
    flags?: FlagsInput;
    heartbeat?: HeartbeatSpec | null;
    /**
     * What is done with the processes the command leaves behind when it ends (systemd's
     * `KillMode=`): `control-group` ends them, `process` keeps them and lists them under
     * the entity. @default {"control-group"}
     */
    killMode?: "control-group" | "process";
    /**
     * Declares a cluster entity (`ham --cluster`): run on one live node at a time, chosen
     * among `placement` (most preferred first; empty: any node). Absent: a local entity.
     */
    cluster?: { placement: string[] } | null;
  };
  /**
   * Whether an `attach` of this command could start it, asked of the HAM that would start
   * it (it, not the client, sees the filesystem the command runs on): the working directory
   * is a directory and the command resolves to an executable file, as the spawn resolves
   * it. Starts and changes nothing; refused with the code the attach would get (`ENOENT`,
   * `EACCES`, `ENOTDIR`). `hamctl apply` asks it before it stops a process to replace it.
   */
  "check-attach": {
    entity: string;
    argv: string[];
    cwd?: string | null;
    env?: Record<string, string> | null;
  };
  /** `ham_attach_self`: the calling process. */
  "attach-self": {
    entity: string;
    pid: number;
    heartbeat?: HeartbeatSpec | null;
    flags?: FlagsInput;
    /**
     * Renews an attachment made on a lost connection (the library sends it after a
     * reconnection): refused with ENOENT, creating nothing, unless the entity exists,
     * self-attached by `pid` (it was detached or removed meanwhile). @default false
     */
    renew?: boolean;
  };
  /** `ham_entity`: a placeholder. */
  entity: { entity: string; flags?: FlagsInput };
  /** `ham_detach`. */
  detach: { entity: string };
  /** `ham_detach_self`: an entity this connection self-attached. */
  "detach-self": { entity: string };
  /** `ham_condition` and its state/raise variants. */
  condition: {
    path: string;
    type: ConditionType;
    flags?: FlagsInput;
    from?: number;
    to?: number;
  } & RaiseFields;
  /** `ham_condition_remove`. */
  "condition-remove": { path: string };
  /** `ham_action_*`. */
  action: { path: string; flags?: FlagsInput } & ActionFields;
  /** `ham_action_remove`. */
  "action-remove": { path: string };
  /** `ham_action_fail_*`. */
  "action-fail": { path: string; name: string } & ActionFields;
  /** `ham_action_fail_remove`. */
  "action-fail-remove": { path: string; name: string };
  /** `ham_*_control`. */
  control: { path: string; command: ControlCommand; flags?: FlagsInput; recurse?: boolean };
  /** `ham_verbose`. */
  verbose: { command: VerboseCommand; value?: number };
  /** `ham_stop`. */
  stop: Record<never, never>;
  /** The status tree, or one item of it. */
  status: { path?: string | null };
  /**
   * `ham_heartbeat`: of a named entity, or of the one this connection self-attached. With
   * `reply: false` a beat that is taken is not answered (only a refused one is, with its
   * error): a client beating often saves the HAM a write and itself a wake-up per beat.
   * With `slot: true` (and a reply) the answer also hands out a heartbeat slot, through
   * which the process's next beats cost no message at all (`lib/core/heartbeat_slot.ts`).
   */
  heartbeat: { entity?: string | null; reply?: boolean; slot?: boolean };
  /** `ham_entity_condition_state`: publish a state. */
  state: { entity: string; to: number };
  /** `ham_entity_condition_raise`. */
  raise: { entity: string } & RaiseFields;
  /**
   * Wait until an entity reaches a state or a condition fires; with `pid` (for `restarted`
   * or `running`), until it runs with a pid other than that one.
   */
  wait: {
    entity: string;
    for: WaitFor;
    timeoutMs?: number;
    since?: number | null;
    pid?: number | null;
  };
  /** Send a signal (absent: `SIGTERM`) to an entity's process. */
  kill: { entity: string; signal?: string | number };
  /**
   * Deliver a notification to this HAM's subscribers of `channel`, as a notify action does
   * (what a notify action naming this node sends from another node's HAM): `entity`,
   * `condition` and `action` say where it comes from.
   */
  notify: {
    channel: string;
    code?: number;
    value?: number;
    entity?: string | null;
    condition?: string | null;
    action?: string | null;
  };
  /** Restart an entity now: stop its process and start it again. */
  restart: { entity: string };
  /** One row per entity. */
  list: Record<never, never>;
  /** The effective access policy, and the caller's role in it. */
  policy: Record<never, never>;
  /** The metrics, in the Prometheus text format. */
  metrics: Record<never, never>;
  /** Kept events from `since`; with `channel`, only that channel's notifications. */
  events: { since?: number; entity?: string | null; limit?: number; channel?: string | null };
  /**
   * Follow the event stream (pushed as {@linkcode Push} lines carrying the subscription's
   * id, which is this request's id). With `channel`, only its notifications; `subscriber`
   * names a channel subscriber whose cursor the HAM keeps durably (without `channel`:
   * EINVAL).
   */
  subscribe: {
    since?: number | null;
    entity?: string | null;
    channel?: string | null;
    subscriber?: string | null;
  };
  /**
   * End subscription `sub` of this connection (the id of the `subscribe` request that
   * opened it), as its connection's end would: nothing more is pushed for it. `next`, the
   * first sequence number its subscriber did not take, puts a named channel subscriber's
   * cursor back there when the HAM had pushed further (what was pushed after it is received
   * again on resuming). A sub that is not open on this connection (ended already) is no
   * error: `ended` is then false.
   */
  unsubscribe: { sub: number; next?: number | null };
}

/** An operation of the protocol. */
export type Op = keyof Requests;

/** A request line as a client writes it, without its id. */
export type WireRequest = { [O in Op]: { op: O } & Requests[O] }[Op];

// ---------------------------------------------------------------------------
// What the HAM decodes

/** A decoded request, by operation: validated, defaults filled in, paths parsed. */
export type Request =
  | { id: number; op: "hello"; version: number; client: string; pid: number | null }
  | { id: number; op: "ping" }
  | {
    id: number;
    op: "attach";
    entity: string;
    argv: string[] | null;
    pid: number | null;
    cwd: string | null;
    env: Record<string, string> | null;
    flags: number;
    heartbeat: HeartbeatSpec | null;
    killMode: KillMode;
    /** A cluster entity's placement; absent for a local entity. */
    cluster?: { placement: string[] };
  }
  | {
    id: number;
    op: "check-attach";
    entity: string;
    argv: string[];
    cwd: string | null;
    env: Record<string, string> | null;
  }
  | {
    id: number;
    op: "attach-self";
    entity: string;
    pid: number;
    heartbeat: HeartbeatSpec | null;
    flags: number;
    renew: boolean;
  }
  | { id: number; op: "entity"; entity: string; flags: number }
  | { id: number; op: "detach"; entity: string }
  | { id: number; op: "detach-self"; entity: string }
  | {
    id: number;
    op: "condition";
    path: ItemPath;
    type: ConditionType;
    flags: number;
    from: number;
    to: number;
    rtype: number;
    rclass: number;
    rseverity: number;
  }
  | { id: number; op: "condition-remove"; path: ItemPath }
  | {
    id: number;
    op: "action";
    path: ItemPath;
    flags: number;
    params: ActionParams;
  }
  | { id: number; op: "action-remove"; path: ItemPath }
  | {
    id: number;
    op: "action-fail";
    path: ItemPath;
    name: string;
    params: ActionParams;
  }
  | { id: number; op: "action-fail-remove"; path: ItemPath; name: string }
  | {
    id: number;
    op: "control";
    path: ItemPath;
    command: ControlCommand;
    flags: number;
    recurse: boolean;
  }
  | { id: number; op: "verbose"; command: VerboseCommand; value: number }
  | { id: number; op: "stop" }
  | { id: number; op: "status"; path: ItemPath | null }
  | { id: number; op: "heartbeat"; entity: string | null; reply: boolean; slot: boolean }
  | { id: number; op: "state"; entity: string; to: number }
  | { id: number; op: "raise"; entity: string; rtype: number; rclass: number; rseverity: number }
  | {
    id: number;
    op: "wait";
    entity: string;
    for: WaitFor;
    timeoutMs: number;
    /** Also accept a matching event with this sequence number or later, already past. */
    since: number | null;
    /** With `restarted` or `running`: reached once the entity runs with a pid other than this. */
    pid: number | null;
  }
  | { id: number; op: "kill"; entity: string; signal: number }
  | {
    id: number;
    op: "notify";
    channel: string;
    code: number;
    value: number;
    entity: string | null;
    condition: string | null;
    action: string | null;
  }
  | { id: number; op: "restart"; entity: string }
  | { id: number; op: "list" }
  | { id: number; op: "policy" }
  | { id: number; op: "metrics" }
  | {
    id: number;
    op: "events";
    since: number;
    entity: string | null;
    limit: number;
    /** Only the notifications of this channel. */
    channel: string | null;
  }
  | {
    id: number;
    op: "subscribe";
    since: number | null;
    entity: string | null;
    /** Only the notifications of this channel. */
    channel: string | null;
    /** With `channel`: the subscriber's name, whose cursor the HAM keeps durably. */
    subscriber: string | null;
  }
  | {
    id: number;
    op: "unsubscribe";
    /** The subscription: the id of the `subscribe` request that opened it. */
    sub: number;
    /** The first sequence number its subscriber did not take, or null when not said. */
    next: number | null;
  };

/** The decoded request of one operation. */
export type RequestOf<O extends Op> = Extract<Request, { op: O }>;

// ---------------------------------------------------------------------------
// What the HAM answers

/** What the HAM answers to `hello`. */
export type HelloResult = Results["hello"];

/**
 * What `attach` and `attach-self` answer.
 *
 * @example
 * ```ts
 * import type { AttachResult } from "./protocol.ts";
 *
 * // What `attach` answers for a command the HAM started as pid 4242.
 * const result: AttachResult = { entity: "web", pid: 4242 };
 * console.log(`${result.entity} runs as ${result.pid}`);
 * ```
 */
export interface AttachResult {
  /** The entity's name. */
  entity: string;
  /** The process now monitored (none for a cluster entity: it is placed on a node later). */
  pid: number;
  /** Set for a cluster entity's declaration. */
  cluster?: true;
  /** The cluster entity's placement list. */
  placement?: string[];
}

/**
 * What a control request answers: the item's enabled bit and flags after the change.
 *
 * @example
 * ```ts
 * import type { ControlResult } from "./protocol.ts";
 *
 * // Says whether a `get-flags` answer shows the item enabled and kept across restarts.
 * export function armed(result: ControlResult): boolean {
 *   return result.enabled && result.flagNames.includes("rearm");
 * }
 * console.log(armed({ path: "web/death", enabled: true, flags: 1, flagNames: ["rearm"] })); // true
 * ```
 */
export interface ControlResult {
  /** The item's path. */
  path: string;
  /** Its enabled bit after the change. */
  enabled: boolean;
  /** Its flag word after the change. */
  flags: number;
  /** The names of the set flags. */
  flagNames: string[];
}

/**
 * What publishing a state answers: the transition the HAM raised.
 *
 * @example
 * ```ts
 * import type { StateResult } from "./protocol.ts";
 *
 * const result: StateResult = { entity: "db", from: 1, to: 2 };
 * console.log(`${result.entity}: state ${result.from} -> ${result.to}`); // "db: state 1 -> 2"
 * ```
 */
export interface StateResult {
  /** The entity's name. */
  entity: string;
  /** The state it was in. */
  from: number;
  /** The state it is in now. */
  to: number;
}

/**
 * What `wait` answers: what was reached, and the event that showed it (null: already so).
 *
 * @example
 * ```ts
 * import type { WaitResult } from "./protocol.ts";
 *
 * // `seq` is null when what was waited for already held when the wait began.
 * export function describe(r: WaitResult): string {
 *   return r.seq === null ? `${r.entity} was already ${r.reached}` : `${r.entity} ${r.reached} (#${r.seq})`;
 * }
 * console.log(describe({ entity: "web", reached: "running", seq: null }));
 * ```
 */
export interface WaitResult {
  /** The entity's name. */
  entity: string;
  /** What was waited for. */
  reached: WaitFor;
  /** The event that showed it, or null when it already held. */
  seq: number | null;
}

/**
 * What `events` answers: events oldest first, and the `since` that continues after them.
 *
 * @example
 * ```ts
 * import type { EventsResult } from "./protocol.ts";
 *
 * // Prints a page of events and returns the `since` of the next call.
 * export function printPage(page: EventsResult): number {
 *   for (const ev of page.events) console.log(ev.seq, ev.type, ev.entity);
 *   return page.next;
 * }
 * console.log(printPage({ events: [], next: 1 })); // 1
 * ```
 */
export interface EventsResult {
  /** The events, oldest first. */
  events: HamEvent[];
  /** The `since` of the next call. */
  next: number;
}

/**
 * What the HAM answers to each operation.
 *
 * @example
 * ```ts
 * import type { Results } from "./protocol.ts";
 *
 * // Each operation's answer has its own type.
 * const hello: Results["hello"] = { version: 1, hamPid: 100, guardianPid: 101 };
 * const detach: Results["detach"] = { entity: "web" };
 * console.log(hello.guardianPid !== null, detach.entity); // true "web"
 * ```
 */
export interface Results {
  /** The HAM's version and pids. */
  hello: {
    /** The protocol version the HAM speaks. */
    version: number;
    /** The HAM's pid. */
    hamPid: number;
    /** Its Guardian's pid, or null when there is none. */
    guardianPid: number | null;
  };
  /** It is there. */
  ping: { pong: true };
  /** The entity and its pid. */
  attach: AttachResult;
  /** The entity, and the file its command would run (relative to its `cwd` when relative). */
  "check-attach": { entity: string; path: string };
  /** The entity and its pid. */
  "attach-self": AttachResult;
  /** The placeholder's name. */
  entity: { entity: string };
  /** The detached entity. */
  detach: { entity: string };
  /** The detached entity. */
  "detach-self": { entity: string };
  /** The condition's path. */
  condition: { path: string };
  /** The removed condition's path. */
  "condition-remove": { path: string };
  /** The action's path. */
  action: { path: string };
  /** The removed action's path. */
  "action-remove": { path: string };
  /** The action's path and the action-fail item's name. */
  "action-fail": { path: string; name: string };
  /** The action's path. */
  "action-fail-remove": { path: string };
  /** The item's state after the change. */
  control: ControlResult;
  /** The verbosity after the command. */
  verbose: { verbosity: number };
  /** The HAM is stopping. */
  stop: { stopping: true };
  /** The tree, or one item of it. */
  status: StatusView;
  /**
   * The entity that beat; with `slot` asked for, the slot file and offset its process may
   * beat through from now on (null: none to give, keep beating over the socket).
   */
  heartbeat: { entity: string; slot?: { path: string; offset: number } | null };
  /** The transition. */
  state: StateResult;
  /** The entity raised on. */
  raise: { entity: string };
  /** What was reached. */
  wait: WaitResult;
  /** The entity and the pid signalled. */
  kill: AttachResult;
  /** The channel notified. */
  notify: { channel: string };
  /** The entity and the pid being replaced (null when it had no process). */
  restart: { entity: string; pid: number | null };
  /** One row per entity, in creation order. */
  list: { entities: ListRow[] };
  /** The effective policy, and the caller's role. */
  policy: {
    /** The caller's role, or null when it has none. */
    role: "read" | "report" | "admin" | null;
    /** The policy as `hamctl policy` prints it. */
    text: string;
    /** The uids that are always admin (root and the HAM's own). */
    adminUids: number[];
    /** The grants of the policy file, as written. */
    grants: Array<{ role: "read" | "report" | "admin"; source: string }>;
    /** The policy file, or null when there is none. */
    file: string | null;
  };
  /** The Prometheus text exposition. */
  metrics: { text: string };
  /** The events and where to continue. */
  events: EventsResult;
  /** The subscription's id (carried by its pushes) and the sequence number it starts at. */
  subscribe: {
    /** The subscription's id: the id of the request that opened it, carried by its pushes. */
    sub: number;
    /** The first sequence number it covers. */
    since: number;
  };
  /** The subscription, and whether this request ended it (false: it was not open). */
  unsubscribe: { sub: number; ended: boolean };
}

/** What `policy` answers: the effective access policy (`lib/core/policy.ts`). */
export type PolicyResult = Results["policy"];

/** The error part of a failed response. */
export interface WireError {
  /** The errno-style code (`lib/core/errors.ts`). */
  code: string;
  /** What failed and why. */
  message: string;
}

/** A response line. */
export type Response =
  | { id: number; ok: true; result: Results[Op] }
  | { id: number; ok: false; error: WireError };

// ---------------------------------------------------------------------------
// What the HAM pushes

/** What `subscribe` answers. */
export type SubscribeResult = Results["subscribe"];

/**
 * A line the HAM pushes without a request (the value of its `push` field). A subscription's
 * pushes carry its id, `sub`, so that one connection can hold several. The two ways a
 * subscription can fall behind are distinct:
 *
 * - `event`: the next event of a subscription;
 * - `skipped`: events `from`..`to` that it asked for are no longer kept; it carries on
 *   with the next one (sent when it opens from a `since` older than what is kept);
 * - `ended`: it was dropped because its unwritten backlog passed
 *   `DEFAULTS.maxSubscriberBacklogBytes` (`reason: "lagged"`); subscribe again from
 *   `next`, the first event it did not get (a subscription its client ends, `unsubscribe`,
 *   gets no push: the answer says it);
 * - `stopping` (to every client): the HAM is stopping on request, so a self-attached
 *   client does not try to reconnect (after a takeover it does). It comes after the
 *   HAM's last event, `stop`.
 *
 * @example
 * ```ts
 * import type { Push } from "./protocol.ts";
 *
 * // What a subscriber does with each kind of push.
 * export function onPush(push: Push): string {
 *   switch (push.type) {
 *     case "event":
 *       return `event #${push.event.seq}`;
 *     case "skipped":
 *       return `events ${push.from}..${push.to} are gone; carrying on`;
 *     case "ended":
 *       return `dropped (${push.reason}); subscribe again since ${push.next}`;
 *     case "stopping":
 *       return "the HAM is stopping";
 *   }
 * }
 * console.log(onPush({ type: "skipped", sub: 1, from: 3, to: 9 }));
 * ```
 */
export type Push =
  | { type: "event"; sub: number; event: HamEvent }
  | { type: "skipped"; sub: number; from: number; to: number }
  | { type: "ended"; sub: number; reason: "lagged"; next: number }
  | { type: "stopping" };

/** A line the server writes: a response, or a push. */
export type ServerLine = Response | { push: Push };

/** Encodes a line the server writes (without the newline). */
export function encodeResponse(line: ServerLine): string {
  return JSON.stringify(line);
}
