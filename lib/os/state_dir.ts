import { DEFAULTS } from "../core/defaults.ts";
/**
 * Where a HAM keeps its socket, lock, journal, log and status mirror: the state
 * directory, and the well-known paths inside it.
 *
 * @module
 */

/**
 * Resolves the state directory. The first of these wins:
 *
 * 1. `explicit` (the `--state-dir` flag);
 * 2. the `HAM_STATE_DIR` environment variable;
 * 3. `$XDG_RUNTIME_DIR/ham`;
 * 4. `/run/ham` when running as root;
 * 5. `/tmp/ham-<uid>`.
 *
 * Empty values are skipped. Reading the environment needs `--allow-env`.
 *
 * @example
 * ```ts
 * import { resolveStateDir } from "./state_dir.ts";
 * console.log(resolveStateDir("/var/tmp/ham-test")); // "/var/tmp/ham-test"
 * ```
 */
export function resolveStateDir(explicit?: string): string {
  if (explicit) return explicit;
  const fromEnv = Deno.env.get("HAM_STATE_DIR");
  if (fromEnv) return fromEnv;
  const runtime = Deno.env.get("XDG_RUNTIME_DIR");
  if (runtime) return `${runtime.replace(/\/+$/, "")}/ham`;
  const uid = Deno.uid();
  if (uid === 0) return DEFAULTS.rootStateDir;
  return DEFAULTS.userStateDir.replace("<uid>", String(uid ?? "unknown"));
}

/** The control socket: `<dir>/ham.sock`. */
export function socketPath(dir: string): string {
  return `${dir}/ham.sock`;
}

/** The lock the running HAM holds: `<dir>/ham.lock`. */
export function lockPath(dir: string): string {
  return `${dir}/ham.lock`;
}

/** The plain-file mirror of the status tree (the `/proc/ham` of ham): `<dir>/status`. */
export function statusDir(dir: string): string {
  return `${dir}/status`;
}

/** The activity log: `<dir>/ham.log`. */
export function logPath(dir: string): string {
  return `${dir}/${DEFAULTS.logFileName}`;
}
