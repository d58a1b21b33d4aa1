/**
 * The `wait` request: until an entity is running, dead, restarted or detached, or a
 * condition of a type fires on it; with `since`, an event already past counts too.
 *
 * @module
 */

import { HamError } from "../core/errors.ts";
import type { HamState } from "../core/model.ts";
import type { Request } from "../core/protocol.ts";
import type { HamEvent, WaitResult } from "../core/requests.ts";
import type { EventHub } from "./event_hub.ts";

type WaitRequest = Extract<Request, { op: "wait" }>;

function reached(state: HamState, req: WaitRequest): boolean {
  const e = state.entities.get(req.entity);
  if (req.for === "running") return e !== undefined && e.pid !== null;
  if (req.for === "detached") return e === undefined;
  if (req.for === "dead") return e === undefined || e.pid === null;
  return false;
}

function matches(req: WaitRequest, ev: HamEvent): boolean {
  if (ev.entity !== req.entity) return false;
  switch (req.for) {
    case "running":
      return ev.type === "attach" || ev.type === "restart" || ev.type === "follow";
    case "dead":
      return ev.type === "death" || ev.type === "remove";
    case "restarted":
      return ev.type === "restart";
    case "detached":
      return ev.type === "remove" || ev.type === "detach";
    default:
      return ev.type === "condition" && ev.detail?.event === req.for;
  }
}

/** Answers a `wait` request; ETIMEDOUT when nothing matched in time. */
export async function waitFor(
  state: HamState,
  hub: EventHub,
  req: WaitRequest,
): Promise<WaitResult> {
  if (req.since !== null) {
    const past = hub.since(req.since, req.entity).find((ev) => matches(req, ev));
    if (past) return { entity: req.entity, reached: req.for, seq: past.seq };
  } else if (reached(state, req)) {
    return { entity: req.entity, reached: req.for, seq: null };
  }
  const ev = await hub.waitFor((e) => matches(req, e), req.timeoutMs);
  if (!ev) {
    throw new HamError(
      "ETIMEDOUT",
      `Timed out after ${req.timeoutMs} ms waiting for entity "${req.entity}" to be ${req.for}`,
    );
  }
  return { entity: req.entity, reached: req.for, seq: ev.seq };
}
