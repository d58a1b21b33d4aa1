/**
 * Roles and the verb each needs: `read` (status, events, wait, ping, subscribe), `report`
 * (heartbeat, state, raise, attach-self) and `admin` (everything else: anything that
 * changes the tree, runs a command or sends a signal). Each role includes the ones
 * before it. Remote clients (`ham --listen`) get a role from their certificate's CN.
 *
 * @module
 */

import type { Op } from "./protocol.ts";

/** A role, weakest first. */
export type Role = "read" | "report" | "admin";

/** Every role, weakest first. */
export const ROLES: readonly Role[] = ["read", "report", "admin"];

/** True when `value` names a role. */
export function isRole(value: unknown): value is Role {
  return ROLES.includes(value as Role);
}

const READ: readonly Op[] = ["hello", "ping", "status", "events", "wait", "subscribe"];
const REPORT: readonly Op[] = ["heartbeat", "state", "raise", "attach-self", "detach-self"];

/** The weakest role allowed to use verb `op`. */
export function roleNeeded(op: Op): Role {
  if (READ.includes(op)) return "read";
  if (REPORT.includes(op)) return "report";
  return "admin";
}

/** True when `role` may use verb `op`. */
export function roleAllows(role: Role, op: Op): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(roleNeeded(op));
}
