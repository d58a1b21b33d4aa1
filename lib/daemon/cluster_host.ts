/**
 * The HAM's side of a cluster node: {@linkcode clusterHost} lets the node place, edit and
 * withdraw cluster entities in the local engine, and {@linkcode clusterRoutes} sends the
 * requests about cluster entities to the node (declarations, edits, detaches) and adds
 * where each runs to `status`.
 *
 * @module
 */

import type { ClusterHost, ClusterNode } from "../cluster/cluster_node.ts";
import { clusterAttach, NOT_DECLARED } from "../cluster/cluster_node.ts";
import { definitionState, isEdit, planEdit } from "../cluster/cluster_spec.ts";
import type { Engine } from "../engine/engine.ts";
import { planEntity } from "../core/operations.ts";
import { type HamView, statusView } from "../core/status_view.ts";
import { EncodedJson } from "../core/status_answer.ts";
import type { EventHub } from "./event_hub.ts";
import type { RequestHandler } from "./server.ts";
import type { Logger } from "../os/logger.ts";
import type { ListRow } from "../core/list_view.ts";
import type { Op, Results } from "../core/protocol.ts";
import type { ClusterEntityView } from "../cluster/cluster_node.ts";
import { HamError } from "../core/errors.ts";

/** `list` rows with the node of each cluster entity, and a row for those run elsewhere. */
function withNodes(rows: ListRow[], cluster: ClusterEntityView[]): ListRow[] {
  const where = new Map(cluster.map((e) => [e.name, e.node]));
  const out = rows.map((r) => where.has(r.name) ? { ...r, node: where.get(r.name)! } : r);
  for (const e of cluster) {
    if (rows.some((r) => r.name === e.name)) continue;
    out.push({
      name: e.name,
      pid: null,
      state: "remote",
      restarts: 0,
      deaths: 0,
      uptimeMs: null,
      lastExit: null,
      node: e.node,
    });
  }
  return out;
}

/** What the host works with. */
export interface ClusterHostContext {
  engine: Engine;
  hub: EventHub;
  log: Logger;
  /** Called after every change, to refresh the status files. */
  changed(): void;
}

/** The local HAM as a cluster node sees it. */
export function clusterHost(ctx: ClusterHostContext): ClusterHost {
  const { engine } = ctx;
  const commit = async (records: Parameters<Engine["write"]>[0]) => {
    if (records.length === 0) return;
    await engine.write(records).catch(() => {}); // Logged by the engine's journal.
    ctx.changed();
  };
  return {
    hasEntity: (name) => engine.state.entities.has(name),
    isRunning: (name) => (engine.state.entities.get(name)?.pid ?? null) !== null,
    async place(spec) {
      await engine.withdraw(spec.name);
      const entity = { id: 0, op: "entity" as const, entity: spec.name, flags: spec.attach.flags };
      await commit(planEntity(engine.state, entity, engine.clock.now()).records);
      for (const edit of spec.edits) await commit(planEdit(engine.state, edit).records);
      await engine.attach({ ...spec.attach, pid: null, kind: "attached" });
      ctx.changed();
    },
    async edit(_name, edits) {
      for (const edit of edits) await commit(planEdit(engine.state, edit).records);
    },
    async withdraw(name) {
      await engine.withdraw(name);
      ctx.changed();
    },
    async detach(name) {
      await engine.detach(name);
      ctx.changed();
    },
    publish: (type, entity, detail) => {
      ctx.hub.publish({ type, entity, detail });
      ctx.changed();
    },
    log: (level, message) => ctx.log.log(level, message),
  };
}

/**
 * Routes requests about cluster entities to `node`; the rest to `handler`. An edit of an
 * entity this HAM does not have is tried on the cluster first (it may have been declared
 * through another node a moment ago), and answered by `handler` when the cluster has none.
 */
export function clusterRoutes(
  node: ClusterNode,
  handler: RequestHandler,
  hasLocal: (name: string) => boolean,
): RequestHandler {
  // The cluster's answers have the shapes of the local ones (an attach declares, without a pid).
  const answer = (v: unknown) => v as Results[Op];
  return async (req, conn) => {
    if (req.op === "attach" && req.cluster) {
      if (hasLocal(req.entity)) {
        throw new HamError(
          "EEXIST",
          `Cannot declare cluster entity "${req.entity}": a local entity of that name exists ` +
            `on node "${node.name}"`,
        );
      }
      return answer(await node.declare(clusterAttach(req), req.cluster.placement));
    }
    if (
      (req.op === "attach" || req.op === "entity") && !hasLocal(req.entity) &&
      await node.isDeclared(req.entity)
    ) {
      throw new HamError(
        "EEXIST",
        `Cannot create local entity "${req.entity}": it is a cluster entity ` +
          `(attach it with --cluster, or detach it first)`,
      );
    }
    if (isEdit(req) && (node.isClusterEntity(req.path.entity) || !hasLocal(req.path.entity))) {
      const result = await node.edit(req.path.entity, req);
      if (result !== NOT_DECLARED) return answer(result);
    }
    if (
      req.op === "detach" &&
      (node.isClusterEntity(req.entity) ||
        (!hasLocal(req.entity) && await node.isDeclared(req.entity)))
    ) {
      return answer(await node.undeclare(req.entity));
    }
    if (req.op === "list") {
      const { entities } = await handler(req, conn) as { entities: ListRow[] };
      return answer({ entities: withNodes(entities, node.view().entities) });
    }
    if (req.op !== "status") return await handler(req, conn);
    const view = node.view();
    if (req.path === null) {
      const whole = await handler(req, conn);
      return whole instanceof EncodedJson
        ? whole.withField("cluster", view)
        : answer({ ...whole as HamView, cluster: view });
    }
    let where = view.entities.find((e) => e.name === req.path!.entity);
    let spec = where && node.spec(where.name);
    if (!where && !hasLocal(req.path.entity)) {
      // Declared through another member since this one last read the cluster's keys, maybe.
      const found = await node.lookup(req.path.entity);
      if (found) {
        where = { name: req.path.entity, node: found.node, placement: found.spec.placement };
        spec = found.spec;
      }
    }
    if (!where) return await handler(req, conn);
    const result = node.holds(where.name) || !spec
      ? await handler(req, conn)
      : statusView(definitionState(spec), req.path, { hamPid: 0, guardianPid: null, startedAt: 0 });
    return answer(
      req.path.condition === undefined
        ? { ...result as object, node: where.node, placement: where.placement }
        : result,
    );
  };
}
