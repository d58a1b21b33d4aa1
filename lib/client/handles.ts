/**
 * Handles on the items of the HAM's tree, as in libham: name-based references to an
 * entity, a condition or an action, with a method per `ham_*` call made on them. They
 * hold no state in the HAM: an item that has gone since gives ENOENT when used.
 *
 * @module
 */

import type { HamClient } from "./client.ts";
import { type ConditionType, type ItemType, parseFlags } from "../core/flags.ts";
import type { RestartPolicy } from "../core/model.ts";
import type {
  ActionFields,
  ControlCommand,
  ControlResult,
  FlagsInput,
  RaiseFields,
  Requests,
  StateResult,
} from "../core/protocol.ts";
import {
  actionParams,
  type LogFields,
  raiseFields,
  stateField,
  type StateSpec,
} from "../core/requests.ts";

/**
 * Options of {@linkcode EntityHandle.conditionState}.
 *
 * @example
 * ```ts
 * import type { StateConditionOptions } from "./handles.ts";
 *
 * // Fires when the entity leaves state 1 or 2 for any state but 0.
 * const opts: StateConditionOptions = { from: { set: [1, 2] }, to: { set: [0], invert: true } };
 * console.log(JSON.stringify(opts.to)); // {"set":[0],"invert":true}
 * ```
 */
export interface StateConditionOptions {
  /** The state left: a state, or a set of states. @default {0 (any)} */
  from?: StateSpec;
  /** The state entered: a state, or a set of states. @default {0 (any)} */
  to?: StateSpec;
  /** Condition flags; the set and invert flags are added from `from` and `to`. */
  flags?: FlagsInput;
}

/**
 * Options of the calls that add an action.
 *
 * @example
 * ```ts
 * import type { ActionOptions } from "./handles.ts";
 *
 * // Kept across restarts, and the rest of the list stops when it fails.
 * const opts: ActionOptions = { flags: ["rearm", "break-on-fail"] };
 * console.log(opts.flags); // ["rearm", "break-on-fail"]
 * ```
 */
export interface ActionOptions {
  /** Action flags: `rearm`, `do-now`, `break-on-fail`, `keep-on-fail`. @default {0} */
  flags?: FlagsInput;
}

/**
 * Options of {@linkcode ConditionHandle.restart}.
 *
 * @example
 * ```ts
 * import type { RestartOptions } from "./handles.ts";
 *
 * // Restart with a safe-mode command, backing off from 100 ms, at most 3 times a minute.
 * const opts: RestartOptions = {
 *   flags: ["rearm"],
 *   argv: ["/usr/sbin/httpd", "--safe-mode"],
 *   policy: { backoffMs: 100, intensity: 3, windowMs: 60_000 },
 * };
 * console.log(opts.policy?.intensity); // 3
 * ```
 */
export interface RestartOptions extends ActionOptions {
  /** The command to restart with. @default {the entity's own command} */
  argv?: string[];
  /** Restart-storm protection; absent fields take the HAM's defaults. @default {none} */
  policy?: Partial<RestartPolicy>;
}

/**
 * Options of {@linkcode ConditionHandle.log}.
 *
 * @example
 * ```ts
 * import type { LogOptions } from "./handles.ts";
 *
 * // Logged without the item's path, only at verbosity 2 or more.
 * const opts: LogOptions = { prefix: false, verbosity: 2, flags: ["rearm"] };
 * console.log(opts.verbosity); // 2
 * ```
 */
export interface LogOptions extends ActionOptions, LogFields {}

/**
 * What the handles share: the path, the client, and the control calls.
 *
 * @example
 * ```ts
 * import type { ItemHandle } from "./handles.ts";
 *
 * // Disables an item and everything under it, then says whether it is enabled.
 * export async function pause(item: ItemHandle): Promise<boolean> {
 *   await item.control("disable", 0, { recurse: true });
 *   return (await item.control("get-flags")).enabled; // false
 * }
 * ```
 */
export abstract class ItemHandle {
  /** The item's path: `entity`, `entity/condition` or `entity/condition/action`. */
  readonly path: string;
  /** The connection requests go through. */
  protected readonly client: HamClient;
  readonly #item: ItemType;

  /** Makes a handle on the item of type `item` at `path`; no request is sent. */
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
    return this.client.request("control", {
      path: this.path,
      command,
      flags: parseFlags(this.#item, flags),
      recurse: opts.recurse ?? false,
    });
  }
}

/**
 * A handle on an entity (`ham_entity_t`); the global entity is `@global`.
 *
 * @example
 * ```ts
 * import type { EntityHandle } from "./handles.ts";
 *
 * // Restarts the entity whenever it dies, and after a published state 3 → 4.
 * export async function keepUp(web: EntityHandle): Promise<void> {
 *   const death = await web.condition("death", "death", { flags: ["rearm"] });
 *   await death.restart("restart", { flags: ["rearm"] });
 *   const bad = await web.conditionState("bad", { from: 3, to: 4 });
 *   await bad.restart("restart");
 * }
 * ```
 */
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

  async #addCondition(
    name: string,
    fields: Omit<Requests["condition"], "path">,
  ): Promise<ConditionHandle> {
    const path = `${this.path}/${name}`;
    await this.client.request("condition", { path, ...fields });
    return new ConditionHandle(this.client, path);
  }

  /** Adds a condition of `type` (`ham_condition`). */
  condition(
    name: string,
    type: ConditionType,
    opts: { flags?: FlagsInput } = {},
  ): Promise<ConditionHandle> {
    return this.#addCondition(name, { type, flags: parseFlags("condition", opts.flags) });
  }

  /** Adds a condition on published state transitions (`ham_condition_state`). */
  conditionState(name: string, opts: StateConditionOptions = {}): Promise<ConditionHandle> {
    const from = stateField(opts.from, "from");
    const to = stateField(opts.to, "to");
    const flags = parseFlags("condition", opts.flags) | from.flags | to.flags;
    return this.#addCondition(name, { type: "state", flags, from: from.value, to: to.value });
  }

  /** Adds a condition on raised conditions (`ham_condition_raise`). */
  conditionRaise(
    name: string,
    opts: RaiseFields & { flags?: FlagsInput } = {},
  ): Promise<ConditionHandle> {
    const flags = parseFlags("condition", opts.flags);
    return this.#addCondition(name, { type: "raise", flags, ...raiseFields(opts) });
  }

  /** Publishes the entity's new state (`ham_entity_condition_state`). */
  publishState(to: number): Promise<StateResult> {
    return this.client.request("state", { entity: this.path, to });
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

/**
 * A handle on a condition (`ham_condition_t`).
 *
 * @example
 * ```ts
 * import type { ConditionHandle } from "./handles.ts";
 *
 * // When the condition fires: log, wait up to 2 s for a pid file, then restart.
 * export async function recover(death: ConditionHandle): Promise<void> {
 *   await death.log("note", "web died", { flags: ["rearm"] });
 *   await death.waitfor("settle", 2000, "/run/web.pid", { flags: ["rearm"] });
 *   await death.restart("restart", { flags: ["rearm"], policy: { backoffMs: 100 } });
 * }
 * ```
 */
export class ConditionHandle extends ItemHandle {
  /** Makes a handle on `entity/condition`; no request is sent. */
  constructor(client: HamClient, path: string) {
    super(client, path, "condition");
  }

  async #add(name: string, params: ActionFields, opts: ActionOptions): Promise<ActionHandle> {
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

  /**
   * Adds an action that spawns a command and waits for it (`ham_action_execute`); a
   * non-zero exit fails it, and so does running past `opts.timeoutMs` (0: no limit; absent:
   * `DEFAULTS.executeTimeoutMs`, 90 s), after which the command and what it forked are
   * ended (SIGTERM, then SIGKILL) and the action fails with ETIMEDOUT.
   *
   * @example
   * ```ts
   * import type { ConditionHandle } from "./handles.ts";
   *
   * // Given 30 s to page someone, kept across restarts.
   * export async function page(death: ConditionHandle): Promise<void> {
   *   await death.execute("page", ["/usr/local/bin/page-oncall"], {
   *     timeoutMs: 30_000,
   *     flags: ["rearm"],
   *   });
   * }
   * ```
   */
  execute(
    name: string,
    argv: string[],
    opts: ActionOptions & { timeoutMs?: number } = {},
  ): Promise<ActionHandle> {
    return this.#add(name, actionParams.execute(argv, opts.timeoutMs), opts);
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

  /**
   * Adds an action notifying the subscribers of `channel` on another node: this HAM hands
   * it to the HAM of `node` (by its name in the nodes file, over mutual TLS); a failure to
   * reach it fails the action (`ham_action_notify_pulse_node`).
   */
  notifyNode(
    name: string,
    node: string,
    channel: string,
    code: number,
    value: number,
    opts: ActionOptions = {},
  ): Promise<ActionHandle> {
    return this.#add(name, actionParams.notifyNode(node, channel, code, value), opts);
  }

  /**
   * Adds an action signalling the process of `entity` on another node, through that node's
   * HAM (`ham_action_notify_signal_node`).
   */
  signalNode(
    name: string,
    node: string,
    entity: string,
    signal: string | number,
    opts: ActionOptions = {},
  ): Promise<ActionHandle> {
    return this.#add(name, actionParams.signalNode(node, entity, signal), opts);
  }

  /** Removes the condition and its actions (`ham_condition_remove`). */
  async remove(): Promise<void> {
    await this.client.request("condition-remove", { path: this.path });
  }
}

/**
 * A handle on an action (`ham_action_t`), with its action-fail list.
 *
 * @example
 * ```ts
 * import type { ActionHandle } from "./handles.ts";
 *
 * // When the restart fails: page someone and write a log line.
 * export async function escalate(restart: ActionHandle): Promise<void> {
 *   await restart.failExecute("page", ["/usr/local/bin/page-oncall", "web"]);
 *   await restart.failLog("note", "restarting web failed");
 * }
 * ```
 */
export class ActionHandle extends ItemHandle {
  /** Makes a handle on `entity/condition/action`; no request is sent. */
  constructor(client: HamClient, path: string) {
    super(client, path, "action");
  }

  async #fail(name: string, params: ActionFields): Promise<void> {
    await this.client.request("action-fail", { path: this.path, name, ...params });
  }

  /**
   * Adds a command to run when the action fails (`ham_action_fail_execute`), given
   * `opts.timeoutMs` as {@linkcode ConditionHandle.execute}'s command is.
   */
  failExecute(
    name: string,
    argv: string[],
    opts: { timeoutMs?: number } = {},
  ): Promise<void> {
    return this.#fail(name, actionParams.execute(argv, opts.timeoutMs));
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
  failLog(name: string, message: string, opts: LogFields = {}): Promise<void> {
    return this.#fail(name, actionParams.log(message, opts));
  }

  /** Adds a notification to the action-fail list (`ham_action_fail_notify_pulse`). */
  failNotify(name: string, channel: string, code: number, value: number): Promise<void> {
    return this.#fail(name, actionParams.notify(channel, code, value));
  }

  /** Adds a notification on another node to the action-fail list (`ham_action_fail_notify_pulse_node`). */
  failNotifyNode(
    name: string,
    node: string,
    channel: string,
    code: number,
    value: number,
  ): Promise<void> {
    return this.#fail(name, actionParams.notifyNode(node, channel, code, value));
  }

  /** Adds a signal to an entity of another node to the action-fail list (`ham_action_fail_notify_signal_node`). */
  failSignalNode(
    name: string,
    node: string,
    entity: string,
    signal: string | number,
  ): Promise<void> {
    return this.#fail(name, actionParams.signalNode(node, entity, signal));
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
