/**
 * The roles, as the remote transport (`ham --listen`, `--tls-role CN=ROLE`) and the
 * control server use them: re-exported from the one verb→role table of
 * `lib/core/policy.ts`, where each role and the verbs it allows are defined.
 *
 * @module
 */

export { isRole, type Role, roleAllows, roleNeeded, ROLES, verbOf } from "./policy.ts";
