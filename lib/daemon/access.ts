/**
 * Access control of the control socket: every request is checked against the policy
 * with the caller's peer credentials (from the kernel, never from what the client says),
 * and every accepted change and every refusal is an `audit` event naming the caller's uid
 * and pid, so `hamctl events` answers "who did this".
 *
 * Beyond roles: `attach-self` may only claim the caller's own pid or a descendant of it;
 * `attach --pid` and `signal --pid` may not target a protected pid (1, the HAM, its
 * Guardian, the HAM's ancestors), nor a thread that does not lead its process (`kill()` of
 * its id would signal the whole process: one of the HAM's own threads, say).
 *
 * @module
 */

import { HamError } from "../core/errors.ts";
import {
  checkAllowed,
  describeIdentity,
  formatPolicy,
  higherRole,
  type Identity,
  type Policy,
  type Role,
  roleFor,
  roleNeeded,
  verbOf,
} from "../core/policy.ts";
import type { Op, Request, Results } from "../core/protocol.ts";
import type { EncodedJson } from "../core/status_answer.ts";
import { ancestorsOf, threadGroupOf } from "../os/proc.ts";
import type { EventHub } from "./event_hub.ts";
import type { Connection, RequestHandler } from "./server.ts";

/** What the access check needs from the HAM. */
export interface AccessContext {
  /** The effective policy (read at each request: it may be reloaded). */
  policy(): Policy;
  hub: EventHub;
  /** The pid of this HAM. */
  hamPid: number;
  /** The pid of its Guardian, when one runs. */
  guardianPid(): number | null;
}

/**
 * The caller of a connection: a local one by its peer credentials, a remote one by its
 * certificate's CN (none of either: trusted with nothing).
 */
export function identityOf(conn: Connection): Identity {
  const p = conn.credentials;
  const cn = conn.peer.identity;
  return {
    ...(p === null ? {} : { uid: p.uid, gid: p.gid, groups: p.groups, pid: p.pid }),
    ...(cn === null ? {} : { cn }),
  };
}

/**
 * The role of a connection's caller: the policy's, or for a remote caller the higher of the
 * policy's (`cn:` grants) and the one its certificate was given (`ham --tls-role`).
 */
export function roleOf(policy: Policy, conn: Connection): Role | null {
  return higherRole(roleFor(policy, identityOf(conn)), conn.peer.role);
}

/** Why `pid` may not be attached or signalled, or null when it may. */
export function protectedPidReason(
  pid: number,
  ctx: Pick<AccessContext, "hamPid" | "guardianPid">,
): string | null {
  if (pid === 1) return "pid 1 is init";
  if (pid === ctx.hamPid) return `pid ${pid} is the HAM`;
  if (pid === ctx.guardianPid()) return `pid ${pid} is the HAM's Guardian`;
  if (ancestorsOf(ctx.hamPid).includes(pid)) return `pid ${pid} is an ancestor of the HAM`;
  return null;
}

function entityOf(req: Request): string {
  if ("entity" in req && typeof req.entity === "string") return req.entity;
  if ("path" in req && req.path !== null && typeof req.path === "object") return req.path.entity;
  return "";
}

/** The pid a request would attach or signal, when it names one. */
function targetPid(req: Request): number | null {
  if (req.op === "attach") return req.pid;
  if ((req.op === "action" || req.op === "action-fail") && req.params.kind === "signal") {
    return req.params.pid;
  }
  return null;
}

/**
 * A verb whose success gets no audit event: looking (read verbs, and `check-attach`, which
 * only looks), and what a program reports about itself that is an event already (`state`,
 * `raise`) or is not recorded (`heartbeat`). Every other accepted verb changes what the
 * HAM does, and is audited.
 */
function quiet(op: string): boolean {
  const role = roleNeeded(op);
  return role === "read" || role === "anyone" || op === "heartbeat" || op === "state" ||
    op === "raise" || op === "check-attach";
}

/** What `policy` answers `conn`: the effective policy, and the role it gives its caller. */
export function policyView(policy: Policy, conn: Connection): Results["policy"] {
  return {
    role: roleOf(policy, conn),
    text: formatPolicy(policy),
    adminUids: [...policy.adminUids],
    grants: policy.grants.map((g) => ({ role: g.role, source: g.source })),
    file: policy.file,
  };
}

/** Wraps `inner` so that each request is checked and audited before it runs. */
export function guard(inner: RequestHandler, ctx: AccessContext): RequestHandler {
  const audit = (req: Request, id: Identity, outcome: string, extra: Record<string, unknown>) =>
    ctx.hub.publish({
      type: "audit",
      entity: entityOf(req),
      detail: { verb: req.op, outcome, uid: id.uid ?? null, pid: id.pid ?? null, ...extra },
    });

  return async function checked(
    req: Request,
    conn: Connection,
  ): Promise<Results[Op] | EncodedJson> {
    const identity = identityOf(conn);
    const policy = ctx.policy();
    const role = roleOf(policy, conn);
    const refuse = (err: HamError): never => {
      audit(req, identity, "refused", { role, reason: err.message });
      throw err;
    };
    try {
      checkAllowed(verbOf(req), role, identity);
    } catch (err) {
      refuse(err as HamError);
    }
    if (req.op === "attach-self") checkOwnTree(req.pid, identity, req.entity, refuse);
    // A named subscriber's place in its channel is kept for it: moving it is not looking.
    if (req.op === "subscribe" && req.subscriber != null && role === "read") {
      refuse(
        new HamError(
          "EPERM",
          `Permission denied: "subscribe" as a named subscriber ("${req.subscriber}") needs the report role; ${
            describeIdentity(identity)
          } has the read role`,
        ),
      );
    }
    conn.mayNameCommands = role === "admin";
    const pid = targetPid(req);
    if (pid !== null) {
      // A thread id names its whole process to kill(): the HAM's own threads included.
      const process = threadGroupOf(pid);
      if (process !== null && process !== pid) {
        refuse(
          new HamError(
            "EINVAL",
            `Cannot ${req.op === "attach" ? "attach" : "signal"} pid ${pid}: ` +
              `pid ${pid} is a thread of process ${process}, not a process`,
          ),
        );
      }
      const why = protectedPidReason(pid, ctx);
      if (why !== null) {
        refuse(
          new HamError(
            "EPERM",
            `Cannot ${req.op === "attach" ? "attach" : "signal"} pid ${pid}: ${why} (protected)`,
          ),
        );
      }
    }
    const result = await inner(req, conn);
    if (!quiet(verbOf(req))) audit(req, identity, "accepted", { role });
    return result;
  };
}

function checkOwnTree(
  claimed: number,
  identity: Identity,
  entity: string,
  refuse: (err: HamError) => never,
): void {
  const caller = identity.pid;
  if (caller !== undefined && (claimed === caller || ancestorsOf(claimed).includes(caller))) return;
  refuse(
    new HamError(
      "EPERM",
      `Cannot self-attach entity "${entity}" as pid ${claimed}: it is not the caller (pid ${
        caller ?? "unknown"
      }) or a descendant of it`,
    ),
  );
}
