/**
 * Who may do what: the roles, the one table of the role each verb needs, and the policy
 * that grants roles to callers (by uid, by group, or by a TLS certificate's common name).
 *
 * Three roles, each including the one before it:
 *
 * - `read`: look (`status`, `events`, `subscribe`, `unsubscribe`, `wait`, `ping`, `policy`);
 * - `report`: what a supervised program says about itself (`heartbeat`, `state`, `raise`,
 *   `notify`, `attach-self` for its own process tree, `detach-self`);
 * - `admin`: everything else, including anything that runs a command or sends a signal.
 *
 * Root and the HAM's own uid are always `admin`; a policy file grants the others. A verb
 * missing from {@linkcode VERB_ROLES} needs `admin` ({@linkcode roleNeeded}).
 *
 * The policy file (`<state-dir>/policy`, or `ham --policy FILE`) has one grant per line,
 * `ROLE WHO`, where WHO is `uid:N`, `user:NAME`, `gid:N`, `group:NAME` or `cn:NAME`; `#`
 * starts a comment:
 *
 * ```
 * # ops may do anything, the app's workers report, monitoring looks
 * admin  group:ops
 * report user:app
 * read   group:monitoring
 * ```
 *
 * This module is pure: user and group names are resolved to numbers by the caller
 * (`lib/os/policy_file.ts`).
 *
 * @module
 */

import { HamError } from "./errors.ts";
import type { Op } from "./protocol.ts";

/** A role, from least to most: `read` < `report` < `admin`. */
export type Role = "read" | "report" | "admin";

/** The roles in increasing order. */
export const ROLES: readonly Role[] = ["read", "report", "admin"];

/** True when `value` names a role. */
export function isRole(value: unknown): value is Role {
  return ROLES.includes(value as Role);
}

/** What every caller may do, even one with no role: only say hello. */
export type VerbRole = Role | "anyone";

/**
 * The role each verb of the protocol needs: the one place that says so. Typed over every
 * verb, so a new verb does not compile until it has a row here.
 */
export const VERB_ROLES: Readonly<Record<Op, VerbRole>> = {
  hello: "anyone",
  ping: "read",
  status: "read",
  events: "read",
  subscribe: "read",
  unsubscribe: "read",
  wait: "read",
  policy: "read",
  heartbeat: "report",
  state: "report",
  raise: "report",
  notify: "report",
  "attach-self": "report",
  "detach-self": "report",
  attach: "admin",
  // Only looks, but at the HAM's filesystem as the HAM sees it: for those who may attach.
  "check-attach": "admin",
  entity: "admin",
  detach: "admin",
  condition: "admin",
  "condition-remove": "admin",
  action: "admin",
  "action-remove": "admin",
  "action-fail": "admin",
  "action-fail-remove": "admin",
  control: "admin",
  verbose: "admin",
  stop: "admin",
  kill: "admin",
  restart: "admin",
  list: "read",
  metrics: "read",
};

/**
 * Requests that a verb's own role would over-protect, checked as a verb of their own (see
 * {@linkcode verbOf}): `control`'s get-flags reads what `status` shows, so it needs what
 * `status` needs.
 */
const LOOKS: Readonly<Record<string, VerbRole>> = { "control get-flags": "read" };

/**
 * The verb a request is checked as: its `op`, except for the few requests of an admin verb
 * that only look (`control get-flags`).
 */
export function verbOf(req: { op: string; command?: unknown }): string {
  return req.op === "control" && req.command === "get-flags" ? "control get-flags" : req.op;
}

/** The role `verb` needs; an unknown verb needs `admin`. */
export function roleNeeded(verb: string): VerbRole {
  if (Object.hasOwn(VERB_ROLES, verb)) return VERB_ROLES[verb as Op];
  return Object.hasOwn(LOOKS, verb) ? LOOKS[verb] : "admin";
}

/** Who is asking: a local caller's peer credentials, or a remote node's certificate name. */
export interface Identity {
  uid?: number;
  gid?: number;
  /** Every group of the caller (its primary one included when known). */
  groups?: readonly number[];
  pid?: number;
  /** The common name of a client TLS certificate (remote callers). */
  cn?: string;
}

/** One grant: `role` to every caller matching `who`. */
export interface Grant {
  role: Role;
  who:
    | { kind: "uid"; id: number }
    | { kind: "gid"; id: number }
    | { kind: "cn"; name: string };
  /** How it was written (`user:alice`), for `hamctl policy`. */
  source: string;
}

/** The effective policy: the uids that are always admin, and the grants of the file. */
export interface Policy {
  /** Root and the HAM's own uid. */
  adminUids: readonly number[];
  grants: readonly Grant[];
  /** Where the grants came from (a path), or null when there is no policy file. */
  file: string | null;
}

/** The default policy: root and `hamUid` are admin, nobody else may do anything. */
export function defaultPolicy(hamUid: number): Policy {
  return { adminUids: [...new Set([0, hamUid])], grants: [], file: null };
}

function rank(role: Role): number {
  return ROLES.indexOf(role);
}

/** The highest of two roles (null is no role). */
function higher(a: Role | null, b: Role): Role {
  return a === null || rank(b) > rank(a) ? b : a;
}

/**
 * The higher of two roles, either of which may be none (null): a remote caller has the
 * higher of the role its certificate was given (`--tls-role`) and the policy's.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { higherRole } from "./policy.ts";
 *
 * assert.equal(higherRole("read", "admin"), "admin");
 * assert.equal(higherRole(null, "report"), "report");
 * assert.equal(higherRole(null, null), null);
 * ```
 */
export function higherRole(a: Role | null, b: Role | null): Role | null {
  return b === null ? a : higher(a, b);
}

/** The role `policy` gives `identity`, or null when it gives none. */
export function roleFor(policy: Policy, identity: Identity): Role | null {
  if (identity.uid !== undefined && policy.adminUids.includes(identity.uid)) return "admin";
  let role: Role | null = null;
  for (const g of policy.grants) {
    const w = g.who;
    const match = w.kind === "uid"
      ? identity.uid === w.id
      : w.kind === "gid"
      ? identity.gid === w.id || (identity.groups?.includes(w.id) ?? false)
      : identity.cn !== undefined && identity.cn === w.name;
    if (match) role = higher(role, g.role);
  }
  return role;
}

/** True when `role` (null: none) may use `verb`. */
export function allowed(verb: string, role: Role | null): boolean {
  const needed = roleNeeded(verb);
  if (needed === "anyone") return true;
  return role !== null && rank(role) >= rank(needed);
}

/** True when `role` may use `verb` (the argument order of the remote transport's check). */
export function roleAllows(role: Role, verb: string): boolean {
  return allowed(verb, role);
}

/** Describes a caller for messages and audit events: `uid 1001 pid 4242`. */
export function describeIdentity(identity: Identity): string {
  const parts: string[] = [];
  if (identity.cn !== undefined) parts.push(`cn "${identity.cn}"`);
  if (identity.uid !== undefined) parts.push(`uid ${identity.uid}`);
  if (identity.pid !== undefined) parts.push(`pid ${identity.pid}`);
  return parts.length > 0 ? parts.join(" ") : "an unknown caller";
}

/**
 * Throws `EPERM` naming the verb and the role it needs unless `role` allows `verb`.
 *
 * @example
 * ```ts
 * import { checkAllowed } from "./policy.ts";
 * checkAllowed("status", "read", { uid: 1001 }); // allowed: returns
 * ```
 */
export function checkAllowed(verb: string, role: Role | null, identity: Identity): void {
  if (allowed(verb, role)) return;
  throw new HamError(
    "EPERM",
    `Permission denied: "${verb}" needs the ${roleNeeded(verb)} role; ${
      describeIdentity(identity)
    } has ${role === null ? "no role" : `the ${role} role`}`,
  );
}

/** A grant as written, before user and group names are resolved to numbers. */
export interface GrantLine {
  role: Role;
  kind: "uid" | "user" | "gid" | "group" | "cn";
  value: string;
  line: number;
}

const WHO_KINDS = ["uid", "user", "gid", "group", "cn"] as const;

/**
 * Parses the text of a policy file into its grants; throws `EINVAL` naming the line of
 * the first error.
 */
export function parsePolicyText(text: string, name = "policy"): GrantLine[] {
  const grants: GrantLine[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].replace(/#.*$/, "").trim();
    if (line === "") continue;
    const bad = (why: string) =>
      new HamError("EINVAL", `Invalid ${name} line ${i + 1} "${line}": ${why}`);
    const words = line.split(/\s+/);
    if (words.length !== 2) throw bad("expected ROLE WHO (for example: read group:monitoring)");
    const [role, who] = words;
    if (!ROLES.includes(role as Role)) throw bad(`unknown role "${role}" (read, report, admin)`);
    const colon = who.indexOf(":");
    const kind = who.slice(0, colon) as GrantLine["kind"];
    const value = who.slice(colon + 1);
    if (colon < 0 || !WHO_KINDS.includes(kind) || value === "") {
      throw bad(`expected WHO as uid:N, user:NAME, gid:N, group:NAME or cn:NAME`);
    }
    if ((kind === "uid" || kind === "gid") && !/^\d{1,10}$/.test(value)) {
      throw bad(`"${value}" is not a number`);
    }
    grants.push({ role: role as Role, kind, value, line: i + 1 });
  }
  return grants;
}

/** The effective policy as text, one line per rule (what `hamctl policy` prints). */
export function formatPolicy(policy: Policy): string {
  const lines = [`# ${policy.file === null ? "no policy file" : `policy file ${policy.file}`}`];
  for (const uid of policy.adminUids) lines.push(`admin uid:${uid}  # always`);
  for (const g of policy.grants) {
    const id = g.who.kind === "cn" ? g.who.name : g.who.id;
    const resolved = `${g.who.kind}:${id}`;
    lines.push(`${g.role} ${g.source}${resolved === g.source ? "" : `  # ${resolved}`}`);
  }
  return lines.join("\n");
}
