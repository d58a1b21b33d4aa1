/**
 * Maps each protocol verb onto the planner (pure checks + records) or the engine
 * (effects). Tree edits are planned against the current state, journaled (fsync'd)
 * and only then acknowledged.
 *
 * @module
 */

import type { Engine, Store } from "../engine/engine.ts";
import { HamError } from "../core/errors.ts";
import type { EventHub } from "./event_hub.ts";
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
import type { HamEvent, Op, RequestOf, Results } from "../core/protocol.ts";
import type { Connection, RequestHandler } from "./server.ts";
import { type HamInfo, statusView } from "../core/status_view.ts";
import { getEntity } from "../core/model.ts";
import { listRows } from "../core/list_view.ts";
import { processStartedAt } from "../os/proc.ts";
import { DEFAULTS } from "../core/defaults.ts";

/** What the handler works with. */
export interface HandlerContext {
  store: Store;
  engine: Engine;
  hub: EventHub;
  info(): HamInfo;
  /** Starts an orderly stop after the response is sent. */
  stop(): void;
  /** Called after every change, to refresh the status files. */
  changed(): void;
}

/** A handler of one operation: gets its decoded request and answers the contract's result. */
export type Handler<O extends Op> = (
  req: RequestOf<O>,
  conn: Connection,
) => Results[O] | Promise<Results[O]>;

/** A handler for every operation of the contract. */
export type Handlers = { [O in Op]: Handler<O> };

/** Creates the request handler for the control server. */
export function createHandler(ctx: HandlerContext): RequestHandler {
  const apply = async <O extends Op>(plan: Plan<O>): Promise<Results[O]> => {
    if (plan.records.length > 0) {
      await ctx.store.commit(plan.records);
      ctx.changed();
    }
    return plan.result;
  };
  const changed = <T>(r: T): T => {
    ctx.changed();
    return r;
  };
  const state = () => ctx.store.state;
  const now = () => ctx.engine.clock.now();

  const handlers: Handlers = {
    hello: () => {
      throw new HamError("EPROTO", "Already greeted");
    },
    ping: () => ({ pong: true }),
    attach: async (req) => changed(await ctx.engine.attach({ ...req, kind: "attached" })),
    "attach-self": async (req, conn) => {
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
      return changed(r);
    },
    entity: (req) => apply(planEntity(state(), req, now())),
    detach: async (req) => {
      checkDetachable(state(), req.entity);
      return changed(await ctx.engine.detach(req.entity));
    },
    "detach-self": async (req, conn) => {
      if (!conn.selfEntities.has(req.entity)) {
        getEntity(state(), req.entity);
        throw new HamError(
          "EINVAL",
          `Cannot detach entity "${req.entity}": it was not self-attached on this connection`,
        );
      }
      conn.selfEntities.delete(req.entity);
      return changed(await ctx.engine.detach(req.entity));
    },
    condition: (req) => apply(planCondition(state(), req)),
    "condition-remove": (req) => apply(planConditionRemove(state(), req)),
    action: async (req) => {
      const result = await apply(planAction(state(), req));
      if (req.flags & HACTIONDONOW) {
        const { entity, condition, action } = req.path as Required<typeof req.path>;
        ctx.engine.runNow(entity, condition, action);
      }
      return result;
    },
    "action-remove": (req) => apply(planActionRemove(state(), req)),
    "action-fail": (req) => apply(planActionFail(state(), req)),
    "action-fail-remove": (req) => apply(planActionFailRemove(state(), req)),
    control: (req) => apply(planControl(state(), req)),
    verbose: (req) => apply(planVerbose(state(), req)),
    stop: () => {
      ctx.stop();
      return { stopping: true };
    },
    status: (req) => statusView(state(), req.path, ctx.info()),
    heartbeat: (req, conn) => ctx.engine.heartbeat(req.entity ?? ownSelfEntity(conn), now()),
    state: async (req) => changed(await ctx.engine.publishState(req.entity, req.to)),
    raise: (req) =>
      ctx.engine.raise(req.entity, {
        rtype: req.rtype,
        rclass: req.rclass,
        rseverity: req.rseverity,
      }),
    wait: (req) => waitFor(ctx, req),
    events: (req) => {
      const events = ctx.hub.since(req.since, req.entity, req.limit);
      return { events, next: events.at(-1) ? events.at(-1)!.seq + 1 : ctx.hub.nextSeq };
    },
    subscribe: (req, conn) => subscribe(ctx, req, conn),
    kill: (req) => ctx.engine.kill(req.entity, req.signal),
    restart: (req) => ctx.engine.restartEntity(req.entity, DEFAULTS.restartStopTimeoutMs),
    list: () => ({
      entities: listRows(state(), (e) => processStartedAt(e.startTime), Date.now()),
    }),
  };

  return async (req, conn) => await dispatch(handlers, req as RequestOf<typeof req.op>, conn);
}

/** Runs the handler of the request's operation. */
function dispatch<O extends Op>(
  handlers: Handlers,
  req: RequestOf<O>,
  conn: Connection,
): Results[O] | Promise<Results[O]> {
  return (handlers[req.op as O] as Handler<O>)(req, conn);
}

function ownSelfEntity(conn: Connection): string {
  const first = conn.selfEntities.values().next();
  if (first.done) {
    throw new HamError("EINVAL", "Cannot heartbeat: name an entity or self-attach first");
  }
  return first.value;
}

type WaitRequest = RequestOf<"wait">;

function reached(ctx: HandlerContext, req: WaitRequest): boolean {
  const e = ctx.store.state.entities.get(req.entity);
  if (req.pid !== null) return e !== undefined && e.pid !== null && e.pid !== req.pid;
  if (req.for === "running") return e !== undefined && e.pid !== null;
  if (req.for === "detached") return e === undefined;
  if (req.for === "dead") return e === undefined || e.pid === null;
  return false;
}

function matches(req: WaitRequest, ev: HamEvent): boolean {
  if (ev.entity !== req.entity) return false;
  if (req.pid !== null) {
    const pid = ev.detail?.pid;
    return ["attach", "restart", "follow", "reattach"].includes(ev.type) && pid !== req.pid;
  }
  switch (req.for) {
    case "running":
      return ev.type === "attach" || ev.type === "restart" || ev.type === "follow";
    case "dead":
      return ev.type === "death" || ev.type === "remove";
    case "restarted":
      return ev.type === "restart";
    case "detached":
      return ev.type === "remove" || (ev.type === "detach");
    default:
      return ev.type === "condition" && ev.detail?.event === req.for;
  }
}

async function waitFor(ctx: HandlerContext, req: WaitRequest): Promise<Results["wait"]> {
  if (req.pid !== null && req.for !== "restarted" && req.for !== "running") {
    throw new HamError(
      "EINVAL",
      `Cannot wait for "${req.for}" with a pid: only restarted or running`,
    );
  }
  if (req.pid !== null) {
    // The state answers first (at once if the entity already runs with another pid).
    getEntity(ctx.store.state, req.entity);
    if (reached(ctx, req)) return { entity: req.entity, reached: req.for, seq: null };
  } else if (req.since !== null) {
    const past = ctx.hub.since(req.since, req.entity).find((ev) => matches(req, ev));
    if (past) return { entity: req.entity, reached: req.for, seq: past.seq };
  } else if (reached(ctx, req)) {
    return { entity: req.entity, reached: req.for, seq: null };
  }
  const ev = await ctx.hub.waitFor((e) => matches(req, e), req.timeoutMs);
  if (!ev) {
    throw new HamError(
      "ETIMEDOUT",
      `Timed out after ${req.timeoutMs} ms waiting for entity "${req.entity}" to be ${req.for}`,
    );
  }
  return { entity: req.entity, reached: req.for, seq: ev.seq };
}

function subscribe(
  ctx: HandlerContext,
  req: RequestOf<"subscribe">,
  conn: Connection,
): Results["subscribe"] {
  const { channel, entity } = req;
  const wanted = (ev: HamEvent) =>
    channel !== null
      ? ev.type === "notify" && ev.detail?.channel === channel
      : entity === null || ev.entity === entity;
  // A channel subscriber without a position gets what its channel has not delivered yet.
  const since = req.since ?? (channel !== null ? ctx.hub.delivered(channel) + 1 : ctx.hub.nextSeq);
  if (since < ctx.hub.oldestSeq) {
    conn.send({ push: { type: "lagged", from: since, oldest: ctx.hub.oldestSeq } });
  }
  const deliver = (ev: HamEvent) => {
    conn.send({ push: { type: "event", event: ev } });
    if (channel !== null) ctx.hub.markDelivered(channel, ev.seq);
  };
  for (const ev of ctx.hub.since(since)) if (wanted(ev)) deliver(ev);
  const stop = ctx.hub.listen((ev) => {
    if (!wanted(ev)) return;
    if (conn.queuedBytes > DEFAULTS.maxSubscriberBacklogBytes) {
      // Never drop silently: say where to resume from, and stop this subscription.
      stop();
      conn.send({ push: { type: "lagged", from: ev.seq, oldest: ctx.hub.oldestSeq } });
      return;
    }
    deliver(ev);
  });
  conn.onClose.push(stop);
  return { since };
}

/** The notify action's delivery: an event on the channel, kept until delivered. */
export function notifier(hub: EventHub) {
  return (channel: string, message: Record<string, unknown>): boolean => {
    hub.publish({
      type: "notify",
      entity: String(message.entity ?? ""),
      condition: String(message.condition ?? ""),
      action: String(message.action ?? ""),
      detail: { channel, code: message.code, value: message.value },
    });
    return true;
  };
}
