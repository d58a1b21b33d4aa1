import { DEFAULTS } from "../core/defaults.ts";
/**
 * Where a HAM keeps its socket, lock, journal, log and status mirror: the state
 * directory, and the well-known paths inside it.
 *
 * @module
 */

import { HamError, osReason } from "../core/errors.ts";

/**
 * Resolves the state directory. The first of these wins:
 *
 * 1. `explicit` (the `--state-dir` flag);
 * 2. the `HAM_STATE_DIR` environment variable;
 * 3. `/run/ham` when running as root;
 * 4. `$XDG_RUNTIME_DIR/ham`;
 * 5. `${XDG_STATE_HOME:-$HOME/.local/state}/ham`.
 *
 * Empty values are skipped. Every default is a place other users cannot write to (never
 * `/tmp`). `ham`, `hamctl` and `mod.ts` resolve it the same way. Reading the environment
 * needs `--allow-env`; the uid is read with `Deno.uid()` (`--allow-sys=uid`), else from
 * the owner of `$HOME`.
 *
 * @throws {HamError} `EINVAL` when none of these is set.
 *
 * @example
 * ```ts
 * import { resolveStateDir } from "./state_dir.ts";
 * console.log(resolveStateDir("/var/tmp/ham-test")); // "/var/tmp/ham-test"
 * ```
 */
export function resolveStateDir(explicit?: string): string {
  if (explicit) return explicit;
  const env = (name: string) => Deno.env.get(name) || undefined;
  const fromEnv = env("HAM_STATE_DIR");
  if (fromEnv) return fromEnv;
  const home = env("HOME");
  if (currentUid(home) === 0) return DEFAULTS.rootStateDir;
  const runtime = env("XDG_RUNTIME_DIR");
  if (runtime) return DEFAULTS.userStateDir.replace("$XDG_RUNTIME_DIR", trimSlashes(runtime));
  const state = env("XDG_STATE_HOME") ?? (home ? `${trimSlashes(home)}/.local/state` : undefined);
  if (state) {
    return DEFAULTS.userStateDirFallback.replace(
      "${XDG_STATE_HOME:-$HOME/.local/state}",
      trimSlashes(state),
    );
  }
  throw new HamError(
    "EINVAL",
    "Cannot choose a state directory: set --state-dir, HAM_STATE_DIR, XDG_RUNTIME_DIR or HOME",
  );
}

function trimSlashes(path: string): string {
  return path.replace(/\/+$/, "") || "/";
}

/** This process's uid: `Deno.uid()`, else the owner of `home` (no `--allow-sys=uid`). */
function currentUid(home: string | undefined): number | null {
  try {
    return Deno.uid();
  } catch {
    try {
      return home ? Deno.statSync(home).uid : null;
    } catch {
      return null;
    }
  }
}

/** Why a state directory (or a file in it) cannot be trusted, or null when it can. */
export function stateDirProblem(
  info: { uid: number | null; mode: number | null; isDirectory: boolean },
  uid: number,
): string | null {
  if (!info.isDirectory) return "it is not a directory";
  if (info.uid !== null && info.uid !== uid) {
    return `it is owned by uid ${info.uid}, not by this HAM's uid ${uid}`;
  }
  if (info.mode !== null && (info.mode & 0o022) !== 0) {
    const who = [(info.mode & 0o020) ? "its group" : "", (info.mode & 0o002) ? "others" : ""];
    return `it is writable by ${who.filter((w) => w).join(" and ")} (mode ${
      (info.mode & 0o7777).toString(8).padStart(4, "0")
    }): run chmod go-w on it`;
  }
  return null;
}

/**
 * Makes sure `dir` is a state directory only this process's user can change: creates it
 * (mode 0700, and its missing parents 0700) when it does not exist; refuses one that is
 * not a directory, is owned by another uid, or is writable by its group or others, and a
 * symbolic link that someone else planted.
 *
 * @throws {HamError} `EPERM` naming the directory and what is wrong with it.
 */
export function prepareStateDir(dir: string): void {
  const uid = Deno.uid() ?? 0;
  const refuse = (why: string) =>
    new HamError("EPERM", `Cannot use state directory "${dir}": ${why}`);
  let link: Deno.FileInfo;
  try {
    link = Deno.lstatSync(dir);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw refuse(osReason(err));
    try {
      Deno.mkdirSync(dir, { recursive: true, mode: DEFAULTS.stateDirMode });
      link = Deno.lstatSync(dir);
    } catch (err) {
      throw refuse(`cannot create it: ${osReason(err)}`);
    }
  }
  if (link.isSymlink && link.uid !== uid && link.uid !== 0) {
    throw refuse(`it is a symbolic link owned by uid ${link.uid}`);
  }
  const info = link.isSymlink ? Deno.statSync(dir) : link;
  const problem = stateDirProblem(info, uid);
  if (problem !== null) throw refuse(problem);
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

/** The policy file: `<dir>/policy`. */
export function policyPath(dir: string): string {
  return `${dir}/${DEFAULTS.policyFileName}`;
}
