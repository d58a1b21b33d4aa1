/**
 * A cluster entity as etcd keeps it: declared once (`hamctl attach NAME --cluster -- CMD`
 * through any member), then edited through any member with the usual verbs (conditions,
 * actions, action-fail items, control). Its definition holds the attach request, the
 * placement list and every edit in order; the node that holds the entity replays them
 * into its local HAM. Edits are checked against a scratch state built from the
 * definition, with the same planners as local edits, so a bad one is refused on any node
 * with the same error.
 *
 * @module
 */

import { HamError } from "../core/errors.ts";
import { createState, type HamState } from "../core/model.ts";
import {
  type Plan,
  planAction,
  planActionFail,
  planActionFailRemove,
  planActionRemove,
  planCondition,
  planConditionRemove,
  planControl,
  planEntity,
} from "../core/operations.ts";
import type { Request } from "../core/protocol.ts";
import type { KillMode } from "../core/model.ts";
import { applyRecord } from "../core/reducer.ts";

/**
 * The attach request of a cluster entity (a command: a pid means nothing on another node;
 * no kill mode in a definition stored before kill modes: the default).
 */
export type ClusterAttach = Omit<Extract<Request, { op: "attach" }>, "id" | "pid" | "killMode"> & {
  argv: string[];
  killMode?: KillMode;
};

/** The verbs that edit an entity's conditions and actions. */
export type EditRequest = Extract<
  Request,
  {
    op:
      | "condition"
      | "condition-remove"
      | "action"
      | "action-remove"
      | "action-fail"
      | "action-fail-remove"
      | "control";
  }
>;

/** The ops of {@linkcode EditRequest}. */
export const EDIT_OPS: readonly string[] = [
  "condition",
  "condition-remove",
  "action",
  "action-remove",
  "action-fail",
  "action-fail-remove",
  "control",
];

/** True when `req` edits an entity's conditions or actions. */
export function isEdit(req: Request): req is EditRequest {
  return EDIT_OPS.includes(req.op);
}

/** A cluster entity's definition. */
export interface ClusterSpec {
  name: string;
  attach: ClusterAttach;
  /** The nodes it may run on, most preferred first; empty: any node. */
  placement: string[];
  /** The edits since the declaration, in order. */
  edits: EditRequest[];
}

/** Plans one edit against `state`; throws what the local HAM would. */
export function planEdit(state: HamState, req: EditRequest): Plan {
  switch (req.op) {
    case "condition":
      return planCondition(state, req);
    case "condition-remove":
      return planConditionRemove(state, req);
    case "action":
      return planAction(state, req);
    case "action-remove":
      return planActionRemove(state, req);
    case "action-fail":
      return planActionFail(state, req);
    case "action-fail-remove":
      return planActionFailRemove(state, req);
    case "control":
      return planControl(state, req);
  }
}

/** The state a definition describes (its entity as a placeholder with its tree). */
export function scratchState(spec: ClusterSpec): HamState {
  const state = createState();
  let seq = 0;
  const apply = (plan: Plan) => {
    for (const r of plan.records) applyRecord(state, { ...r, seq: ++seq });
  };
  apply(planEntity(state, { id: 0, op: "entity", entity: spec.name, flags: 0 }, 0));
  for (const edit of spec.edits) apply(planEdit(state, edit));
  return state;
}

/**
 * The state a definition describes, for showing it (`status NAME` on a node that does not
 * run it, `hamctl export`): the scratch state with the declaration's command, cwd,
 * environment, heartbeat and flags on its entity. Never journaled.
 */
export function definitionState(spec: ClusterSpec): HamState {
  const state = scratchState(spec);
  const entity = state.entities.get(spec.name)!;
  entity.argv = spec.attach.argv;
  entity.cwd = spec.attach.cwd;
  entity.env = spec.attach.env;
  entity.heartbeat = spec.attach.heartbeat;
  entity.flags |= spec.attach.flags;
  if (spec.attach.killMode) entity.killMode = spec.attach.killMode;
  return state;
}

/** Checks an edit against a definition and returns the definition with it and its result. */
export function withEdit(
  spec: ClusterSpec,
  req: EditRequest,
): { spec: ClusterSpec; result: unknown } {
  const plan = planEdit(scratchState(spec), req);
  return { spec: { ...spec, edits: [...spec.edits, { ...req, id: 0 }] }, result: plan.result };
}

/** Parses a stored definition; throws EIO for one that is not. */
export function parseSpec(name: string, text: string): ClusterSpec {
  try {
    const o = JSON.parse(text) as ClusterSpec;
    if (o.name === name && Array.isArray(o.attach?.argv) && Array.isArray(o.edits)) return o;
  } catch { /* below */ }
  throw new HamError("EIO", `Cannot read the cluster definition of "${name}" from etcd`);
}
