/**
 * The client's side of the protocol's payloads: builders of the request fields that the
 * library and `hamctl` both send, and the shapes of the results they read back. The
 * request shapes themselves are defined once, in `protocol.ts`.
 *
 * @module
 */

import { type ActionKind, parseFlags, parseSignal } from "./flags.ts";
import type { HeartbeatSpec, RestartPolicy } from "./model.ts";
import { DEFAULTS } from "./defaults.ts";

/** An event of the HAM's stream, as `events` and `subscribe` deliver it. */
export interface HamEvent {
  /** Its sequence number: increasing, never reused by this HAM. */
  seq: number;
  /** When it happened, in ms since the epoch. */
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

/** A flag word: a number, or a list of flag names such as `["rearm", "nowait"]`. */
export type FlagsInput = number | readonly string[];

/** What to attach: a command for the HAM to start, or a running process. */
export type AttachTarget = { argv: string[] } | { pid: number };

/** Options of `Ham.attach()`. */
export interface AttachOptions {
  /** Entity flags: `keep-on-death`. @default {0} */
  flags?: FlagsInput;
  /** Heartbeat period and thresholds, for a process that calls `heartbeat`. @default {none} */
  heartbeat?: HeartbeatSpec | null;
  /** Working directory of the command. @default {the HAM's} */
  cwd?: string | null;
  /** Extra environment of the command. @default {none} */
  env?: Record<string, string> | null;
}

/** Options of `Ham.attachSelf()`. */
export interface SelfAttachOptions {
  /** Heartbeat period and thresholds; send `heartbeat` once a period. */
  heartbeat?: HeartbeatSpec | null;
  /** Entity flags: `keep-on-death`. @default {0} */
  flags?: FlagsInput;
}

/** What `attach` and `attach-self` answer. */
export interface AttachResult {
  /** The entity's name. */
  entity: string;
  /** The process now monitored. */
  pid: number;
}

/** What a control request answers: the item's enabled bit and flags after the change. */
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

/** What publishing a state answers: the transition the HAM raised. */
export interface StateResult {
  /** The entity's name. */
  entity: string;
  /** The state it was in. */
  from: number;
  /** The state it is in now. */
  to: number;
}

/** What `wait` answers: what was reached, and the event that showed it (null: already so). */
export interface WaitResult {
  /** The entity's name. */
  entity: string;
  /** What was waited for. */
  reached: string;
  /** The event that showed it, or null when it already held. */
  seq: number | null;
}

/** What `events` answers: events oldest first, and the `since` that continues after them. */
export interface EventsResult {
  /** The events, oldest first. */
  events: HamEvent[];
  /** The `since` of the next call. */
  next: number;
}

/** The three numbers of a raised condition; 0 (the default) means any. */
export interface RaiseFields {
  /** The type of what is raised. */
  rtype?: number;
  /** Its class. */
  rclass?: number;
  /** Its severity. */
  rseverity?: number;
}

/** The wire fields of a raise request or a raise condition (absent = 0 = any). */
export function raiseFields(f: RaiseFields): { rtype: number; rclass: number; rseverity: number } {
  return { rtype: f.rtype ?? 0, rclass: f.rclass ?? 0, rseverity: f.rseverity ?? 0 };
}

/** One side of a state match: a state (0 = any), or a set of states (bit n = state n). */
export type StateSpec = number | { set: readonly number[]; invert?: boolean };

/** The bit set of a list of states (bit n = state n, states 0–31). */
export function stateSet(states: readonly number[]): number {
  return states.reduce((bits, n) => (bits | (1 << n)) >>> 0, 0);
}

/**
 * The `from` or `to` value of a state condition and the flags its {@linkcode StateSpec}
 * needs (`from-set`, `from-inv`, ...).
 *
 * @example
 * ```ts
 * import { stateField } from "./requests.ts";
 * console.log(stateField({ set: [1, 3], invert: true }, "to")); // { value: 10, flags: 40960 }
 * ```
 */
export function stateField(
  spec: StateSpec | undefined,
  side: "from" | "to",
): { value: number; flags: number } {
  if (spec === undefined || typeof spec === "number") return { value: spec ?? 0, flags: 0 };
  const names = spec.invert ? [`${side}-set`, `${side}-inv`] : [`${side}-set`];
  return { value: stateSet(spec.set), flags: parseFlags("condition", names) };
}

/** How a log action or action-fail item writes its message. */
export interface LogFields {
  /** Prefix the message with the item's path. @default {true} */
  prefix?: boolean;
  /** Logged only when the HAM's verbosity is at least this. @default {1} */
  verbosity?: number;
}

/** The kind-specific fields of an action or action-fail request. */
export type ParamFields = { kind: ActionKind } & Record<string, unknown>;

/** Builders of the kind-specific fields of action and action-fail requests. */
export const actionParams = {
  /** Re-spawns the entity (optionally with another command), with an optional policy. */
  restart: (argv?: string[] | null, policy?: Partial<RestartPolicy> | null): ParamFields => ({
    kind: "restart",
    argv: argv ?? null,
    policy: policy ?? null,
  }),
  /** Spawns a command. */
  execute: (argv: string[]): ParamFields => ({ kind: "execute", argv }),
  /** Waits `delayMs`, or until `pathname` exists (failing if it has not appeared by then). */
  waitfor: (delayMs: number, pathname?: string | null): ParamFields => ({
    kind: "waitfor",
    delayMs,
    pathname: pathname ?? null,
  }),
  /** Sends a signal (a name such as `TERM`, or a number) to `pid`, or to the entity. */
  signal: (signal: string | number, pid?: number | null): ParamFields => ({
    kind: "signal",
    signal: parseSignal(signal),
    pid: pid ?? null,
  }),
  /** Writes a message into the HAM's activity log. */
  log: (message: string, opts: LogFields = {}): ParamFields => ({
    kind: "log",
    message,
    prefix: opts.prefix ?? DEFAULTS.logActionPrefix,
    verbosity: opts.verbosity ?? DEFAULTS.logActionVerbosity,
  }),
  /** Resets the entity's heartbeat health. */
  heartbeatHealthy: (): ParamFields => ({ kind: "heartbeat-healthy" }),
  /** Sends `(code, value)` to the subscribers of `channel`. */
  notify: (channel: string, code: number, value: number): ParamFields => ({
    kind: "notify",
    channel,
    code,
    value,
  }),
};
