/**
 * Handles on the items of the HAM's tree, as in libham: name-based references to an
 * entity, a condition or an action, with a method per `ham_*` call made on them. They
 * hold no state in the HAM: an item that has gone since gives ENOENT when used.
 *
 * @module
 */

import type { HamClient } from "./client.ts";
import {
  type ActionKind,
  type ConditionType,
  type ItemType,
  parseFlags,
  parseSignal,
} from "./flags.ts";
import type { RestartPolicy } from "./model.ts";
import type { ControlCommand } from "./protocol.ts";

/** A flag word: a number, or a list of flag names such as `["rearm", "nowait"]`. */
export type FlagsInput = number | readonly string[];

/** What a control request answers. */
export interface ControlResult {
  path: string;
  enabled: boolean;
  flags: number;
  flagNames: string[];
}

/** What publishing a state answers: the transition the HAM raised. */
export interface StateResult {
  entity: string;
  from: number;
  to: number;
}

/** The three numbers of a raised condition; 0 (the default) means any. */
export interface RaiseFields {
  rtype?: number;
  rclass?: number;
  rseverity?: number;
}

/** One side of a state match: a state (0 = any), or a set of states (bit n = state n). */
export type StateSpec = number | { set: readonly number[]; invert?: boolean };

/** Options of {@linkcode EntityHandle.conditionState}. */
export interface StateConditionOptions {
  /** @default {0 (any)} */
  from?: StateSpec;
  /** @default {0 (any)} */
  to?: StateSpec;
  flags?: FlagsInput;
}

/** Options of the calls that add an action. */
export interface ActionOptions {
  /** Action flags: `rearm`, `do-now`, `break-on-fail`, `keep-on-fail`. @default {0} */
  flags?: FlagsInput;
}

/** Options of {@linkcode ConditionHandle.restart}. */
export interface RestartOptions extends ActionOptions {
  /** The command to restart with. @default {the entity's own command} */
  argv?: string[];
  /** Restart-storm protection; absent fields take the HAM's defaults. @default {none} */
  policy?: Partial<RestartPolicy>;
}

/** Options of a log action or action-fail item. */
export interface LogOptions extends ActionOptions {
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
  /** Sends a signal (a name such as `TERM` or a number) to `pid`, or to the entity. */
  signal: (signal: string | number, pid?: number | null): ParamFields => ({
    kind: "signal",
    signal: parseSignal(signal),
    pid: pid ?? null,
  }),
  /** Writes a message into the HAM's activity log. */
  log: (message: string, opts: LogOptions = {}): ParamFields => ({
    kind: "log",
    message,
    prefix: opts.prefix ?? true,
    verbosity: opts.verbosity ?? 1,
  }),
  /** Resets the entity's heartbeat health. */
  heartbeatHealthy: (): ParamFields => ({ kind: "heartbeat-healthy" }),
  /** Pushes `(code, value)` to the subscribers of `channel`. */
  notify: (channel: string, code: number, value: number): ParamFields => ({
    kind: "notify",
    channel,
    code,
    value,
  }),
};

/** The bit set of a list of states (bit n = state n, states 0–31). */
export function stateSet(states: readonly number[]): number {
  return states.reduce((bits, n) => (bits | (1 << n)) >>> 0, 0);
}

/** The `from`/`to` value and the flags a {@linkcode StateSpec} stands for. */
export function stateField(
  spec: StateSpec | undefined,
  side: "from" | "to",
): { value: number; flags: number } {
  if (spec === undefined || typeof spec === "number") return { value: spec ?? 0, flags: 0 };
  const flags = parseFlags("condition", spec.invert ? [`${side}-set`, `${side}-inv`] : [`${side}-set`]);
  return { value: stateSet(spec.set), flags };
}

/** What the handles share: the path, the client, and the control calls. */
abstract class ItemHandle {
  /** The item's path: `entity`, `entity/condition` or `entity/condition/action`. */
  readonly path: string;
  protected readonly client: HamClient;
  readonly #item: ItemType;

  constructor(client: HamClient, path: string, item: ItemType) {
    this.client = client;
    this.path = path;
    this.#item = item;
  }

  /**
   * Enables, disables (optionally with `recurse`), or changes or reads the flags of the
   * item (`ham_*_control`). Answers the item's enabled bit and flags after the change.
   */
  control(
    command: ControlCommand,
    flags: FlagsInput = 0,
    opts: { recurse?: boolean } = {},
  ): Promise<ControlResult> {
    return this.client.request<ControlResult>("control", {
      path: this.path,
      command,
      flags: parseFlags(this.#item, flags),
      recurse: opts.recurse ?? false,
    });
  }
}

/** A handle on an entity (`ham_entity_t`); the global entity is `@global`. */
export class EntityHandle extends ItemHandle {
  /** The pid the HAM reported when this handle was made by an attach, else null. */
  readonly pid: number | null;

  /** Makes a handle; no request is sent. */
  constructor(client: HamClient, name: string, pid: number | null = null) {
    super(client, name, "entity");
    this.pid = pid;
  }

  /** The entity's name. */
  get name(): string {
    return this.path;
  }

  /** Adds a condition of `type` (`ham_condition`). */
  async condition(
    name: string,
    type: ConditionType,
    opts: { flags?: FlagsInput } = {},
  ): Promise<ConditionHandle> {
    const path = `${this.path}/${name}`;
    const flags = parseFlags("condition", opts.flags);
    await this.client.request("condition", { path, type, flags });
    return new ConditionHandle(this.client, path);
  }

  /** Adds a condition on published state transitions (`ham_condition_state`). */
  async conditionState(name: string, opts: StateConditionOptions = {}): Promise<ConditionHandle> {
    const path = `${this.path}/${name}`;
    const from = stateField(opts.from, "from");
    const to = stateField(opts.to, "to");
    const flags = parseFlags("condition", opts.flags) | from.flags | to.flags;
    await this.client.request("condition", {
      path,
      type: "state",
      flags,
      from: from.value,
      to: to.value,
    });
    return new ConditionHandle(this.client, path);
  }

  /** Adds a condition on raised conditions (`ham_condition_raise`). */
  async conditionRaise(
    name: string,
    opts: RaiseFields & { flags?: FlagsInput } = {},
  ): Promise<ConditionHandle> {
    const path = `${this.path}/${name}`;
    await this.client.request("condition", {
      path,
      type: "raise",
      flags: parseFlags("condition", opts.flags),
      ...raiseFields(opts),
    });
    return new ConditionHandle(this.client, path);
  }

  /** Publishes the entity's new state (`ham_entity_condition_state`). */
  publishState(to: number): Promise<StateResult> {
    return this.client.request<StateResult>("state", { entity: this.path, to });
  }

  /** Raises a condition about the entity (`ham_entity_condition_raise`). */
  async raise(fields: RaiseFields = {}): Promise<void> {
    await this.client.request("raise", { entity: this.path, ...raiseFields(fields) });
  }

  /** Stops monitoring the entity (`ham_detach`). */
  async detach(): Promise<void> {
    await this.client.request("detach", { entity: this.path });
  }
}

/** The wire fields of a raise request or condition. */
export function raiseFields(f: RaiseFields): { rtype: number; rclass: number; rseverity: number } {
  return { rtype: f.rtype ?? 0, rclass: f.rclass ?? 0, rseverity: f.rseverity ?? 0 };
}

/** A handle on a condition (`ham_condition_t`). */
export class ConditionHandle extends ItemHandle {
  /** Makes a handle on `entity/condition`; no request is sent. */
  constructor(client: HamClient, path: string) {
    super(client, path, "condition");
  }

  async #add(name: string, params: ParamFields, opts: ActionOptions): Promise<ActionHandle> {
    const path = `${this.path}/${name}`;
    await this.client.request("action", {
      path,
      flags: parseFlags("action", opts.flags),
      ...params,
    });
    return new ActionHandle(this.client, path);
  }

  /** Adds a restart action (`ham_action_restart`); death conditions only. */
  restart(name: string, opts: RestartOptions = {}): Promise<ActionHandle> {
    return this.#add(name, actionParams.restart(opts.argv, opts.policy), opts);
  }

  /** Adds an action that spawns a command (`ham_action_execute`). */
  execute(name: string, argv: string[], opts: ActionOptions = {}): Promise<ActionHandle> {
    return this.#add(name, actionParams.execute(argv), opts);
  }

  /** Adds a delay, or a wait for `pathname` to appear (`ham_action_waitfor`). */
  waitfor(
    name: string,
    delayMs: number,
    pathname?: string | null,
    opts: ActionOptions = {},
  ): Promise<ActionHandle> {
    return this.#add(name, actionParams.waitfor(delayMs, pathname), opts);
  }

  /** Adds an action that signals `pid`, or the entity (`ham_action_notify_signal`). */
  signal(
    name: string,
    signal: string | number,
    pid?: number | null,
    opts: ActionOptions = {},
  ): Promise<ActionHandle> {
    return this.#add(name, actionParams.signal(signal, pid), opts);
  }

  /** Adds a log action (`ham_action_log`). */
  log(name: string, message: string, opts: LogOptions = {}): Promise<ActionHandle> {
    return this.#add(name, actionParams.log(message, opts), opts);
  }

  /** Adds an action resetting heartbeat health (`ham_action_heartbeat_healthy`). */
  heartbeatHealthy(name: string, opts: ActionOptions = {}): Promise<ActionHandle> {
    return this.#add(name, actionParams.heartbeatHealthy(), opts);
  }

  /** Adds an action notifying the subscribers of `channel` (`ham_action_notify_pulse`). */
  notify(
    name: string,
    channel: string,
    code: number,
    value: number,
    opts: ActionOptions = {},
  ): Promise<ActionHandle> {
    return this.#add(name, actionParams.notify(channel, code, value), opts);
  }

  /** Removes the condition and its actions (`ham_condition_remove`). */
  async remove(): Promise<void> {
    await this.client.request("condition-remove", { path: this.path });
  }
}

/** A handle on an action (`ham_action_t`), with its action-fail list. */
export class ActionHandle extends ItemHandle {
  /** Makes a handle on `entity/condition/action`; no request is sent. */
  constructor(client: HamClient, path: string) {
    super(client, path, "action");
  }

  async #fail(name: string, params: ParamFields): Promise<void> {
    await this.client.request("action-fail", { path: this.path, name, ...params });
  }

  /** Adds a command to run when the action fails (`ham_action_fail_execute`). */
  failExecute(name: string, argv: string[]): Promise<void> {
    return this.#fail(name, actionParams.execute(argv));
  }

  /** Adds a wait to the action-fail list (`ham_action_fail_waitfor`). */
  failWaitfor(name: string, delayMs: number, pathname?: string | null): Promise<void> {
    return this.#fail(name, actionParams.waitfor(delayMs, pathname));
  }

  /** Adds a signal to the action-fail list (`ham_action_fail_notify_signal`). */
  failSignal(name: string, signal: string | number, pid?: number | null): Promise<void> {
    return this.#fail(name, actionParams.signal(signal, pid));
  }

  /** Adds a log message to the action-fail list (`ham_action_fail_log`). */
  failLog(name: string, message: string, opts: Omit<LogOptions, "flags"> = {}): Promise<void> {
    return this.#fail(name, actionParams.log(message, opts));
  }

  /** Adds a notification to the action-fail list (`ham_action_fail_notify_pulse`). */
  failNotify(name: string, channel: string, code: number, value: number): Promise<void> {
    return this.#fail(name, actionParams.notify(channel, code, value));
  }

  /** Removes an item of the action-fail list (`ham_action_fail_remove`). */
  async failRemove(name: string): Promise<void> {
    await this.client.request("action-fail-remove", { path: this.path, name });
  }

  /** Removes the action (`ham_action_remove`). */
  async remove(): Promise<void> {
    await this.client.request("action-remove", { path: this.path });
  }
}
