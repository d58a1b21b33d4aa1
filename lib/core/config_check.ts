/**
 * A config file checked as the HAM would check it, before any of it is applied: every
 * entity's creation requests decoded by the HAM's request decoder and planned, in order, on
 * a scratch state by the HAM's own planners. A file the HAM would refuse half-way (a
 * restart on a state condition, two restarts of one entity, an `env` key with `=`, an
 * empty command) is refused whole, naming its key; `ham --config` starts nothing and
 * `hamctl apply --dry-run` says so.
 *
 * @module
 */

import { ConfigError, creationRequests, type EntitySpec } from "./config.ts";
import { HamError } from "./errors.ts";
import { createState, type HamState } from "./model.ts";
import { planAction, planActionFail, planCondition, planEntity } from "./operations.ts";
import type { Request } from "./protocol.ts";
import type { RecordBody } from "./records.ts";
import { applyRecord } from "./reducer.ts";
import { decodeRequest } from "./request_decoder.ts";

/** The records of `req` on `state`, as the HAM plans them (an attach: its entity). */
function planned(state: HamState, req: Request): RecordBody[] {
  switch (req.op) {
    case "entity":
      return planEntity(state, req, 0).records;
    case "attach":
      // The process is the HAM's to start; what its conditions need is the entity.
      return planEntity(state, { ...req, op: "entity" }, 0).records;
    case "condition":
      return planCondition(state, req).records;
    case "action":
      return planAction(state, req).records;
    case "action-fail":
      return planActionFail(state, req).records;
    default:
      return [];
  }
}

/**
 * Throws a {@linkcode ConfigError} at the key of the first request of `entities` the HAM
 * would refuse, were they all created on an empty HAM.
 */
export function checkConfig(entities: EntitySpec[]): void {
  const state = createState();
  let seq = 0;
  for (const e of entities) {
    for (const { op, tolerate: _, key, ...fields } of creationRequests(e)) {
      try {
        const req = decodeRequest(JSON.stringify({ id: 1, op, ...fields }));
        for (const body of planned(state, req)) applyRecord(state, { ...body, seq: ++seq });
      } catch (err) {
        if (!(err instanceof HamError)) throw err;
        throw new ConfigError(key ?? ["entities", e.name], err.message);
      }
    }
  }
}
