/**
 * A fake {@linkcode ProcessOps} for unit tests: processes are fake pids whose exit the
 * test decides ({@linkcode FakeProcesses.kill}), commands of `execute` actions exit with
 * the code the test configured, and every call is recorded, in order, so a test can
 * assert on the sequence of effects.
 *
 * @module
 */

import { HamError } from "../../lib/core/errors.ts";
import { signalName } from "../../lib/core/flags.ts";
import type { ExitStatus, Leftover } from "../../lib/core/model.ts";
import type { LeftoverQuery } from "../../lib/os/leftovers.ts";
import type {
  ProcessDescription,
  ProcessLookup,
  ProcessOps,
  WatchHandle,
} from "../../lib/engine/process_ops.ts";
import type { RunningCommand, SpawnedProcess, SpawnOptions } from "../../lib/os/spawner.ts";
import type { FakeClock } from "./fake_clock.ts";

/** One recorded call. */
export type FakeCall =
  & (
    | { op: "spawn"; argv: string[]; opts: SpawnOptions; pid: number | null }
    | { op: "run"; argv: string[]; env: Record<string, string>; cwd: string | null }
    | { op: "signal"; pid: number; signal: number; startTime: string | null }
    | { op: "watch"; pid: number; startTime: string | null }
    | { op: "describe"; pid: number }
    | { op: "findDaemon"; spawnId: string; known: number[] }
    | { op: "findSpawned"; spawnId: string }
    | { op: "findCommand"; spawnId: string }
    | { op: "leftovers"; query: LeftoverQuery }
    | { op: "lookup" }
    | { op: "waitForPath"; path: string; delayMs: number }
  )
  & { at: number };

/** How a fake command of an `execute` action ends: an exit code, a status, or an error. */
export type RunOutcome = number | ExitStatus | HamError;

interface Live {
  argv: string[] | null;
  startTime: string;
  exit: (st: ExitStatus) => void;
  watchers: Array<(st: ExitStatus | null) => void>;
  /** `onExit` callbacks: called synchronously by `kill()`, as the real watcher's are. */
  callbacks: Array<(st: ExitStatus) => void>;
}

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Fake process effects over a {@linkcode FakeClock}. */
export class FakeProcesses implements ProcessOps {
  /** Every call, in order. */
  readonly calls: FakeCall[] = [];
  /** When true (or when it returns true for the argv), `spawn` throws ENOENT. */
  failSpawn: boolean | ((argv: string[]) => boolean) = false;
  /** Exit code (or status, or thrown error) of `run` by `argv[0]`; absent means exit 0. */
  readonly runResult = new Map<string, RunOutcome>();
  /** Paths that exist, for `waitForPath`. */
  readonly paths = new Set<string>();
  /** Signals that end a live fake process (with that signal) when sent to it. */
  readonly fatalSignals = new Set<number>([9, 15]);
  /** What `findDaemon` answers (unless the pid is already known). */
  daemonPid: number | null = null;
  /** What `findSpawned` answers, by spawn marker (a process a previous HAM started). */
  readonly spawnedById = new Map<string, number>();
  /**
   * Processes that an `execute` command a previous HAM started forked, carrying its
   * marker, by marker: `findSpawned` finds one (unless `spawnedById` names a lower pid),
   * `findCommand` never does (it is not the leader of the command's session).
   */
  readonly forkedById = new Map<string, number>();
  /** When true, `findSpawned` also finds live processes spawned here, by their marker. */
  findsOwnSpawns = false;
  /** Fake processes left behind, by the spawn marker of the process that forked them. */
  readonly leftoversById = new Map<string, number[]>();
  /** Pids whose `watch` throws ESRCH (the process is gone). */
  readonly unwatchable = new Set<number>();
  /** Commands (`argv[0]` of `run`) that ignore SIGTERM. */
  readonly termIgnored = new Set<string>();

  #clock: FakeClock;
  #nextPid: number;
  #nextRunPid = 50_000;
  #live = new Map<number, Live>();
  #described = new Map<number, ProcessDescription>();
  #pathWaiters = new Map<string, Array<() => void>>();
  #runGates = new Map<string, Array<() => void>>();
  #gated = new Set<string>();

  /** Creates fake processes; pids start at `firstPid`. @default 1000 */
  constructor(clock: FakeClock, firstPid = 1000) {
    this.#clock = clock;
    this.#nextPid = firstPid;
  }

  /** The effects so far as short strings (`spawn web`, `run cmd arg`, `signal 1000 9`, ...). */
  get effects(): string[] {
    return this.calls.flatMap((c) => {
      switch (c.op) {
        case "spawn":
          return [`spawn ${c.argv.join(" ")}`];
        case "run":
          return [`run ${c.argv.join(" ")}`];
        case "signal":
          return [`signal ${c.pid} ${c.signal}`];
        case "waitForPath":
          return [`waitfor ${c.path}`];
        default:
          return [];
      }
    });
  }

  /** The `argv.join(" ")` of every `run` call, in order. */
  get runs(): string[] {
    return this.calls.flatMap((c) => c.op === "run" ? [c.argv.join(" ")] : []);
  }

  /** The `argv.join(" ")@time` of every `run` call, in order. */
  get timedRuns(): string[] {
    return this.calls.flatMap((c) => c.op === "run" ? [`${c.argv.join(" ")}@${c.at}`] : []);
  }

  /** The recorded calls of one kind. */
  callsOf<K extends FakeCall["op"]>(op: K): Extract<FakeCall, { op: K }>[] {
    return this.calls.filter((c): c is Extract<FakeCall, { op: K }> => c.op === op);
  }

  /** The live processes spawned for `entity` (by the spawn option). */
  liveOf(entity: string): number[] {
    return this.callsOf("spawn").flatMap((c) =>
      c.opts.entity === entity && c.pid !== null && this.#live.has(c.pid) ? [c.pid] : []
    );
  }

  /** True while the fake pid has not exited. */
  isAlive(pid: number): boolean {
    return this.#live.has(pid);
  }

  /** Makes a process (spawned or only described) exit with `status`. */
  kill(pid: number, status: ExitStatus = { code: 0, signal: null }): void {
    const p = this.#live.get(pid);
    if (!p) throw new Error(`FakeProcesses.kill(): no live fake process ${pid}`);
    this.#live.delete(pid);
    this.#described.delete(pid);
    for (const fn of p.callbacks) fn({ ...status });
    p.exit(status);
    for (const w of p.watchers) w(status);
  }

  /** Declares a running process that was not spawned here (for attach by pid, daemons). */
  addProcess(pid: number, desc: Partial<ProcessDescription> = {}): void {
    const d: ProcessDescription = {
      startTime: desc.startTime ?? `st-${pid}`,
      argv: desc.argv ?? null,
      cwd: desc.cwd ?? null,
      ...(desc.startedAt !== undefined ? { startedAt: desc.startedAt } : {}),
    };
    this.#described.set(pid, d);
    this.#live.set(pid, {
      argv: d.argv,
      startTime: d.startTime!,
      exit: () => {},
      watchers: [],
      callbacks: [],
    });
  }

  /** Declares running processes forked by the process carrying `spawnId` (leftovers once it ends). */
  addLeftovers(spawnId: string, pids: number[]): void {
    for (const pid of pids) this.addProcess(pid);
    this.leftoversById.set(spawnId, [...(this.leftoversById.get(spawnId) ?? []), ...pids]);
  }

  /** Makes `path` exist, waking the `waitForPath` calls waiting for it. */
  addPath(path: string): void {
    this.paths.add(path);
    for (const wake of this.#pathWaiters.get(path) ?? []) wake();
    this.#pathWaiters.delete(path);
  }

  /** Makes `run` of `argv[0]` block until {@linkcode FakeProcesses.release} is called. */
  gate(command: string): void {
    this.#gated.add(command);
  }

  /** Lets the blocked `run` calls of `command` end (with their `runResult`), and stops blocking new ones. */
  release(command: string): void {
    this.#gated.delete(command);
    for (const go of this.#runGates.get(command) ?? []) go();
    this.#runGates.delete(command);
  }

  spawn(argv: string[], opts: SpawnOptions): SpawnedProcess {
    const fail = typeof this.failSpawn === "function" ? this.failSpawn(argv) : this.failSpawn;
    if (fail) {
      this.calls.push({ op: "spawn", argv, opts, pid: null, at: this.#clock.now() });
      throw new HamError("ENOENT", `Cannot spawn "${argv[0]}": no such file`);
    }
    const pid = this.#nextPid++;
    this.calls.push({ op: "spawn", argv, opts, pid, at: this.#clock.now() });
    const d = deferred<ExitStatus>();
    const startTime = `st-${pid}`;
    const live: Live = { argv, startTime, exit: d.resolve, watchers: [], callbacks: [] };
    this.#live.set(pid, live);
    this.#described.set(pid, { startTime, argv, cwd: opts.cwd });
    return {
      pid,
      startTime,
      status: d.promise,
      // Given after the exit (its watcher awaited something first): a microtask later.
      onExit: (fn) => {
        if (this.#live.get(pid) === live) live.callbacks.push(fn);
        else void d.promise.then(fn);
      },
    };
  }

  /**
   * Starts a fake command: a live fake process (pids from 50,000, apart from the spawned
   * ones) that ends with its `runResult` at once, or once released when gated; a signal in
   * `fatalSignals` ends it sooner (SIGTERM not, for a command in `termIgnored`).
   */
  run(argv: string[], env: Record<string, string>, cwd: string | null): RunningCommand {
    this.calls.push({ op: "run", argv, env, cwd, at: this.#clock.now() });
    const r = this.runResult.get(argv[0]) ?? 0;
    if (r instanceof HamError) throw r;
    const pid = this.#nextRunPid++;
    const d = deferred<ExitStatus>();
    const startTime = `st-${pid}`;
    const live: Live = { argv, startTime, exit: d.resolve, watchers: [], callbacks: [] };
    this.#live.set(pid, live);
    this.#described.set(pid, { startTime, argv, cwd });
    const finish = () => {
      // The outcome as configured when it ends (a test may set it while the command runs).
      const end = this.runResult.get(argv[0]) ?? 0;
      if (this.#live.get(pid) !== live || end instanceof HamError) return;
      this.kill(pid, typeof end === "number" ? { code: end, signal: null } : end);
    };
    if (this.#gated.has(argv[0])) {
      const list = this.#runGates.get(argv[0]) ?? [];
      list.push(finish);
      this.#runGates.set(argv[0], list);
    } else queueMicrotask(finish);
    return { pid, startTime, status: d.promise };
  }

  describe(pid: number): ProcessDescription | null {
    this.calls.push({ op: "describe", pid, at: this.#clock.now() });
    return this.#described.get(pid) ?? null;
  }

  watch(pid: number, startTime: string | null): WatchHandle {
    this.calls.push({ op: "watch", pid, startTime, at: this.#clock.now() });
    const p = this.#live.get(pid);
    if (!p || this.unwatchable.has(pid) || (startTime !== null && startTime !== p.startTime)) {
      throw new HamError("ESRCH", `Cannot watch process ${pid}: no such process`);
    }
    const d = deferred<ExitStatus | null>();
    p.watchers.push(d.resolve);
    let callback: ((st: ExitStatus) => void) | null = null;
    return {
      exited: d.promise,
      cancel: () => {
        p.watchers = p.watchers.filter((w) => w !== d.resolve);
        p.callbacks = p.callbacks.filter((fn) => fn !== callback);
        d.resolve(null);
      },
      onExit: (fn) => {
        callback = fn;
        if (this.#live.get(pid) === p) p.callbacks.push(fn);
        else void d.promise.then((st) => st && fn(st));
      },
    };
  }

  signal(pid: number, signal: number, startTime: string | null): void {
    this.calls.push({ op: "signal", pid, signal, startTime, at: this.#clock.now() });
    const p = this.#live.get(pid);
    if (!p || (startTime !== null && startTime !== p.startTime)) {
      throw new HamError("ESRCH", `Cannot signal process ${pid}: no such process`);
    }
    if (signal === 15 && p.argv !== null && this.termIgnored.has(p.argv[0])) return;
    if (this.fatalSignals.has(signal)) this.kill(pid, { code: null, signal: signalName(signal) });
  }

  findSpawned(spawnId: string): number | null {
    this.calls.push({ op: "findSpawned", spawnId, at: this.#clock.now() });
    const command = this.spawnedById.get(spawnId);
    const forked = this.forkedById.get(spawnId);
    // The lowest pid carrying the marker, as the real look answers.
    const set = command === undefined || forked === undefined
      ? command ?? forked
      : Math.min(command, forked);
    if (set !== undefined || !this.findsOwnSpawns) return set ?? null;
    const own = this.callsOf("spawn").find((c) =>
      c.opts.spawnId === spawnId && c.pid !== null && this.#live.has(c.pid)
    );
    return own?.pid ?? null;
  }

  /** The command a previous HAM started with this marker (`spawnedById`), never what it forked. */
  findCommand(spawnId: string): number | null {
    this.calls.push({ op: "findCommand", spawnId, at: this.#clock.now() });
    return this.spawnedById.get(spawnId) ?? null;
  }

  leftovers(query: LeftoverQuery): Leftover[] {
    this.calls.push({ op: "leftovers", query, at: this.#clock.now() });
    return (this.leftoversById.get(query.spawnId) ?? []).flatMap((pid) => {
      const p = this.#live.get(pid);
      if (!p || pid === query.spare || query.skip.has(pid)) return [];
      return [{ pid, startTime: p.startTime }];
    });
  }

  /**
   * One scan (recorded as a `lookup` call): its questions are answered as `findSpawned`
   * and `leftovers` are (and recorded as such), `sawAlive` from the
   * processes live when it was made.
   */
  lookup(): ProcessLookup {
    this.calls.push({ op: "lookup", at: this.#clock.now() });
    const seen = new Map([...this.#live].map(([pid, p]) => [pid, p.startTime]));
    return {
      findSpawned: (spawnId) => this.findSpawned(spawnId),
      leftovers: (query) => this.leftovers(query),
      sawAlive: (pid, startTime) =>
        seen.has(pid) && (startTime === null || seen.get(pid) === startTime),
    };
  }

  findDaemon(spawnId: string, known: Set<number>): number | null {
    this.calls.push({ op: "findDaemon", spawnId, known: [...known], at: this.#clock.now() });
    return this.daemonPid !== null && !known.has(this.daemonPid) ? this.daemonPid : null;
  }

  async waitForPath(path: string, delayMs: number): Promise<boolean> {
    this.calls.push({ op: "waitForPath", path, delayMs, at: this.#clock.now() });
    if (this.paths.has(path)) return true;
    const stop = new AbortController();
    let wake!: () => void;
    const appeared = new Promise<boolean>((resolve) => {
      wake = () => {
        stop.abort();
        resolve(true);
      };
      this.#pathWaiters.set(path, [...(this.#pathWaiters.get(path) ?? []), wake]);
    });
    // The sleep ends early (false) only when the path appeared, and then `appeared` won.
    const timedOut = this.#clock.sleep(delayMs, stop.signal).then((woke) => !woke);
    const seen = await Promise.race([appeared, timedOut]);
    if (!seen) {
      const rest = (this.#pathWaiters.get(path) ?? []).filter((w) => w !== wake);
      if (rest.length > 0) this.#pathWaiters.set(path, rest);
      else this.#pathWaiters.delete(path);
    }
    return seen;
  }
}
