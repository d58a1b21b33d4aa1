/**
 * Builds an entity/condition/action tree in a store through the real planners, so tests
 * get exactly the records (and the QNX 7.1 defaults) that a request would produce.
 *
 * @module
 */

import type { ConditionType } from "../../lib/core/flags.ts";
import type { ActionParams } from "../../lib/core/model.ts";
import { parsePath } from "../../lib/core/names.ts";
import {
  type Plan,
  planAction,
  planActionFail,
  planCondition,
  planControl,
  planEntity,
} from "../../lib/core/operations.ts";
import type { ControlCommand, Request } from "../../lib/core/protocol.ts";
import type { MemoryStore } from "./memory_store.ts";

/** A request of one verb. */
export type Req<K extends Request["op"]> = Extract<Request, { op: K }>;

/** Match fields of a state or raise condition (absent = 0 = any). */
export interface MatchFields {
  from?: number;
  to?: number;
  rtype?: number;
  rclass?: number;
  rseverity?: number;
}

/** A `condition` request. */
export function conditionReq(
  path: string,
  type: ConditionType,
  flags = 0,
  m: MatchFields = {},
): Req<"condition"> {
  return {
    id: 1,
    op: "condition",
    path: parsePath(path, 2),
    type,
    flags,
    from: m.from ?? 0,
    to: m.to ?? 0,
    rtype: m.rtype ?? 0,
    rclass: m.rclass ?? 0,
    rseverity: m.rseverity ?? 0,
  };
}

/** An `action` request. */
export function actionReq(path: string, params: ActionParams, flags = 0): Req<"action"> {
  return { id: 1, op: "action", path: parsePath(path, 3), flags, params };
}

/** An `action-fail` request. */
export function failReq(path: string, name: string, params: ActionParams): Req<"action-fail"> {
  return { id: 1, op: "action-fail", path: parsePath(path, 3), name, params };
}

/** A `control` request. */
export function controlReq(
  path: string,
  command: ControlCommand,
  flags = 0,
  recurse = false,
): Req<"control"> {
  return { id: 1, op: "control", path: parsePath(path, "any"), command, flags, recurse };
}

/** Action parameter builders. */
export const P = {
  exec: (...argv: string[]): ActionParams => ({ kind: "execute", argv }),
  waitfor: (delayMs: number, pathname: string | null = null): ActionParams => ({
    kind: "waitfor",
    delayMs,
    pathname,
  }),
  restart: (argv: string[] | null = null): ActionParams => ({
    kind: "restart",
    argv,
    policy: null,
  }),
  signal: (signal: number, pid: number | null = null): ActionParams => ({
    kind: "signal",
    pid,
    signal,
  }),
  log: (message: string, verbosity = 1): ActionParams => ({
    kind: "log",
    message,
    prefix: true,
    verbosity,
  }),
  healthy: (): ActionParams => ({ kind: "heartbeat-healthy" }),
  notify: (channel: string, code = 1, value = 2): ActionParams => ({
    kind: "notify",
    channel,
    code,
    value,
  }),
};

/** Edits the tree of a {@linkcode MemoryStore} through the planners. */
export class Tree {
  #store: MemoryStore;

  constructor(store: MemoryStore) {
    this.#store = store;
  }

  #apply(plan: Plan): void {
    void this.#store.commit(plan.records);
  }

  /** Adds a placeholder entity. */
  entity(name: string, flags = 0): this {
    this.#apply(planEntity(this.#store.state, { id: 1, op: "entity", entity: name, flags }, 0));
    return this;
  }

  /** Adds a condition at `entity/condition`. */
  condition(path: string, type: ConditionType, flags = 0, m: MatchFields = {}): this {
    this.#apply(planCondition(this.#store.state, conditionReq(path, type, flags, m)));
    return this;
  }

  /** Adds an action at `entity/condition/action`. */
  action(path: string, params: ActionParams, flags = 0): this {
    this.#apply(planAction(this.#store.state, actionReq(path, params, flags)));
    return this;
  }

  /** Adds an item to the action-fail list of `entity/condition/action`. */
  fail(path: string, name: string, params: ActionParams): this {
    this.#apply(planActionFail(this.#store.state, failReq(path, name, params)));
    return this;
  }

  /** Runs a control command. */
  control(path: string, command: ControlCommand, flags = 0, recurse = false): this {
    this.#apply(planControl(this.#store.state, controlReq(path, command, flags, recurse)));
    return this;
  }
}
