/**
 * Pure planning of the tree-editing operations: checks a request against the state and
 * returns the records that carry it out, or throws a {@linkcode HamError} naming the
 * problem. Nothing is changed here, so a refused request never half-applies.
 *
 * @module
 */

import { HamError } from "./errors.ts";
import {
  flagNames,
  HACTIONDONOW,
  HCONDNOWAIT,
  HCONDSTATEFROMINV,
  HCONDSTATEFROMSET,
  HCONDSTATETOINV,
  HCONDSTATETOSET,
  HREARMAFTERRESTART,
  type ItemType,
} from "./flags.ts";
import { getAction, getCondition, getEntity, getItem, type HamState } from "./model.ts";
import { formatPath, GLOBAL_ENTITY } from "./names.ts";
import type { Op, RequestOf, Results } from "./protocol.ts";
import type { RecordBody } from "./records.ts";

/** What an operation changes and what it answers. */
export interface Plan<O extends Op = Op> {
  /** The records that carry it out (none: nothing changes). */
  records: RecordBody[];
  /** The answer, once the records are durable. */
  result: Results[O];
}

const STATE_FLAGS = HCONDSTATEFROMSET | HCONDSTATETOSET | HCONDSTATEFROMINV | HCONDSTATETOINV;

/** Plans a placeholder entity (`ham_entity`). */
export function planEntity(state: HamState, req: RequestOf<"entity">, at: number): Plan<"entity"> {
  if (state.entities.has(req.entity)) {
    throw new HamError("EEXIST", `Cannot create entity "${req.entity}": it already exists`);
  }
  return {
    records: [{ t: "entity", entity: req.entity, flags: req.flags, at }],
    result: { entity: req.entity },
  };
}

/** Plans adding a condition (`ham_condition`, `ham_condition_state`, `ham_condition_raise`). */
export function planCondition(state: HamState, req: RequestOf<"condition">): Plan<"condition"> {
  const { entity, condition } = req.path as { entity: string; condition: string };
  const path = formatPath(req.path);
  const e = getEntity(state, entity);
  if (e.conditions.has(condition)) {
    throw new HamError("EEXIST", `Cannot add condition "${path}": it already exists`);
  }
  if ((req.flags & STATE_FLAGS) !== 0 && req.type !== "state") {
    throw new HamError(
      "EINVAL",
      `Cannot add condition "${path}": set flags apply only to state conditions`,
    );
  }
  checkInverted(req.flags, `Cannot add condition "${path}"`);
  const match = req.type === "state"
    ? { from: req.from, to: req.to }
    : req.type === "raise"
    ? { rtype: req.rtype, rclass: req.rclass, rseverity: req.rseverity }
    : null;
  return {
    records: [{ t: "cond-add", entity, condition, type: req.type, flags: req.flags, match }],
    result: { path },
  };
}

/** Throws EINVAL when a state condition's word inverts a side without making it a set. */
function checkInverted(flags: number, what: string): void {
  for (
    const [inv, set, side] of [
      [HCONDSTATEFROMINV, HCONDSTATEFROMSET, "from"],
      [HCONDSTATETOINV, HCONDSTATETOSET, "to"],
    ] as const
  ) {
    if ((flags & inv) !== 0 && (flags & set) === 0) {
      throw new HamError(
        "EINVAL",
        `${what}: ${side}-inv inverts a set of states, and ${side}-set is not given`,
      );
    }
  }
}

/** Plans removing a condition and all its actions. */
export function planConditionRemove(
  state: HamState,
  req: RequestOf<"condition-remove">,
): Plan<"condition-remove"> {
  const { entity, condition } = req.path as { entity: string; condition: string };
  getCondition(state, entity, condition);
  return {
    records: [{ t: "cond-remove", entity, condition }],
    result: { path: formatPath(req.path) },
  };
}

function isDeathType(type: string): boolean {
  return type === "death" || type === "abnormal-death";
}

/** Plans adding an action; QNX 7.1 rules for restart, waitfor, do-now and rearm defaults. */
export function planAction(state: HamState, req: RequestOf<"action">): Plan<"action"> {
  const { entity, condition, action } = req.path as Required<typeof req.path>;
  const path = formatPath(req.path);
  const e = getEntity(state, entity);
  const c = getCondition(state, entity, condition);
  if (c.actions.some((a) => a.name === action)) {
    throw new HamError("EEXIST", `Cannot add action "${path}": it already exists`);
  }
  const kind = req.params.kind;
  let flags = req.flags;
  if (kind === "restart") {
    if (!isDeathType(c.type)) {
      throw new HamError(
        "EINVAL",
        `Cannot add action "${path}": a restart belongs on a death or abnormal-death condition, not "${c.type}"`,
      );
    }
    for (const other of e.conditions.values()) {
      const clash = isDeathType(other.type) &&
        other.actions.find((a) => a.params.kind === "restart");
      if (clash) {
        throw new HamError(
          "EEXIST",
          `Cannot add action "${path}": entity "${entity}" already has restart action "${entity}/${other.name}/${clash.name}"`,
        );
      }
    }
    if (flags & HACTIONDONOW) {
      throw new HamError("EINVAL", `Cannot add action "${path}": a restart cannot be do-now`);
    }
  }
  if (kind === "waitfor" && (c.flags & HCONDNOWAIT)) {
    throw new HamError(
      "EINVAL",
      `Cannot add action "${path}": condition "${entity}/${condition}" is nowait and the action is a waitfor`,
    );
  }
  // QNX 7.1: actions are re-armed by default except in death conditions.
  if (!isDeathType(c.type)) flags |= HREARMAFTERRESTART;
  return {
    records: [{ t: "action-add", entity, condition, action, flags, params: req.params }],
    result: { path },
  };
}

/** Plans removing an action (and its action-fail list). */
export function planActionRemove(
  state: HamState,
  req: RequestOf<"action-remove">,
): Plan<"action-remove"> {
  const { entity, condition, action } = req.path as Required<typeof req.path>;
  getAction(state, entity, condition, action);
  return {
    records: [{ t: "action-remove", entity, condition, action, auto: false }],
    result: { path: formatPath(req.path) },
  };
}

/** Plans adding an item to an action's action-fail list. */
export function planActionFail(
  state: HamState,
  req: RequestOf<"action-fail">,
): Plan<"action-fail"> {
  const { entity, condition, action } = req.path as Required<typeof req.path>;
  const a = getAction(state, entity, condition, action);
  if (a.fails.some((f) => f.name === req.name)) {
    throw new HamError(
      "EEXIST",
      `Cannot add action-fail "${req.name}" to "${formatPath(req.path)}": it already exists`,
    );
  }
  // A nowait condition waits for nothing: its actions' fail lists run on its lane too.
  const c = getCondition(state, entity, condition);
  if (req.params.kind === "waitfor" && (c.flags & HCONDNOWAIT)) {
    throw new HamError(
      "EINVAL",
      `Cannot add action-fail "${req.name}" to "${
        formatPath(req.path)
      }": condition "${entity}/${condition}" is nowait and the item is a waitfor`,
    );
  }
  return {
    records: [{ t: "fail-add", entity, condition, action, name: req.name, params: req.params }],
    result: { path: formatPath(req.path), name: req.name },
  };
}

/** Plans removing an item from an action-fail list. */
export function planActionFailRemove(
  state: HamState,
  req: RequestOf<"action-fail-remove">,
): Plan<"action-fail-remove"> {
  const { entity, condition, action } = req.path as Required<typeof req.path>;
  const a = getAction(state, entity, condition, action);
  if (!a.fails.some((f) => f.name === req.name)) {
    throw new HamError(
      "ENOENT",
      `Cannot find action-fail "${req.name}" of "${formatPath(req.path)}"`,
    );
  }
  return {
    records: [{ t: "fail-remove", entity, condition, action, name: req.name }],
    result: { path: formatPath(req.path) },
  };
}

function itemType(req: RequestOf<"control">): ItemType {
  return req.path.action !== undefined
    ? "action"
    : req.path.condition !== undefined
    ? "condition"
    : "entity";
}

/** Plans `ham_*_control`: enable/disable (optionally recursive) and the flag commands. */
export function planControl(state: HamState, req: RequestOf<"control">): Plan<"control"> {
  const item = getItem(state, req.path);
  const type = itemType(req);
  const path = formatPath(req.path);
  const answer = (enabled: boolean, flags: number) => ({
    path,
    enabled,
    flags,
    flagNames: flagNames(type, flags),
  });
  switch (req.command) {
    case "enable":
    case "disable": {
      const enabled = req.command === "enable";
      return {
        records: [{ t: "enable", path: req.path, enabled, recurse: req.recurse }],
        result: answer(enabled, item.flags),
      };
    }
    case "get-flags":
      return { records: [], result: answer(item.enabled, item.flags) };
    default: {
      const flags = req.command === "add-flags"
        ? item.flags | req.flags
        : req.command === "remove-flags"
        ? item.flags & ~req.flags
        : req.flags;
      if (type === "action" && (flags & HACTIONDONOW) && !(item.flags & HACTIONDONOW)) {
        throw new HamError("EINVAL", `Cannot set flag do-now on action "${path}" through control`);
      }
      if (type === "condition" && (flags & HCONDNOWAIT) && "actions" in item) {
        if (
          item.actions.some((a) =>
            a.params.kind === "waitfor" || a.fails.some((f) => f.params.kind === "waitfor")
          )
        ) {
          throw new HamError(
            "EINVAL",
            `Cannot set flag nowait on condition "${path}": it holds a waitfor action`,
          );
        }
      }
      if (
        type === "condition" && (flags & STATE_FLAGS) && "type" in item && item.type !== "state"
      ) {
        throw new HamError(
          "EINVAL",
          `Cannot set state flags on condition "${path}": it is a ${item.type} condition`,
        );
      }
      // The same word a new condition may hold (an -inv flag needs its -set flag).
      if (type === "condition") checkInverted(flags, `Cannot set flags on condition "${path}"`);
      return {
        records: flags === item.flags ? [] : [{ t: "flags", path: req.path, flags }],
        result: answer(item.enabled, flags),
      };
    }
  }
}

/** Plans `ham_verbose`: levels are clamped to 0–9. */
export function planVerbose(state: HamState, req: RequestOf<"verbose">): Plan<"verbose"> {
  const current = state.verbosity;
  const next = req.command === "set"
    ? Math.max(0, Math.min(9, req.value))
    : req.command === "incr"
    ? Math.min(9, current + 1)
    : req.command === "decr"
    ? Math.max(0, current - 1)
    : current;
  return {
    records: next === current ? [] : [{ t: "verbosity", value: next }],
    result: { verbosity: next },
  };
}

/** True when an entity name may be detached (the global entity cannot). */
export function checkDetachable(state: HamState, name: string): void {
  if (name === GLOBAL_ENTITY) {
    throw new HamError("EINVAL", `Cannot detach the global entity`);
  }
  getEntity(state, name);
}
