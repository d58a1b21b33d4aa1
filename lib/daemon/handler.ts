/**
 * Request dispatch: maps each protocol verb onto the planner (pure checks + records), the
 * engine (effects), or the event stream (`waits.ts` for `wait`, `subscriptions.ts` for
 * `subscribe` and `unsubscribe`). Tree edits are planned against the current state, journaled (fsync'd)
 * and only then acknowledged.
 *
 * @module
 */

import type { Engine, Store } from "../engine/engine.ts";
import { HamError } from "../core/errors.ts";
import type { EventHub } from "./event_hub.ts";
import { collectEvents } from "./event_reader.ts";
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
import type { Op, RequestOf, Results } from "../core/protocol.ts";
import type { Connection, RequestHandler } from "./server.ts";
import { type HamInfo, statusView } from "../core/status_view.ts";
import type { EncodedJson, StatusAnswer } from "../core/status_answer.ts";
import { getEntity } from "../core/model.ts";
import { listRows } from "../core/list_view.ts";
import { FSYNC_BUCKETS, Histogram, renderMetrics } from "../core/metrics.ts";
import { processStartedAt } from "../os/proc.ts";
import { checkSpawnable } from "../os/spawner.ts";
import { DEFAULTS } from "../core/defaults.ts";
import type { BeatSlots } from "./beat_slots.ts";

/** What the handler works with. */
export interface HandlerContext {
  store: Store;
  engine: Engine;
  hub: EventHub;
  /** Subscriptions to the event stream. */
  subscriptions: Subscriptions;
  info(): HamInfo;
  /** Starts an orderly stop after the response is sent. */
  stop(): void;
  /** Called after every change, to refresh the status files. */
  changed(): void;
  /** The effective access policy, and the role it gives the caller of `conn`. */
  policy(conn: Connection): Results["policy"];
  /** Durations of the journal's fdatasyncs, for `metrics`. @default an empty histogram */
  fsync?: Histogram;
  /**
   * The full status answer kept rendered (told of every change by the daemon); without it
   * each full status is built, stringified and encoded whole. @default none
   */
  statusAnswer?: StatusAnswer;
  /** Hands out heartbeat slots; without it, `slot` is answered null. @default none */
  beatSlots?: BeatSlots;
}

/**
 * A handler of one operation: gets its decoded request and answers the contract's result
 * (or, for a full `status`, its bytes: {@linkcode EncodedJson}).
 */
export type Handler<O extends Op> = (
  req: RequestOf<O>,
  conn: Connection,
) => Answer<O> | Promise<Answer<O>>;

/** What a handler answers: the contract's result, or a full status already encoded. */
type Answer<O extends Op> = O extends "status" ? Results[O] | EncodedJson : Results[O];

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
  /**
   * The connection each self-attached entity is held by: the last to self-attach it. A
   * process that self-attaches again on another connection moves it there, so the end of
   * the first connection is no longer its death.
   */
  const selfHolder = new Map<string, Connection>();
  /** The self-attached names whose end each connection already handles at its close. */
  const closeHandled = new WeakMap<Connection, Set<string>>();

  const handlers: Handlers = {
    hello: () => {
      throw new HamError("EPROTO", "Already greeted");
    },
    ping: () => ({ pong: true }),
    attach: async (req) => {
      // A clustered HAM routes declarations to its cluster node before they get here.
      if (req.cluster) {
        throw new HamError(
          "EINVAL",
          `Cannot declare cluster entity "${req.entity}": this HAM is not in a cluster ` +
            "(start it with --cluster URL --node-name NAME)",
        );
      }
      return changed(await ctx.engine.attach({ ...req, kind: "attached" }));
    },
    // The HAM's filesystem, as the spawn will see it: a client's may be another host's.
    "check-attach": (req) => ({
      entity: req.entity,
      path: checkSpawnable(req.argv, req.cwd, req.env),
    }),
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
        commandFromProc: conn.mayNameCommands,
        renew: req.renew,
      });
      const before = selfHolder.get(req.entity);
      if (before !== undefined && before !== conn) before.selfEntities.delete(req.entity);
      selfHolder.set(req.entity, conn);
      conn.selfEntities.add(req.entity);
      let handled = closeHandled.get(conn);
      if (handled === undefined) closeHandled.set(conn, handled = new Set());
      // Once per connection and name, however often the attachment moves back to it.
      if (!handled.has(req.entity)) {
        handled.add(req.entity);
        // The death of THIS process: by the time the connection's end is seen, the pidfd
        // may have reported it already and the entity been restarted with another pid.
        conn.onClose.push(() => {
          if (selfHolder.get(req.entity) === conn) selfHolder.delete(req.entity);
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
      if (selfHolder.get(req.entity) === conn) selfHolder.delete(req.entity);
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
    status: (req) =>
      req.path === null && ctx.statusAnswer
        ? ctx.statusAnswer.answer(state(), ctx.info())
        : statusView(state(), req.path, ctx.info()),
    heartbeat: (req, conn) => {
      const r = ctx.engine.heartbeat(req.entity ?? ownSelfEntity(conn), now());
      if (!req.slot) return r;
      return { ...r, slot: ctx.beatSlots?.grant(conn, r.entity) ?? null };
    },
    state: async (req) => changed(await ctx.engine.publishState(req.entity, req.to)),
    raise: (req) =>
      ctx.engine.raise(req.entity, {
        rtype: req.rtype,
        rclass: req.rclass,
        rseverity: req.rseverity,
      }),
    // Released at once when the connection closes.
    wait: (req, conn) => waitFor(ctx.store, ctx.hub, req, conn.signal),
    // Read a chunk of the log per turn: a 16 MiB log does not stall other clients.
    events: (req) =>
      collectEvents(ctx.hub, req.since, { entity: req.entity, channel: req.channel }, req.limit),
    subscribe: (req, conn) => ctx.subscriptions.subscribe(req, conn),
    unsubscribe: (req, conn) => ctx.subscriptions.unsubscribe(req, conn),
    kill: (req) => ctx.engine.kill(req.entity, req.signal),
    notify: (req, conn) => {
      const { channel, code, value, entity, condition, action } = req;
      // Who sent it: the certificate's identity of a remote caller, as the server saw it.
      const from = conn.peer.identity;
      const message = { code, value, entity, condition, action, ...(from ? { from } : {}) };
      if (!ctx.subscriptions.notify(channel, message)) {
        throw new HamError(
          "ENOENT",
          `Cannot notify channel "${channel}": no subscriber of it is connected and the ` +
            "channel cannot keep the notification (no durable event log, or its backlog is full)",
        );
      }
      return { channel };
    },
    restart: (req) => ctx.engine.restartEntity(req.entity, DEFAULTS.restartStopTimeoutMs),
    policy: (_req, conn) => ctx.policy(conn),
    list: () => ({
      entities: listRows(state(), (e) => processStartedAt(e.startTime), Date.now()),
    }),
    metrics: () => ({ text: renderMetrics(state(), ctx.fsync ?? new Histogram(FSYNC_BUCKETS)) }),
  };

  return async (req, conn) => await dispatch(handlers, req as RequestOf<typeof req.op>, conn);
}

/** Runs the handler of the request's operation. */
function dispatch<O extends Op>(
  handlers: Handlers,
  req: RequestOf<O>,
  conn: Connection,
): Answer<O> | Promise<Answer<O>> {
  return (handlers[req.op as O] as Handler<O>)(req, conn);
}

function ownSelfEntity(conn: Connection): string {
  const first = conn.selfEntities.values().next();
  if (first.done) {
    throw new HamError("EINVAL", "Cannot heartbeat: name an entity or self-attach first");
  }
  return first.value;
}
