/**
 * Starting processes: entity processes (attach with a command, restart) and the commands
 * of `execute` actions. Every entity process gets `HAM_ENTITY` and a unique `HAM_SPAWN_ID`
 * in its environment, inherited by anything it forks, so the HAM can follow a command that
 * daemonizes (see `findDaemon`) and find what it left behind (see `leftovers.ts`). Each
 * entity process starts a session of its own (`setsid()`), so it leads its own process
 * group: its pgid is its pid.
 *
 * Entity processes are started with `posix_spawn()` (`posix_spawn.ts`: sub-millisecond,
 * where `Deno.Command`'s `detached` forks the whole daemon) and their exit status comes
 * from a {@linkcode ProcessWatcher} (pidfd, `waitid()`). Without one, or without FFI, they
 * fall back to `Deno.Command` with `detached` (and a `/bin/sh` that opens their output
 * FIFOs), whose child status promise gives the exit status. The commands of `execute`
 * actions always run through `Deno.Command`.
 *
 * @module
 */

import { HamError } from "../core/errors.ts";
import type { ExitStatus } from "../core/model.ts";
import { childrenOf, processStartTime, processStat, readEnviron } from "./proc.ts";
import { readDirNames } from "./proc_fs.ts";
import type { OutputPipes } from "./entity_output.ts";
import { collectExit, unknownStatus } from "./exit_status.ts";
import { libc, WAIT } from "./libc.ts";
import { cwdError, posixSpawn, posixSpawnAvailable } from "./posix_spawn.ts";
import { envBlock, spawnEnv, spawnVar } from "./spawn_env.ts";
import type { ProcessWatcher } from "./process_watcher.ts";

/** A process the HAM started. */
export interface SpawnedProcess {
  pid: number;
  startTime: string | null;
  /** Resolves when the process exits. */
  status: Promise<ExitStatus>;
  /**
   * Has `fn` called once with how the process ended: synchronously as the watcher learns of
   * it, for a process the HAM's watcher watches (see `Watch.onExit`); else when `status`
   * resolves.
   */
  onExit(fn: (status: ExitStatus) => void): void;
}

/** `onExit` of a process whose end is known only through `status`. */
function onStatus(status: Promise<ExitStatus>): SpawnedProcess["onExit"] {
  return (fn) => void status.then(fn);
}

/** How to start an entity process. */
export interface SpawnOptions {
  entity: string;
  spawnId: string;
  cwd: string | null;
  env: Record<string, string> | null;
  /** FIFOs for its stdout and stderr (see `entity_output.ts`). @default the HAM's own */
  output?: OutputPipes | null;
  /**
   * Hand the CPU to the new process as soon as it is started (`sched_yield()`), before the
   * HAM records and watches it: a restart's, whose latency counts. A child starts on its
   * parent's CPU, and waits there while the parent runs on (measured: a parent busy for
   * 400 µs after `posix_spawn()` delays its child's first instruction by ~400 µs, even
   * with the other CPU idle; with the yield, not at all). @default false
   */
  yieldCpu?: boolean;
}

/**
 * Pids of live children started through Deno (reaped by Deno itself): the zombie reaper
 * must never wait for them, or Deno would lose their status.
 */
export const denoChildren: Set<number> = new Set();

function register(child: Deno.ChildProcess): Promise<Deno.CommandStatus> {
  denoChildren.add(child.pid);
  return child.status.finally(() => denoChildren.delete(child.pid));
}

/** The environment variable carrying the spawn marker. */
export const SPAWN_ID_VAR = "HAM_SPAWN_ID";

/** A new unique spawn marker. */
export function newSpawnId(): string {
  return crypto.randomUUID();
}

function toExit(s: Deno.CommandStatus): ExitStatus {
  return s.signal !== null ? { code: null, signal: s.signal } : { code: s.code, signal: null };
}

function spawnError(argv: string[], err: unknown): HamError {
  const reason = err instanceof Deno.errors.NotFound
    ? "no such file"
    : err instanceof Deno.errors.PermissionDenied
    ? "permission denied"
    : err instanceof Deno.errors.NotADirectory
    ? "a component of its path is not a directory"
    : err instanceof Error
    ? err.message
    : String(err);
  const code = err instanceof Deno.errors.NotFound
    ? "ENOENT"
    : err instanceof Deno.errors.PermissionDenied
    ? "EACCES"
    : err instanceof Deno.errors.NotADirectory
    ? "ENOTDIR"
    : "EINVAL";
  return new HamError(code, `Cannot spawn "${argv[0]}": ${reason}`, { cause: err });
}

/**
 * Starts an entity process. With a `watcher` in pidfd mode (the HAM's), it is started by
 * `posix_spawn()` and watched (and reaped) by `watcher`; otherwise by `Deno.Command`.
 * Throws a {@linkcode HamError} when it cannot be started.
 */
export function spawnEntity(
  argv: string[],
  opts: SpawnOptions,
  watcher?: ProcessWatcher,
): SpawnedProcess {
  const env = { ...(opts.env ?? {}), HAM_ENTITY: opts.entity, [SPAWN_ID_VAR]: opts.spawnId };
  if (watcher?.mode === "pidfd" && posixSpawnAvailable()) {
    return spawnWatched(argv, env, opts, watcher);
  }
  const child = opts.output
    ? spawnRedirected(argv, env, opts.cwd, opts.output)
    : spawnChild(argv, env, opts.cwd, true);
  denoChildren.add(child.pid);
  let startTime: string | null = null;
  try {
    startTime = processStartTime(child.pid);
  } catch { /* unknown start time: pid checks fall back to the pid alone */ }
  const status = register(child).then(toExit);
  return { pid: child.pid, startTime, status, onExit: onStatus(status) };
}

/**
 * True for the policies whose tasks share a CPU by fairness (`SCHED_OTHER` 0, `SCHED_BATCH`
 * 3, `SCHED_IDLE` 5), where a yield hands the CPU to the new process for a slice at most.
 * False for the real-time and deadline ones (`SCHED_FIFO` 1, `SCHED_RR` 2, `SCHED_DEADLINE`
 * 6, a HAM run under `chrt` or systemd's `CPUSchedulingPolicy=`): there a new process that
 * inherited the policy and never blocks could keep the HAM off that CPU.
 */
export function yieldsFor(policy: number): boolean {
  return policy === 0 || policy === 3 || policy === 5;
}

let fair: boolean | undefined;

/** {@linkcode yieldsFor} this process's policy, read once. */
function fairlyScheduled(): boolean {
  fair ??= yieldsFor(libc().sched_getscheduler(0));
  return fair;
}

/** Starts an entity process with `posix_spawn()`; `watcher` reports (and reaps) its exit. */
function spawnWatched(
  argv: string[],
  env: Record<string, string>,
  opts: SpawnOptions,
  watcher: ProcessWatcher,
): SpawnedProcess {
  const path = resolveExecutable(argv[0], opts.cwd, spawnVar("PATH", env) ?? "/usr/bin:/bin");
  const pid = posixSpawn({
    path,
    argv,
    env: envBlock(env),
    cwd: opts.cwd,
    stdout: opts.output?.stdout ?? null,
    stderr: opts.output?.stderr ?? null,
  });
  if (opts.yieldCpu && fairlyScheduled()) libc().sched_yield();
  // Nothing reaps it before this watch: the zombie reaper runs from a timer, never within
  // this synchronous run, and leaves watched processes alone.
  const startTime = processStartTime(pid);
  try {
    const watch = watcher.watch(pid, startTime, { reap: true });
    const status = watch.exited.then((st) => st ?? new Promise<ExitStatus>(() => {}) // The watcher closed: the HAM is stopping.
    );
    return { pid, startTime, status, onExit: (fn) => watch.onExit(fn) };
  } catch {
    // Already a zombie (it exited at once): collect it here.
    const status = Promise.resolve(collectExit(libc(), WAIT.P_PID, pid) ?? unknownStatus());
    return { pid, startTime, status, onExit: onStatus(status) };
  }
}

/** A command of an `execute` action, started. */
export interface RunningCommand {
  pid: number;
  /** Its start time, for signals through a pidfd; null when it could not be read. */
  startTime: string | null;
  /** Resolves when it exits. */
  status: Promise<ExitStatus>;
}

/**
 * Starts the command of an `execute` action, in a session and process group of its own
 * (so that what it forks can be told from the HAM's, see `leftovers.ts`). Throws a
 * {@linkcode HamError} when it cannot be started.
 */
export function runCommand(
  argv: string[],
  env: Record<string, string>,
  cwd: string | null,
): RunningCommand {
  const child = spawnChild(argv, env, cwd, true);
  const status = register(child).then(toExit);
  let startTime: string | null = null;
  try {
    // Unreaped until `status` resolves: the pid is still this child's.
    startTime = processStartTime(child.pid);
  } catch { /* unknown: signals fall back to the pid alone */ }
  return { pid: child.pid, startTime, status };
}

/**
 * The shell that opens the output FIFOs read-write and becomes the command (`exec`: the
 * pid is the command's). Read-write, so that the open never waits for a reader and a write
 * never gets EPIPE while no HAM reads.
 */
const REDIRECT = 'o=$1 e=$2; shift 2; exec "$@" 1<>"$o" 2<>"$e"';

/** Starts `argv` with its stdout and stderr into `output`'s FIFOs. */
function spawnRedirected(
  argv: string[],
  env: Record<string, string>,
  cwd: string | null,
  output: OutputPipes,
): Deno.ChildProcess {
  // The shell would start anyway and fail later: say at once that the command is missing.
  resolveExecutable(argv[0], cwd, env.PATH ?? Deno.env.get("PATH") ?? "/usr/bin:/bin");
  return spawnChild(
    ["/bin/sh", "-c", REDIRECT, "sh", output.stdout, output.stderr, ...argv],
    env,
    cwd,
    true,
    argv[0],
  );
}

/**
 * The file `command` runs: itself when it names a path (relative to `cwd`, where the
 * process starts), else the first executable file of that name in `path`'s directories.
 * Throws ENOENT or EACCES as spawning `command` directly would.
 */
function resolveExecutable(command: string, cwd: string | null, path: string): string {
  // A path is the spawn's to check: it fails with ENOENT or EACCES as this would.
  if (command.includes("/")) return command;
  const candidates = path.split(":").filter((d) => d !== "").map((d) => `${d}/${command}`);
  let denied = false;
  for (const file of candidates) {
    try {
      const st = Deno.statSync(where(file, cwd));
      if (st.isFile && ((st.mode ?? 0o111) & 0o111) !== 0) return file;
      denied = true;
    } catch { /* not there */ }
  }
  throw denied
    ? new HamError("EACCES", `Cannot spawn "${command}": permission denied`)
    : new HamError("ENOENT", `Cannot spawn "${command}": no such file`);
}

/** Where `file` is for a process started in `cwd` (a relative path is relative to it). */
function where(file: string, cwd: string | null): string {
  return file.startsWith("/") || cwd === null ? file : `${cwd}/${file}`;
}

/**
 * Checks, starting nothing, that `argv` could be started as an entity process in `cwd`
 * with `env` over the HAM's environment, as an attach would start it: the working
 * directory exists and is a directory, and the file the command runs, found as the spawn
 * finds it (a name through `PATH`, the entity's own when its `env` sets one), is a regular
 * file with an execute bit. Returns that file (relative to `cwd` when it is relative).
 * Only the `exec` itself can tell the rest (a script's missing interpreter, a `noexec`
 * mount, a file that is not a program): that still fails at the spawn.
 *
 * @throws {HamError} `ENOENT` (a missing file or directory), `EACCES` (not executable, not
 * a regular file, or out of reach), `ENOTDIR` (a working directory or a component of the
 * path that is not a directory), each naming the command and the path.
 */
export function checkSpawnable(
  argv: string[],
  cwd: string | null,
  env: Record<string, string> | null,
): string {
  const command = argv[0];
  const bad = cwdError(command, cwd);
  if (bad !== null) throw bad;
  const file = resolveExecutable(command, cwd, spawnVar("PATH", env ?? {}) ?? "/usr/bin:/bin");
  const at = where(file, cwd);
  const named = at === command ? `"${command}"` : `"${command}" ("${at}")`;
  let st: Deno.FileInfo;
  try {
    st = Deno.statSync(at);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new HamError("ENOENT", `Cannot spawn ${named}: no such file`, { cause: err });
    }
    if (err instanceof Deno.errors.NotADirectory) {
      throw new HamError(
        "ENOTDIR",
        `Cannot spawn ${named}: a component of its path is not a directory`,
        { cause: err },
      );
    }
    throw new HamError("EACCES", `Cannot spawn ${named}: permission denied`, { cause: err });
  }
  if (!st.isFile) {
    const what = st.isDirectory ? "a directory" : "not a regular file";
    throw new HamError("EACCES", `Cannot spawn ${named}: permission denied (it is ${what})`);
  }
  if (((st.mode ?? 0o111) & 0o111) === 0) {
    throw new HamError(
      "EACCES",
      `Cannot spawn ${named}: permission denied (mode ${
        ((st.mode ?? 0) & 0o7777).toString(8).padStart(4, "0")
      }: no execute bit)`,
    );
  }
  return file;
}

/**
 * Starts `argv` with no stdin and the HAM's stdout and stderr; `ownGroup`: in a session
 * and process group of its own (`setsid()`), as every entity process is. `command` is what
 * an error names (the entity's command, when `argv` is the shell that starts it).
 */
function spawnChild(
  argv: string[],
  env: Record<string, string>,
  cwd: string | null,
  ownGroup = false,
  command = argv[0],
): Deno.ChildProcess {
  try {
    return new Deno.Command(argv[0], {
      args: argv.slice(1),
      // The HAM's environment without what it keeps to itself (see `spawn_env.ts`).
      clearEnv: true,
      env: spawnEnv(env),
      cwd: cwd ?? undefined,
      detached: ownGroup,
      stdin: "null",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
  } catch (err) {
    throw cwdError(command, cwd) ?? spawnError(argv, err);
  }
}

/**
 * Finds the process a daemonizing command left behind: a child of the HAM (a subreaper,
 * so orphans are re-parented to it) carrying `spawnId` in its environment and not in
 * `known`. The lowest such pid is the one that forked first.
 */
export function findDaemon(selfPid: number, spawnId: string, known: Set<number>): number | null {
  const candidates = childrenOf(selfPid).filter((p) => !known.has(p)).sort((a, b) => a - b);
  for (const pid of candidates) {
    if (carriesMarker(readEnviron(pid), spawnId)) return pid;
  }
  return null;
}

/**
 * True when an environment carries the spawn marker `spawnId` of a HAM on this state
 * directory. Markers of restarts are derived from the step (so that a HAM that takes over
 * finds what its predecessor spawned) and so repeat across HAMs: a HAM on another state
 * directory with an entity of the same name has processes with the same marker. Every
 * process a HAM spawns inherits its `HAM_STATE_DIR`, which tells them apart.
 */
export function carriesMarker(
  env: Map<string, string> | null,
  spawnId: string,
  stateDir: string | null = ownStateDir(),
): boolean {
  if (env?.get(SPAWN_ID_VAR) !== spawnId) return false;
  return stateDir === null || env.get(STATE_DIR_VAR) === stateDir;
}

/** The environment variable naming the HAM's state directory (set by the HAM for its children). */
export const STATE_DIR_VAR = "HAM_STATE_DIR";

/** This HAM's state directory, as its children inherit it; null when unset. */
function ownStateDir(): string | null {
  try {
    return Deno.env.get(STATE_DIR_VAR) ?? null;
  } catch {
    return null; // No env permission: the marker alone.
  }
}

/**
 * The command of an `execute` action that carries this HAM's spawn marker `spawnId`, when
 * it still runs: it was started in a session of its own ({@linkcode runCommand}), so it is
 * a live session leader carrying the marker. What it forked carries the marker too but is
 * not one (a background job, a subshell), and is never taken for it once it has ended;
 * among several leaders (what it forked that made a session of its own), the earliest
 * started. Null when none runs.
 */
export function findCommand(spawnId: string): number | null {
  let found: { pid: number; start: number } | null = null;
  for (const name of readDirNames("/proc") ?? []) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    const stat = processStat(pid);
    if (stat === null || stat.sid !== pid || stat.state === "Z" || stat.state === "X") continue;
    if (!carriesMarker(readEnviron(pid), spawnId)) continue;
    const start = Number(stat.startTime);
    if (found === null || start < found.start) found = { pid, start };
  }
  return found?.pid ?? null;
}

/** Any live process (not a zombie) carrying this HAM's spawn marker `spawnId`. */
export function findSpawned(spawnId: string): number | null {
  for (const name of readDirNames("/proc") ?? []) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (!carriesMarker(readEnviron(pid), spawnId)) continue;
    if (processStat(pid)?.state !== "Z") return pid;
  }
  return null;
}
