/**
 * The effects the engine needs from the outside world, as one injectable interface:
 * starting, watching and signalling processes, waiting for paths, and time. The real
 * implementation is {@linkcode realProcessOps}; tests pass fakes and a fake clock.
 *
 * @module
 */

import type { PidSet } from "../core/entity_pids.ts";
import type { ExitStatus, Leftover } from "../core/model.ts";
import { findLeftovers, type LeftoverQuery } from "../os/leftovers.ts";
import { waitForPath } from "../os/path_waiter.ts";
import {
  processStartedAt,
  processStartTime,
  processUid,
  readCmdline,
  readCwd,
} from "../os/proc.ts";
import { type ProcReader, procReader, ProcScan } from "../os/proc_scan.ts";
import { isChildSubreaper, type ProcessWatcher } from "../os/process_watcher.ts";
import {
  denoChildren,
  findCommand,
  findDaemon,
  findSpawned,
  runCommand,
  type RunningCommand,
  type SpawnedProcess,
  spawnEntity,
  type SpawnOptions,
} from "../os/spawner.ts";
import type { OutputPipes } from "../os/entity_output.ts";

/** A running process the engine watches, started elsewhere. */
export interface WatchHandle {
  /** Resolves with the exit status (null fields when unknown), or null when cancelled. */
  exited: Promise<ExitStatus | null>;
  cancel(): void;
  /**
   * Has `fn` called once with the exit status, as soon as it is known (synchronously, for
   * the real watcher: see `Watch.onExit`); never when cancelled.
   */
  onExit(fn: (status: ExitStatus) => void): void;
}

/** What the engine knows about a process it is asked to attach to. */
export interface ProcessDescription {
  startTime: string | null;
  argv: string[] | null;
  cwd: string | null;
  /**
   * It runs as another user than the HAM: its command line is its own to rewrite, and not
   * for the HAM to run as itself. @default {false}
   */
  foreign?: boolean;
  /** When it started, in ms since the epoch (to 10 ms); unknown: null or absent. */
  startedAt?: number | null;
}

/** Process effects. Every method may throw a HamError (ESRCH, ENOENT, EPERM, EINVAL). */
export interface ProcessOps {
  spawn(argv: string[], opts: SpawnOptions): SpawnedProcess;
  /** Starts the command of an `execute` action (throws when it cannot be started). */
  run(argv: string[], env: Record<string, string>, cwd: string | null): RunningCommand;
  describe(pid: number): ProcessDescription | null;
  watch(pid: number, startTime: string | null): WatchHandle;
  signal(pid: number, signal: number, startTime: string | null): void;
  findDaemon(spawnId: string, known: Set<number>): number | null;
  /** Any live process carrying this spawn marker (adopting a restart after a takeover). */
  findSpawned(spawnId: string): number | null;
  /**
   * The command of an `execute` action carrying this spawn marker, when it still runs (not
   * what it forked, which carries the marker too): see `findCommand` in `os/spawner.ts`.
   */
  findCommand(spawnId: string): number | null;
  /** What a process the HAM spawned left behind (see `os/leftovers.ts`). */
  leftovers(query: LeftoverQuery): Leftover[];
  /**
   * One look at every process, answering many {@linkcode ProcessLookup} questions (a
   * resume's, see `os/proc_scan.ts`): what it finds to act on is checked again by start
   * time, so it being a little stale never adopts or signals another process.
   */
  lookup(): ProcessLookup;
  waitForPath(path: string, delayMs: number): Promise<boolean>;
}

/** The questions a resume asks of every process, answered from one scan. */
export interface ProcessLookup extends Pick<ProcessOps, "findSpawned" | "leftovers"> {
  /** True when the scan saw `pid` alive with that start time (it may have ended since). */
  sawAlive(pid: number, startTime: string | null): boolean;
}

/**
 * A look for leftovers as this process makes it: among its descendants only when it is a
 * subreaper, and never at the children Deno spawned (the Guardian, `execute` commands),
 * which nothing the entity forked can be: skipping them spares a read of each.
 */
function localQuery(query: LeftoverQuery): LeftoverQuery {
  return {
    ...query,
    local: (query.local ?? false) && isChildSubreaper(),
    skip: denoChildren.size === 0 ? query.skip : eitherOf(query.skip, denoChildren),
  };
}

/** The pids in `a` or `b`, without a copy of either (the entities' pids may be 10,000). */
function eitherOf(a: PidSet, b: PidSet): PidSet {
  return { has: (pid) => a.has(pid) || b.has(pid) };
}

/** The real process effects, over a {@linkcode ProcessWatcher}. */
export function realProcessOps(
  watcher: ProcessWatcher,
  selfPid = Deno.pid,
  output?: (entity: string) => OutputPipes | null,
  reader: ProcReader = procReader,
): ProcessOps {
  const selfUid = processUid(selfPid);
  return {
    spawn: (argv, opts) =>
      spawnEntity(argv, { ...opts, output: output?.(opts.entity) ?? null }, watcher),
    run: runCommand,
    describe(pid) {
      const startTime = processStartTime(pid);
      if (startTime === null) return null;
      const uid = processUid(pid);
      const foreign = uid !== null && uid !== selfUid;
      const startedAt = processStartedAt(startTime);
      return { startTime, argv: readCmdline(pid), cwd: readCwd(pid), foreign, startedAt };
    },
    // A child Deno spawned is Deno's to reap (else its status rejects with ECHILD).
    watch: (pid, startTime) => watcher.watch(pid, startTime, { reap: !denoChildren.has(pid) }),
    signal: (pid, signal, startTime) => watcher.signal(pid, signal, startTime),
    findDaemon: (spawnId, known) => findDaemon(selfPid, spawnId, known),
    findSpawned,
    findCommand,
    leftovers: (query) => findLeftovers(localQuery(query), selfPid),
    lookup() {
      const scan = new ProcScan(reader);
      return {
        findSpawned: (spawnId) => scan.findSpawned(spawnId),
        sawAlive: (pid, startTime) => scan.sawAlive(pid, startTime),
        leftovers: (query) => findLeftovers(localQuery(query), selfPid, scan),
      };
    },
    waitForPath,
  };
}
