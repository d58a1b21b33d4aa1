/**
 * Request dispatch: maps each protocol verb onto the planner (pure checks + records), the
 * engine (effects), or the event stream (`waits.ts`, `subscriptions.ts`). Tree edits are
 * planned against the current state, journaled (fsync'd) and only then acknowledged.
 *
 * @module
 */

import type { Engine, Store } from "../engine/engine.ts";
import { HamError } from "../core/errors.ts";
import type { EventHub } from "./event_hub.ts";
import type { Subscriptions } from "./subscriptions.ts";
import { waitFor } from "./waits.ts";
import { HACTIONDONOW } from "../core/flags.ts";
import {
  checkDetachable,
  type Plan,
  planAction,
  planActionFail,
  planActionFailRemove,
  planActionRemove,
  planCondition,
  planConditionRemove,
  planControl,
  planEntity,
  planVerbose,
} from "../core/operations.ts";
import type { Request } from "../core/protocol.ts";
import type { Connection } from "./server.ts";
import { type HamInfo, statusView } from "../core/status_view.ts";
import { getEntity } from "../core/model.ts";

/** What the handler works with. */
export interface HandlerContext {
  store: Store;
  engine: Engine;
  hub: EventHub;
  subscriptions: Subscriptions;
  info(): HamInfo;
  /** Starts an orderly stop after the response is sent. */
  stop(): void;
  /** Called after every change, to refresh the status files. */
  changed(): void;
}

/** Creates the request handler for the control server. */
export function createHandler(ctx: HandlerContext) {
  const apply = async (plan: Plan) => {
    if (plan.records.length > 0) {
      await ctx.store.commit(plan.records);
      ctx.changed();
    }
    return plan.result;
  };

  return async function handle(req: Request, conn: Connection): Promise<unknown> {
    const state = ctx.store.state;
    const now = ctx.engine.clock.now();
    switch (req.op) {
      case "hello":
        throw new HamError("EPROTO", "Already greeted");
      case "ping":
        return { pong: true };
      case "attach": {
        const r = await ctx.engine.attach({ ...req, kind: "attached" });
        ctx.changed();
        return r;
      }
      case "attach-self": {
        const r = await ctx.engine.attach({
          entity: req.entity,
          argv: null,
          pid: req.pid,
          cwd: null,
          env: null,
          flags: req.flags,
          heartbeat: req.heartbeat,
          kind: "self",
        });
        if (!conn.selfEntities.has(req.entity)) {
          conn.selfEntities.add(req.entity);
          // The death of THIS process: by the time the connection's end is seen, the pidfd
          // may have reported it already and the entity been restarted with another pid.
          conn.onClose.push(() => {
            if (conn.selfEntities.has(req.entity)) ctx.engine.connectionLost(req.entity, r.pid);
          });
        }
        ctx.changed();
        return r;
      }
      case "entity":
        return await apply(planEntity(state, req, now));
      case "detach": {
        checkDetachable(state, req.entity);
        const r = await ctx.engine.detach(req.entity);
        ctx.changed();
        return r;
      }
      case "detach-self": {
        if (!conn.selfEntities.has(req.entity)) {
          getEntity(state, req.entity);
          throw new HamError(
            "EINVAL",
            `Cannot detach entity "${req.entity}": it was not self-attached on this connection`,
          );
        }
        conn.selfEntities.delete(req.entity);
        const r = await ctx.engine.detach(req.entity);
        ctx.changed();
        return r;
      }
      case "condition":
        return await apply(planCondition(state, req));
      case "condition-remove":
        return await apply(planConditionRemove(state, req));
      case "action": {
        const result = await apply(planAction(state, req));
        if (req.flags & HACTIONDONOW) {
          const { entity, condition, action } = req.path as Required<typeof req.path>;
          ctx.engine.runNow(entity, condition, action);
        }
        return result;
      }
      case "action-remove":
        return await apply(planActionRemove(state, req));
      case "action-fail":
        return await apply(planActionFail(state, req));
      case "action-fail-remove":
        return await apply(planActionFailRemove(state, req));
      case "control":
        return await apply(planControl(state, req));
      case "verbose":
        return await apply(planVerbose(state, req));
      case "stop":
        ctx.stop();
        return { stopping: true };
      case "status":
        return statusView(state, req.path, ctx.info());
      case "heartbeat":
        return ctx.engine.heartbeat(req.entity ?? ownSelfEntity(conn), now);
      case "state": {
        const r = await ctx.engine.publishState(req.entity, req.to);
        ctx.changed();
        return r;
      }
      case "raise":
        return await ctx.engine.raise(req.entity, {
          rtype: req.rtype,
          rclass: req.rclass,
          rseverity: req.rseverity,
        });
      case "wait":
        return await waitFor(ctx.store.state, ctx.hub, req);
      case "events": {
        const events = ctx.hub.since(req.since, req.entity, req.limit, req.channel);
        return { events, next: events.at(-1) ? events.at(-1)!.seq + 1 : ctx.hub.nextSeq };
      }
      case "subscribe":
        return ctx.subscriptions.subscribe(req, conn);
    }
  };
}

function ownSelfEntity(conn: Connection): string {
  const first = conn.selfEntities.values().next();
  if (first.done) {
    throw new HamError("EINVAL", "Cannot heartbeat: name an entity or self-attach first");
  }
  return first.value;
}
