/**
 * The client's side of the protocol's payloads: the options the library takes and the
 * builders of the request fields that the library and `hamctl` both send. The request and
 * result shapes themselves are defined once, in `protocol.ts`.
 *
 * @module
 */

import { HamError } from "./errors.ts";
import { parseFlags, parseSignal } from "./flags.ts";
import type { ActionFields, FlagsInput, RaiseFields } from "./protocol.ts";
import type { HeartbeatSpec, RestartPolicy } from "./model.ts";

/**
 * What to attach: a command for the HAM to start, or a running process.
 *
 * @example
 * ```ts
 * import type { AttachTarget } from "./requests.ts";
 *
 * const start: AttachTarget = { argv: ["/usr/sbin/httpd", "-f"] }; // a command the HAM starts
 * const adopt: AttachTarget = { pid: Deno.pid }; // a process that already runs
 * console.log("argv" in start, "pid" in adopt); // true true
 * ```
 */
export type AttachTarget = { argv: string[] } | { pid: number };

/**
 * Options of `Ham.attach()`.
 *
 * @example
 * ```ts
 * import type { AttachOptions } from "./requests.ts";
 *
 * // Kept when its process dies; expected to beat every second (missed 2: low, 5: high).
 * const opts: AttachOptions = {
 *   flags: ["keep-on-death"],
 *   heartbeat: { periodMs: 1_000, low: 2, high: 5 },
 *   cwd: "/srv/web",
 *   env: { PORT: "8080" },
 * };
 * console.log(opts.heartbeat?.periodMs); // 1000
 * ```
 */
export interface AttachOptions {
  /** Entity flags: `keep-on-death`. @default {0} */
  flags?: FlagsInput;
  /** Heartbeat period and thresholds, for a process that calls `heartbeat`. @default {none} */
  heartbeat?: HeartbeatSpec | null;
  /** Working directory of the command. @default {the HAM's} */
  cwd?: string | null;
  /** Extra environment of the command. @default {none} */
  env?: Record<string, string> | null;
  /**
   * What is done with the processes the command leaves behind when it ends (systemd's
   * `KillMode=`): `control-group` ends them (SIGTERM, then SIGKILL), `process` keeps them
   * and `status` lists them under the entity. @default {"control-group"}
   */
  killMode?: "control-group" | "process";
}

/**
 * Options of `Ham.attachSelf()`.
 *
 * @example
 * ```ts
 * import type { SelfAttachOptions } from "./requests.ts";
 *
 * // This process promises a heartbeat every 500 ms.
 * const opts: SelfAttachOptions = { heartbeat: { periodMs: 500, low: 1, high: 4 } };
 * console.log(opts.heartbeat?.high); // 4
 * ```
 */
export interface SelfAttachOptions {
  /** Heartbeat period and thresholds; send `heartbeat` once a period. */
  heartbeat?: HeartbeatSpec | null;
  /** Entity flags: `keep-on-death`. @default {0} */
  flags?: FlagsInput;
}

/** The wire fields of a raise request or a raise condition (absent = 0 = any). */
export function raiseFields(f: RaiseFields): { rtype: number; rclass: number; rseverity: number } {
  return { rtype: f.rtype ?? 0, rclass: f.rclass ?? 0, rseverity: f.rseverity ?? 0 };
}

/**
 * One side of a state match: a state (0 = any), or a set of states (bit n = state n).
 *
 * @example
 * ```ts
 * import { stateField, type StateSpec } from "./requests.ts";
 *
 * const one: StateSpec = 3; // exactly state 3
 * const notIdle: StateSpec = { set: [0], invert: true }; // any state but 0
 * console.log(stateField(one, "to").value, stateField(notIdle, "to").value); // 3 1
 * ```
 */
export type StateSpec = number | { set: readonly number[]; invert?: boolean };

/**
 * The bit set of a list of states (bit n = state n, states 0–31).
 *
 * @throws {HamError} EINVAL for a state that is not an integer from 0 to 31 (`1 << 33` is
 * state 1's bit: it would match another state).
 */
export function stateSet(states: readonly number[]): number {
  return states.reduce((bits, n) => {
    if (!Number.isInteger(n) || n < 0 || n > 31) {
      throw new HamError(
        "EINVAL",
        `Invalid state ${n} in a set: expected an integer from 0 to 31`,
      );
    }
    return (bits | (1 << n)) >>> 0;
  }, 0);
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

/**
 * How a log action or action-fail item writes its message.
 *
 * @example
 * ```ts
 * import { actionParams, type LogFields } from "./requests.ts";
 *
 * const quiet: LogFields = { prefix: false, verbosity: 3 };
 * console.log(actionParams.log("disk almost full", quiet));
 * // { kind: "log", message: "disk almost full", prefix: false, verbosity: 3 }
 * ```
 */
export interface LogFields {
  /** Prefix the message with the item's path. @default {true} */
  prefix?: boolean;
  /** Logged only when the HAM's verbosity is at least this. @default {1} */
  verbosity?: number;
}

/** Builders of the kind-specific fields of action and action-fail requests. */
export const actionParams = {
  /** Re-spawns the entity (optionally with another command), with an optional policy. */
  restart: (argv?: string[] | null, policy?: Partial<RestartPolicy> | null): ActionFields => ({
    kind: "restart",
    argv: argv ?? null,
    policy: policy ?? null,
  }),
  /**
   * Spawns a command; past `timeoutMs` (0: no limit; absent: the HAM's default,
   * `DEFAULTS.executeTimeoutMs`) it is ended and the action fails with ETIMEDOUT.
   */
  execute: (argv: string[], timeoutMs?: number): ActionFields => ({
    kind: "execute",
    argv,
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
  }),
  /** Waits `delayMs`, or until `pathname` exists (failing if it has not appeared by then). */
  waitfor: (delayMs: number, pathname?: string | null): ActionFields => ({
    kind: "waitfor",
    delayMs,
    pathname: pathname ?? null,
  }),
  /** Sends a signal (a name such as `TERM`, or a number; absent: `SIGTERM`) to `pid`, or to the entity. */
  signal: (signal?: string | number, pid?: number | null): ActionFields => ({
    kind: "signal",
    ...(signal === undefined ? {} : { signal: parseSignal(signal) }),
    pid: pid ?? null,
  }),
  /** Writes a message into the HAM's activity log. */
  log: (message: string, opts: LogFields = {}): ActionFields => ({
    kind: "log",
    message,
    ...opts,
  }),
  /** Resets the entity's heartbeat health. */
  heartbeatHealthy: (): ActionFields => ({ kind: "heartbeat-healthy" }),
  /** Sends `(code, value)` to the subscribers of `channel`. */
  notify: (channel: string, code: number, value: number): ActionFields => ({
    kind: "notify",
    channel,
    code,
    value,
  }),
  /**
   * Sends `(code, value)` to the subscribers of `channel` on another node: that node's HAM
   * (by its name in the nodes file) delivers it (`ham_action_notify_pulse_node`).
   */
  notifyNode: (node: string, channel: string, code: number, value: number): ActionFields => ({
    kind: "notify",
    channel,
    code,
    value,
    node,
  }),
  /**
   * Sends a signal (absent: `SIGTERM`) to the process of `entity` on another node, through
   * that node's HAM (`ham_action_notify_signal_node`).
   */
  signalNode: (node: string, entity: string, signal?: string | number): ActionFields => ({
    kind: "signal",
    ...(signal === undefined ? {} : { signal: parseSignal(signal) }),
    node,
    entity,
  }),
};

/**
 * Throws EINVAL naming the field when a request's fields hold a number that JSON cannot
 * carry (`NaN`, `Infinity`): `JSON.stringify` writes it as `null`, which the HAM takes for
 * an absent field and its default (a heartbeat `low: NaN` became 0, no threshold).
 *
 * @example
 * ```ts
 * import { checkFinite } from "./requests.ts";
 *
 * checkFinite("attach", { heartbeat: { periodMs: 1000, low: 2, high: 4 } }); // fine
 * try {
 *   checkFinite("attach", { heartbeat: { periodMs: 1000, low: NaN } });
 * } catch (err) {
 *   console.log((err as Error).message); // Invalid field "heartbeat.low" NaN: ...
 * }
 * ```
 */
export function checkFinite(op: string, fields: object): void {
  // Iterative: fields may nest deeper than the call stack.
  const stack: Array<[unknown, string]> = [[fields, ""]];
  while (stack.length > 0) {
    const [value, where] = stack.pop()!;
    if (typeof value === "number") {
      if (Number.isFinite(value)) continue;
      throw new HamError(
        "EINVAL",
        `Invalid field "${where}" ${value} in a "${op}" request: expected a finite number`,
      );
    }
    if (typeof value !== "object" || value === null) continue;
    for (const [k, v] of Object.entries(value)) {
      if (typeof v === "number" || (typeof v === "object" && v !== null)) {
        stack.push([v, where === "" ? k : `${where}.${k}`]);
      }
    }
  }
}
