/**
 * The supervisor engine: keeps one monitor per entity process, turns deaths, attaches,
 * detaches and restarts into events, and runs the fired conditions' action lists on the
 * three lanes. All changes go through the store (journal + reducer); all effects go
 * through the injected {@linkcode ProcessOps} and {@linkcode Clock}.
 *
 * @module
 */

import {
  type Forward,
  listOf,
  runCondition,
  type RunnerContext,
  type RunSpec,
  runStep,
} from "./action_runner.ts";
import { Attacher, type AttachSpec } from "./attacher.ts";
import { Deaths } from "./deaths.ts";
import { type EntityEvent, type Firing, firings, laneOf } from "../core/dispatch.ts";
import { EngineJournal, type Store } from "./engine_journal.ts";
import { DEFAULTS } from "../core/defaults.ts";
import { HamError } from "../core/errors.ts";
import { HeartbeatMonitor } from "./heartbeat_monitor.ts";
import type { BeatSlot } from "../core/heartbeat_slot.ts";
import { Lanes } from "./lanes.ts";
import { Leftovers } from "./leftovers.ts";
import type { Logger } from "../os/logger.ts";
import { getEntity } from "../core/model.ts";
import type { Action, Condition, ExitStatus, HamState, RaiseMatch } from "../core/model.ts";
import type { Clock } from "../os/clock.ts";
import type { ProcessLookup, ProcessOps, WatchHandle } from "./process_ops.ts";
import type { RecordBody } from "../core/records.ts";
import { Restarter, type RestartParams, type RestartRequest, type SpawnSite } from "./restarter.ts";
import { RestartClock } from "./restart_clock.ts";
import { decideRestart, POLICY_DEFAULTS } from "../core/restart_policy.ts";
import { resume } from "./resume.ts";
import type { EngineParts, Events, Lifetime, Watching } from "./seams.ts";
import type { EventBody } from "../core/protocol.ts";
import { newSpawnId, type SpawnedProcess } from "../os/spawner.ts";

export type { AttachSpec } from "./attacher.ts";
export type { Store } from "./engine_journal.ts";
export { describeExit } from "./deaths.ts";

/** The restart action of the first enabled death condition that has one. */
function restartActionOf(conditions: Iterable<Condition>): RestartParams | null {
  for (const c of conditions) {
    if (!c.enabled || (c.type !== "death" && c.type !== "abnormal-death")) continue;
    const a = c.actions.find((x) => x.enabled && x.params.kind === "restart");
    if (a) return a.params as RestartParams;
  }
  return null;
}

/** A new run id (unique across HAM restarts: random). */
function newRunId(): string {
  return crypto.randomUUID().slice(0, 13);
}

/** Options of {@linkcode Engine}. */
export interface EngineOptions {
  store: Store;
  processes: ProcessOps;
  clock: Clock;
  log: Logger;
  /** Receives every event (for the event stream). */
  emit?: (ev: EventBody) => void;
  /** Delivers a notify action's message to a channel; false when it cannot. */
  notify?: (channel: string, message: Record<string, unknown>) => boolean;
  /**
   * Hands a notify or signal action that names another node to that node's HAM; rejects
   * with the `HamError` of the failure (EHOSTUNREACH, EKEYREJECTED, EACCES, ENOENT, ...).
   * @default {rejecting with ENOENT: no node is known}
   */
  forward?: Forward;
  /**
   * Called at each step boundary of the engine (a journal write, its durability, an
   * action about to run, a process spawned). Test-only: the HAM's `HAM_TEST_KILL_AT`
   * kill point counts these.
   */
  onStep?: (step: string) => void;
  /** Wait after SIGTERM to an entity's leftovers before SIGKILL, in ms. @default {DEFAULTS.leftoverStopTimeoutMs} */
  leftoverStopTimeoutMs?: number;
}

interface Selected {
  f: Firing;
  list: Action[] | null;
}

interface Monitor {
  pid: number;
  cancel(): void;
}

/** The supervisor engine. */
export class Engine {
  readonly processes: ProcessOps;
  readonly clock: Clock;
  readonly log: Logger;
  #journal: EngineJournal;
  #emit: (ev: EventBody) => void;
  #notify: (channel: string, message: Record<string, unknown>) => boolean;
  #forward: Forward;
  #onStep: (step: string) => void;
  #monitors = new Map<string, Monitor>();
  #lanes = new Lanes();
  #tasks = new Set<Promise<unknown>>();
  #stopped = false;
  #halt = new AbortController();
  #parts: EngineParts;
  #watching: Watching;
  #runner: RunnerContext;
  #heartbeats: HeartbeatMonitor;
  #restarter: Restarter;
  /** The ages of restarts for their policies, unmoved by steps of the wall clock. */
  #restartClock: RestartClock;
  /** The scan a resume made, until the runs and deaths it picked up are over. */
  #resumeLookup: ProcessLookup | null = null;
  #attacher: Attacher;
  #deaths: Deaths;
  #leftovers: Leftovers;
  /** Entities an operator asked to restart (`hamctl restart`): their next death restarts them. */
  #restartRequested = new Map<string, RestartRequest>();

  /** Creates an engine over a store; call {@linkcode Engine.resume} to start monitoring. */
  constructor(opts: EngineOptions) {
    this.processes = opts.processes;
    this.clock = opts.clock;
    this.log = opts.log;
    this.#emit = opts.emit ?? (() => {});
    this.#notify = opts.notify ?? (() => false);
    this.#forward = opts.forward ??
      ((node) =>
        Promise.reject(new HamError("ENOENT", `Cannot find node "${node}": no nodes are known`)));
    this.#onStep = opts.onStep ?? (() => {});
    // A record that removes an entity or ends its process ends its heartbeat accounting at
    // once: the next beat through its slot gets the HAM's answer, not a period later.
    this.#journal = new EngineJournal(opts.store, opts.log, this.#onStep, (bodies) => {
      for (const b of bodies) {
        if (b.t === "remove" || b.t === "death") this.#heartbeats.touched(b.entity);
        if (b.t === "remove") this.#restartClock.forget(b.entity);
      }
    });
    const stopped = () => this.#stopped;
    const life: Lifetime = {
      get stopped() {
        return stopped();
      },
      haltSignal: this.#halt.signal,
      track: (p) => this.#track(p),
      step: (name) => this.#onStep(name),
    };
    const events: Events = {
      emit: (ev) => this.#emit(ev),
      fire: (ev) => this.fire(ev),
      prepare: (ev) => {
        const selected = this.#select(ev);
        return () => this.#dispatch(ev, selected);
      },
    };
    this.#parts = {
      journal: this.#journal,
      life,
      events,
      processes: this.processes,
      clock: this.clock,
      log: this.log,
    };
    this.#watching = {
      spawned: (name, p) => {
        this.#leftovers.own(name, true);
        this.#monitorSpawned(name, p);
      },
      watched: (name, pid, w) => {
        this.#leftovers.own(name, false);
        this.#monitorWatch(name, pid, w);
      },
      heartbeat: (name, graceMs) => this.#heartbeats.start(name, graceMs),
    };
    this.#runner = {
      ...this.#parts,
      restart: (name, params, site) => this.restart(name, params, site),
      notify: (channel, message) => this.#notify(channel, message),
      forward: (node, request) => this.#forward(node, request),
    };
    const kill = (pid: number, startTime: string | null) => this.#kill(pid, startTime);
    this.#heartbeats = new HeartbeatMonitor(this.#parts);
    this.#leftovers = new Leftovers(this.#parts, { stopTimeoutMs: opts.leftoverStopTimeoutMs });
    this.#restartClock = new RestartClock(this.clock);
    this.#restarter = new Restarter({
      ...this.#parts,
      watching: this.#watching,
      leftoversSettled: (name) => this.#leftovers.settledNow(name),
      lookup: () => this.#resumeLookup ?? this.#parts.processes,
      restartClock: this.#restartClock,
    });
    this.#attacher = new Attacher({
      ...this.#parts,
      watching: this.#watching,
      kill,
      leftoversSettled: (name) => this.#leftovers.settled(name),
    });
    this.#deaths = new Deaths({
      ...this.#parts,
      fireDurably: (ev, before, adopt, fired) => this.#fire(ev, before, adopt, fired),
      follow: (name) => this.#follow(name),
      leftBehind: (e) => void this.#leftovers.ended(e),
      leftoversDue: (name, look) => this.#leftovers.due(name, look),
      takeRestartRequest: (name) => {
        const requested = this.#restartRequested.get(name) ?? null;
        this.#restartRequested.delete(name);
        return requested;
      },
      restart: (name, request) => this.#operatorRestart(name, request),
    });
  }

  /** True once {@linkcode Engine.stop} was called: running lists end at their next step. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /** The current state (read-only by convention: change it through records). */
  get state(): HamState {
    return this.#journal.state;
  }

  /**
   * Journals records, the engine's one way (see `JournalWriter` in `seams.ts`): applied at
   * once, resolves when durable, rejects (logged, state rolled back) when that failed.
   */
  write(bodies: RecordBody[]): Promise<void> {
    return this.#journal.write(bodies);
  }

  #track<T>(p: Promise<T>): Promise<T> {
    this.#tasks.add(p);
    p.finally(() => this.#tasks.delete(p)).catch(() => {});
    return p;
  }

  /** Resolves when every action list and exit handler started so far has finished. */
  async idle(): Promise<void> {
    while (this.#tasks.size > 0 || this.#lanes.busy > 0) {
      await Promise.allSettled([...this.#tasks]);
      await this.#lanes.idle();
    }
  }

  /**
   * Attaches a command (spawned now) or a running pid. Fills a placeholder (raising
   * `attach`) or a dead kept entity; refuses a name that is in use with EEXIST.
   */
  attach(spec: AttachSpec): Promise<{ entity: string; pid: number }> {
    return this.#attacher.attach(spec);
  }

  #kill(pid: number, startTime: string | null): void {
    try {
      this.processes.signal(pid, 9, startTime);
    } catch { /* already gone */ }
  }

  /** Stops monitoring an entity: raises `detach`, runs its lists, then removes it. */
  async detach(name: string): Promise<{ entity: string }> {
    if (!this.state.entities.has(name)) {
      throw new HamError("ENOENT", `Cannot detach entity "${name}": no such entity`);
    }
    this.#monitors.get(name)?.cancel();
    this.#monitors.delete(name);
    // Its heartbeat is no longer counted either: a beat from now on gets the HAM's answer.
    this.#heartbeats.stop(name);
    // QNX's detach never ends anything: kept leftovers run on, untracked, like the process.
    this.#leftovers.forget(name);
    this.#emit({ type: "detach", entity: name });
    await this.fire({ type: "detach", entity: name });
    await this.write([{ t: "remove", entity: name }]);
    return { entity: name };
  }

  /**
   * Withdraws an entity at once (a cluster entity fenced, or held by another node): stops
   * monitoring it, SIGKILLs its process first, then removes it. No condition fires: the
   * entity runs on, or is about to run on, another node.
   */
  async withdraw(name: string): Promise<void> {
    const e = this.state.entities.get(name);
    if (!e) return;
    this.#monitors.get(name)?.cancel();
    this.#monitors.delete(name);
    if (e.pid !== null) {
      let exited: Promise<unknown> | null = null;
      try {
        exited = this.processes.watch(e.pid, e.startTime).exited;
      } catch { /* gone already */ }
      this.#kill(e.pid, e.startTime);
      // What it forked is looked for once it is gone: re-parented to this HAM (a subreaper)
      // by then, not still under the process being killed (a look too early missed it).
      if (exited !== null) {
        const bound = new AbortController();
        await Promise.race([
          exited,
          this.clock.sleep(DEFAULTS.leftoverStopTimeoutMs, bound.signal),
        ]);
        bound.abort();
      }
    }
    this.#leftovers.ended(e, null, true);
    this.#leftovers.forget(name);
    await this.write([{ t: "remove", entity: name }]);
  }

  // ---------------------------------------------------------------------------------
  // The death path: a monitor sees the exit → `Deaths` queues it per entity, journals it
  // with its runs durably (#fire) → the runs go to their lanes (#dispatch) → the action
  // runner runs each step → `Deaths` judges the entity.

  // The exit comes by callback, not promise: its handling starts in the turn the exit is
  // learnt in, before whatever else that turn queued (see README, "The event path").
  #monitorSpawned(name: string, p: SpawnedProcess): void {
    let live = true;
    this.#monitors.set(name, { pid: p.pid, cancel: () => (live = false) });
    p.onExit((st) => {
      if (live) this.#exited(name, p.pid, st);
    });
  }

  #monitorWatch(name: string, pid: number, w: WatchHandle): void {
    this.#monitors.set(name, { pid, cancel: () => w.cancel() });
    w.onExit((st) => this.#exited(name, pid, st));
  }

  #exited(name: string, pid: number, st: ExitStatus): void {
    if (this.#monitors.get(name)?.pid === pid) this.#monitors.delete(name);
    void this.#deaths.exited(name, pid, st);
  }

  /**
   * The process of an entity ended (see {@linkcode Deaths}): a spawned command that exits
   * 0 leaving a daemon behind is followed to the daemon; otherwise this is a death, handled
   * after any earlier death of the entity. Resolves when it has been handled.
   */
  handleExit(name: string, pid: number, st: ExitStatus): Promise<void> {
    if (this.#monitors.get(name)?.pid === pid) this.#monitors.delete(name);
    return this.#deaths.exited(name, pid, st);
  }

  #knownPids(): Set<number> {
    const s = new Set<number>();
    for (const e of this.state.entities.values()) if (e.pid !== null) s.add(e.pid);
    return s;
  }

  #follow(name: string): boolean {
    const e = this.state.entities.get(name);
    if (!e?.spawnId) return false;
    const pid = this.processes.findDaemon(e.spawnId, this.#knownPids());
    if (pid === null) return false;
    const d = this.processes.describe(pid);
    if (!d) return false;
    let w;
    try {
      w = this.processes.watch(pid, d.startTime);
    } catch {
      return false;
    }
    // The daemon (and what it forks) is the entity now; anything else the command left is not.
    this.#leftovers.ended(e, pid);
    void this.#journal.record([{ t: "follow", entity: name, pid, startTime: d.startTime }]);
    this.#monitorWatch(name, pid, w);
    this.log.log("info", `Entity "${name}" daemonized: following pid ${pid}`);
    this.#emit({ type: "follow", entity: name, detail: { pid } });
    return true;
  }

  /** Fires the conditions an event matches; resolves when their lists have run. */
  fire(ev: EntityEvent): Promise<void> {
    return this.#fire(ev, []).catch(() => {});
  }

  /**
   * Journals `before` with the event's runs in one write and waits until it is durable;
   * only then do the runs start (journal first, then act: a HAM that takes over finds
   * either the runs, and resumes them, or nothing done). Rejects, running nothing, when
   * the write failed. Runs of a death get ids derived from the death (entity, death count,
   * condition), so a HAM that takes over and fires the same death again reproduces the
   * same step markers and adopts what this HAM spawned (`adopt`).
   */
  async #fire(
    ev: EntityEvent,
    before: RecordBody[],
    adopt = false,
    fired?: () => void,
  ): Promise<void> {
    const selected = this.#select(ev);
    if (selected.length === 0 && before.length === 0) return fired?.();
    await this.#dispatch(ev, selected, adopt, before, fired);
  }

  // A restart by an earlier list (which prunes) or a later edit does not change what an
  // event runs: the lists were taken when it happened.
  async #dispatch(
    ev: EntityEvent,
    selected: Selected[],
    adopt = false,
    before: RecordBody[] = [],
    fired?: () => void,
  ): Promise<void> {
    const death = ev.type === "death" || ev.type === "abnormal-death";
    // The death record (in `before`) counts this death.
    const deaths = (this.state.entities.get(ev.entity)?.deaths ?? 0) +
      (before.some((b) => b.t === "death") ? 1 : 0);
    const specs: RunSpec[] = selected.filter((s) => s.list !== null).map(({ f, list }) => ({
      run: death ? `${ev.entity}#${deaths}/${f.owner}/${f.condition}` : newRunId(),
      firing: f,
      ev,
      list: list!,
      start: 0,
      resumed: false,
      adopt,
    }));
    const fire: RecordBody = {
      t: "fire",
      event: { ...ev },
      runs: specs.map((s) => ({
        run: s.run,
        owner: s.firing.owner,
        condition: s.firing.condition,
        lane: s.firing.lane,
        list: s.list,
      })),
    };
    // Written, not durable: a death is no client's request, and a Guardian that takes over
    // reads what is written (see README, "Decisions": the event path). Written at once (an
    // idle journal): the runs start in this turn.
    const written = this.#journal.writtenOrNow([...before, fire]);
    if (written !== null) await written;
    const runs = specs.map((spec) => this.#runOnLane(spec));
    // A microtask after the runs: they start (and emit `condition`) first. What it does is
    // not the runs' to fail, nor may it throw where nothing catches.
    if (fired) {
      queueMicrotask(() => {
        try {
          fired();
        } catch (err) {
          this.log.log("error", `After firing ${ev.type} of "${ev.entity}": ${err}`);
        }
      });
    }
    await Promise.all(runs);
  }

  /** Which conditions fire, with their lists taken as they are now. */
  #select(ev: EntityEvent): Selected[] {
    return firings(this.state, ev).map((f) => ({ f, list: listOf(this.state, f) }));
  }

  // Keyed by the entity the event is about: a run that leaves its lane while its restart
  // waits (a backoff) holds up that entity's later runs only.
  #runOnLane(spec: RunSpec): Promise<void> {
    const f = spec.firing;
    return this.#lanes.run(
      f.lane,
      (release) => runCondition(this.#runner, { ...spec, release }),
      (err) => this.log.log("error", `Condition "${f.owner}/${f.condition}" failed: ${err}`),
      spec.ev.entity,
    );
  }

  /**
   * The restart action: idempotent (a running entity is left alone), spawns the restart
   * command (or the entity's own), records the new pid and raises `restart`.
   */
  restart(name: string, params: RestartParams, site?: SpawnSite): Promise<boolean> {
    return this.#restarter.restart(name, params, site);
  }

  /**
   * Carries out an operator's restart. The request is dropped from the journal when it is
   * over without a `restart` record (which drops it): it could not be made, or the entity
   * got a process another way meanwhile (attached anew while the restart waited a backoff).
   * Left behind, a later HAM would carry it out after that process ended.
   */
  async #operatorRestart(name: string, request: RestartRequest): Promise<boolean> {
    const done = await this.restart(name, request.params, request);
    if (!this.#stopped) this.#dropRestartRequest(name, request.spawnId);
    return done;
  }

  /** Drops the entity's journaled operator's restart if it is still the one of `spawnId`. */
  #dropRestartRequest(name: string, spawnId: string): void {
    if (this.state.entities.get(name)?.restartRequest?.spawnId !== spawnId) return;
    void this.#journal.record([
      { t: "restart-request", entity: name, pid: null, spawnId: null },
    ]).catch(() => {});
  }

  /**
   * Stops the entity's process `pid` for an operator's restart: SIGTERM now, SIGKILL if it
   * is still the entity's process after `ms` (it ignored SIGTERM). Its death is the
   * restart's (`#restartRequested`). Gone already: the watch reports its death.
   */
  #stopForRestart(name: string, pid: number, startTime: string | null, ms: number): void {
    try {
      this.processes.signal(pid, 15, startTime);
    } catch { /* Gone meanwhile: its death restarts it. */ }
    void this.clock.sleep(ms, this.#halt.signal).then((due) => {
      if (!due || this.state.entities.get(name)?.pid !== pid) return;
      this.log.log("notice", `Entity "${name}" (pid ${pid}) ignored SIGTERM: sending SIGKILL`);
      this.#kill(pid, startTime);
    });
  }

  /**
   * Picks up the operator's restarts a previous HAM journaled and did not finish: a process
   * still to be replaced is stopped again and replaced at its death (SIGTERM, which that
   * HAM may or may not have sent before it died: the journal cannot tell; then SIGKILL
   * after `restartStopTimeoutMs`, counted from now), and an entity whose process is gone
   * is started, adopting the process the previous HAM may have started already. One whose
   * entity runs another process since is over: dropped.
   */
  #resumeRestartRequests(): void {
    for (const e of [...this.state.entities.values()]) {
      const req = e.restartRequest;
      if (!req) continue;
      const request: RestartRequest = {
        params: restartActionOf(e.conditions.values()) ??
          { kind: "restart", argv: null, policy: null },
        spawnId: req.spawnId,
        adopt: true,
      };
      if (e.pid === null) {
        this.#track(this.#operatorRestart(e.name, request));
      } else if (e.pid === req.pid) {
        this.#restartRequested.set(e.name, request);
        this.#stopForRestart(e.name, e.pid, e.startTime, DEFAULTS.restartStopTimeoutMs);
      } else {
        this.#dropRestartRequest(e.name, req.spawnId);
      }
    }
  }

  /**
   * Picks up a recovered state (start-up on an existing state directory, or a Guardian
   * takeover); see {@linkcode resume}.
   */
  resume(): void {
    // One scan of every process answers every question of the resume (the leftovers of
    // each pending death, each unacknowledged spawn, each restart it adopts), until the
    // runs and deaths it picked up are over.
    const lookup = this.#parts.processes.lookup();
    this.#resumeLookup = lookup;
    let picked: Promise<unknown> = Promise.resolve();
    this.#leftovers.scanning(lookup, () => {
      this.#leftovers.resume();
      // Before the re-watch: a process that died while no HAM watched is reported by it.
      this.#resumeRestartRequests();
      picked = resume({
        ...this.#parts,
        lookup,
        watching: this.#watching,
        deaths: this.#deaths,
        kill: (pid, startTime) => this.#kill(pid, startTime),
        monitored: (name) => this.#monitors.has(name),
        runOnLane: (spec) => this.#runOnLane(spec),
        refire: (ev) => this.#fire(ev, [], true),
      });
    });
    void picked.finally(() => {
      if (this.#resumeLookup === lookup) this.#resumeLookup = null;
    });
  }

  /**
   * After the state was reloaded from disk (a journal write failed, e.g. on a full disk):
   * watches again every entity whose recorded process nobody watches, so a death whose
   * records were refused is seen again, and handled once the journal takes it.
   */
  rewatch(): void {
    if (this.#stopped) return;
    for (const e of [...this.state.entities.values()]) {
      if (e.pid === null || this.#monitors.has(e.name) || e.deathPending) continue;
      const { name, pid } = e;
      let w;
      try {
        w = this.processes.watch(pid, e.startTime);
      } catch {
        this.#track(this.handleExit(name, pid, { code: null, signal: null }));
        continue;
      }
      this.#monitorWatch(name, pid, w);
    }
  }

  /** Stops all monitoring; running lists end at their next step. */
  stop(): void {
    this.#stopped = true;
    this.#halt.abort();
    for (const m of this.#monitors.values()) m.cancel();
    this.#monitors.clear();
    this.#heartbeats.stopAll();
    this.#leftovers.stop();
  }

  /**
   * The connection on which process `pid` attached itself as `name` closed without detach:
   * that is its death, unless the entity has moved on to another process since (the death
   * was already seen through the pidfd, and the entity restarted).
   */
  connectionLost(name: string, pid: number): void {
    const e = this.state.entities.get(name);
    if (!e || e.kind !== "self" || e.pid !== pid) return;
    this.#monitors.get(name)?.cancel();
    this.#monitors.delete(name);
    void this.#deaths.exited(name, pid, { code: null, signal: null });
  }

  /**
   * Runs a do-now action once, at registration, on its condition's lane; not when its
   * condition or its entity is disabled (a disabled item silences what it holds).
   */
  runNow(entity: string, condition: string, action: string): void {
    const e = this.state.entities.get(entity);
    const c = e?.conditions.get(condition);
    const a = c?.actions.find((x) => x.name === action);
    if (!e || !c || !a) return;
    if (!e.enabled || !c.enabled) {
      const which = e.enabled ? `condition "${entity}/${condition}"` : `entity "${entity}"`;
      this.log.log(
        "info",
        `Do-now action "${entity}/${condition}/${action}" not run: ${which} is disabled`,
      );
      return;
    }
    const site = { owner: entity, condition, action, subject: entity };
    const step = { ev: entity, cpath: `${entity}/${condition}`, now: true };
    // The same rules as a step of a list: a failure runs the fail list and removes the
    // action unless keep-on-fail.
    this.#track(this.#lanes.run(
      laneOf(c.flags),
      async () => {
        await runStep(this.#runner, a, a, site, step);
      },
      (err) => this.log.log("error", `Action "${entity}/${condition}/${action}" failed: ${err}`),
      entity,
    ));
  }

  /** Publishes a new state for an entity and fires matching `state` conditions. */
  async publishState(
    name: string,
    to: number,
  ): Promise<{ entity: string; from: number; to: number }> {
    const e = getEntity(this.state, name);
    const from = e.state;
    await this.write([{ t: "state", entity: name, to }]);
    this.#emit({ type: "state", entity: name, detail: { from, to } });
    this.#track(this.fire({ type: "state", entity: name, transition: { from, to } }));
    return { entity: name, from, to };
  }

  /** Raises a condition about an entity and fires matching `raise` conditions. */
  raise(name: string, raised: RaiseMatch): Promise<{ entity: string }> {
    try {
      getEntity(this.state, name);
    } catch (err) {
      return Promise.reject(err);
    }
    this.#emit({ type: "raise", entity: name, detail: { ...raised } });
    this.#track(this.fire({ type: "raise", entity: name, raised }));
    return Promise.resolve({ entity: name });
  }

  /** Signals an entity's process through its pidfd (`hamctl kill`): ESRCH when it has none. */
  kill(name: string, signal: number): { entity: string; pid: number } {
    const e = getEntity(this.state, name);
    if (e.pid === null) {
      throw new HamError("ESRCH", `Cannot signal entity "${name}": it has no process`);
    }
    this.processes.signal(e.pid, signal, e.startTime);
    return { entity: name, pid: e.pid };
  }

  /**
   * Restarts an entity on an operator's request (`hamctl restart`), through its restart
   * action (the first in its death conditions) or else its own command. A running process
   * gets SIGTERM, then SIGKILL after `stopTimeoutMs`; its death fires nothing and is
   * followed by the restart. An entity without a process is started at once. Resolves with
   * the pid that is being replaced (null when there was none), once the request is
   * journaled (`restart-request`): a HAM that takes over before it is done finishes it.
   */
  restartEntity(name: string, stopTimeoutMs: number): { entity: string; pid: number | null } {
    const e = getEntity(this.state, name);
    const params = restartActionOf(e.conditions.values()) ??
      { kind: "restart" as const, argv: null, policy: null };
    if (e.kind === "global" || (params.argv ?? e.argv) === null) {
      throw new HamError("EINVAL", `Cannot restart entity "${name}": it has no command`);
    }
    // Refused before anything is stopped when the restart policy would not start it again
    // (systemd's start limit counts manual starts too, and refuses them up front).
    const d = decideRestart(
      params.policy ?? POLICY_DEFAULTS,
      this.#restartClock.recent(name, e.recentRestarts ?? []),
      this.clock.now(),
      0,
    );
    if (d.kind === "limit") {
      throw new HamError(
        "EBUSY",
        `Cannot restart entity "${name}": its restart limit is reached (${d.reason}); try again later`,
      );
    }
    const old = e.pid;
    const request: RestartRequest = { params, spawnId: newSpawnId(), adopt: false };
    // A death from now on is this restart's.
    if (old !== null) this.#restartRequested.set(name, request);
    // Journal first, then act: once the request is in the journal file (at once, on an idle
    // journal), where a HAM that takes over finds it. Kept and written again while the
    // journal refuses it (a full disk): the restart is carried out once it is written.
    const act = () => {
      if (this.#stopped) return;
      if (old === null) return void this.#track(this.#operatorRestart(name, request));
      // Unless it died meanwhile: then its death is being handled as this restart.
      if (this.state.entities.get(name)?.pid !== old) return;
      this.#stopForRestart(name, old, e.startTime, stopTimeoutMs);
    };
    const written = this.#journal.writtenOrNow([
      { t: "restart-request", entity: name, pid: old, spawnId: request.spawnId },
    ]);
    if (written === null) act();
    else {
      written.then(act, () => {
        if (this.#restartRequested.get(name) === request) this.#restartRequested.delete(name);
      });
    }
    return { entity: name, pid: old };
  }

  /** Notes a heartbeat; a no-op success for an entity that does not heartbeat (QNX). */
  heartbeat(name: string, now: number): { entity: string } {
    const e = getEntity(this.state, name);
    if (!e.heartbeat) return { entity: name };
    e.lastBeat = now; // Volatile by design: see Entity.lastBeat.
    this.#heartbeats.seen(name, now);
    return { entity: name };
  }

  /**
   * Lets `name` beat through `slot` from now on (see `lib/core/heartbeat_slot.ts`); false
   * when its heartbeat is not being counted (it has none, or no process).
   */
  heartbeatSlot(name: string, slot: BeatSlot): boolean {
    return this.#heartbeats.setSlot(name, slot);
  }

  /** True while `name`'s heartbeat periods are being counted. */
  heartbeatCounted(name: string): boolean {
    return this.#heartbeats.counting(name);
  }

  /** Forgets `slot` as `name`'s (its file is being closed). */
  dropHeartbeatSlot(name: string, slot: BeatSlot): void {
    this.#heartbeats.dropSlot(name, slot);
  }
}
