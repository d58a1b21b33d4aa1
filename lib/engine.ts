/**
 * The supervisor engine: keeps one monitor per entity process, turns deaths, attaches,
 * detaches and restarts into events, and runs the fired conditions' action lists on the
 * three lanes. All changes go through the store (journal + reducer); all effects go
 * through the injected {@linkcode ProcessOps} and {@linkcode Clock}.
 *
 * @module
 */

import {
  type ActionSite,
  type EngineEvent,
  listOf,
  runAction,
  runCondition,
  type RunnerContext,
  type RunSpec,
} from "./action_runner.ts";
import { type EntityEvent, type Firing, firings, laneOf } from "./dispatch.ts";
import { HamError } from "./errors.ts";
import { CORE_SIGNALS, HENTITYKEEPONDEATH } from "./flags.ts";
import { periodEnd, tick } from "./heartbeat.ts";
import { decideRestart } from "./restart_policy.ts";
import { Lanes } from "./lanes.ts";
import type { Logger } from "./logger.ts";
import { getEntity } from "./model.ts";
import type {
  Action,
  ActionParams,
  ExitStatus,
  HamState,
  HeartbeatSpec,
  RaiseMatch,
} from "./model.ts";
import type { Clock, ProcessOps } from "./process_ops.ts";
import type { RecordBody } from "./records.ts";
import { newSpawnId, type SpawnedProcess } from "./spawner.ts";

/**
 * How long a restarted self-attached process has to start and attach itself again before
 * its missed heartbeats count (its re-attach starts the accounting at once).
 */
export const RESTART_HEARTBEAT_GRACE_MS = 1000;

/** A new run id (unique across HAM restarts: random). */
function newRunId(): string {
  return crypto.randomUUID().slice(0, 13);
}

/** The part of the state store the engine uses. `commit` applies records at once. */
export interface Store {
  readonly state: HamState;
  commit(bodies: RecordBody[]): Promise<unknown>;
}

/** Options of {@linkcode Engine}. */
export interface EngineOptions {
  store: Store;
  processes: ProcessOps;
  clock: Clock;
  log: Logger;
  /** Receives every event (for the event stream). */
  emit?: (ev: EngineEvent) => void;
  /** Delivers a notify action's message to a channel; false when it cannot. */
  notify?: (channel: string, message: Record<string, unknown>) => boolean;
}

/** What to attach. */
export interface AttachSpec {
  entity: string;
  argv: string[] | null;
  pid: number | null;
  cwd: string | null;
  env: Record<string, string> | null;
  flags: number;
  heartbeat: HeartbeatSpec | null;
  kind?: "attached" | "self";
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
export class Engine implements RunnerContext {
  readonly processes: ProcessOps;
  readonly clock: Clock;
  readonly log: Logger;
  #store: Store;
  #emit: (ev: EngineEvent) => void;
  #notify: (channel: string, message: Record<string, unknown>) => boolean;
  #monitors = new Map<string, Monitor>();
  #reserved = new Set<string>();
  #lanes = new Lanes();
  #tasks = new Set<Promise<unknown>>();
  #stopped = false;
  #halt = new AbortController();
  #beats = new Map<string, { seen: boolean; stop: AbortController }>();

  /** Creates an engine over a store; call {@linkcode Engine.resume} to start monitoring. */
  constructor(opts: EngineOptions) {
    this.#store = opts.store;
    this.processes = opts.processes;
    this.clock = opts.clock;
    this.log = opts.log;
    this.#emit = opts.emit ?? (() => {});
    this.#notify = opts.notify ?? (() => false);
  }

  /** True once {@linkcode Engine.stop} was called: running lists end at their next step. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /** Aborted by {@linkcode Engine.stop}; waits in actions end early. */
  get haltSignal(): AbortSignal {
    return this.#halt.signal;
  }

  /** The current state (read-only by convention: change it through records). */
  get state(): HamState {
    return this.#store.state;
  }

  /** Journals records; they apply at once, durability is awaited in the background. */
  record(bodies: RecordBody[]): void {
    this.#store.commit(bodies).catch((err) =>
      this.log.log("error", `Cannot record ${bodies.map((b) => b.t).join(", ")}: ${err.message}`)
    );
  }

  /** Passes an event to the event stream. */
  emit(ev: EngineEvent): void {
    this.#emit(ev);
  }

  /** Delivers a notify action. */
  notify(channel: string, message: Record<string, unknown>): boolean {
    return this.#notify(channel, message);
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
  async attach(spec: AttachSpec): Promise<{ entity: string; pid: number }> {
    const name = spec.entity;
    const existing = this.state.entities.get(name);
    if (spec.kind === "self" && existing && existing.pid !== null && existing.pid === spec.pid) {
      return await this.#reattachSelf(spec);
    }
    if ((existing && existing.pid !== null) || this.#reserved.has(name)) {
      throw new HamError("EEXIST", `Cannot attach entity "${name}": it already exists`);
    }
    this.#reserved.add(name);
    try {
      const filling = existing !== undefined;
      let pid: number, startTime: string | null, argv = spec.argv, cwd = spec.cwd;
      let spawned: SpawnedProcess | null = null;
      let watch: ReturnType<ProcessOps["watch"]> | null = null;
      const spawnId = spec.argv ? newSpawnId() : null;
      if (spec.argv) {
        // Journaled first: a HAM that dies between this spawn and the attach record leaves a
        // process that the next HAM finds by its marker and ends (the attach was never
        // acknowledged).
        const intent: RecordBody = { t: "attach-intent", entity: name, spawnId: spawnId! };
        await this.#store.commit([intent]);
        try {
          spawned = this.processes.spawn(spec.argv, {
            entity: name,
            spawnId: spawnId!,
            cwd,
            env: spec.env,
          });
        } catch (err) {
          this.record([{ t: "attach-abandoned", spawnId: spawnId! }]);
          throw err;
        }
        pid = spawned.pid;
        startTime = spawned.startTime;
      } else {
        pid = spec.pid!;
        const d = this.processes.describe(pid);
        if (!d) throw new HamError("ESRCH", `Cannot attach entity "${name}": no process ${pid}`);
        watch = this.processes.watch(pid, d.startTime);
        startTime = d.startTime;
        argv = d.argv && d.argv.length > 0 ? d.argv : null;
        cwd = d.cwd;
      }
      try {
        await this.#store.commit([{
          t: "attach",
          entity: name,
          kind: spec.kind ?? "attached",
          pid,
          startTime,
          argv,
          cwd,
          env: spec.env,
          spawnId,
          spawned: spawned !== null,
          flags: spec.flags,
          heartbeat: spec.heartbeat,
          at: this.clock.now(),
        }]);
      } catch (err) {
        watch?.cancel();
        if (spawned) this.#kill(pid, startTime);
        throw err;
      }
      if (spawned) this.#monitorSpawned(name, spawned);
      else this.#monitorWatch(name, pid, watch!);
      if (spec.heartbeat) this.#startHeartbeat(name);
      this.emit({ type: "attach", entity: name, detail: { pid, kind: spec.kind ?? "attached" } });
      if (filling) this.#track(this.fire({ type: "attach", entity: name }));
      return { entity: name, pid };
    } finally {
      this.#reserved.delete(name);
    }
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
    this.emit({ type: "detach", entity: name });
    await this.fire({ type: "detach", entity: name });
    await this.#store.commit([{ t: "remove", entity: name }]);
    return { entity: name };
  }

  #monitorSpawned(name: string, p: SpawnedProcess): void {
    let live = true;
    this.#monitors.set(name, { pid: p.pid, cancel: () => (live = false) });
    p.status.then((st) => {
      if (live) this.#track(this.handleExit(name, p.pid, st));
    });
  }

  #monitorWatch(name: string, pid: number, w: ReturnType<ProcessOps["watch"]>): void {
    this.#monitors.set(name, { pid, cancel: () => w.cancel() });
    w.exited.then((st) => {
      if (st) this.#track(this.handleExit(name, pid, st));
    });
  }

  #knownPids(): Set<number> {
    const s = new Set<number>();
    for (const e of this.state.entities.values()) if (e.pid !== null) s.add(e.pid);
    return s;
  }

  /**
   * The process of an entity ended. A spawned command that exits 0 leaving a daemon behind
   * is followed to the daemon; otherwise this is a death: `death` (and `abnormal-death`
   * for a core-dump signal) fire, and an entity that ends up not restarted is removed
   * unless keep-on-death.
   */
  async handleExit(name: string, pid: number, st: ExitStatus): Promise<void> {
    if (this.#stopped) return;
    const e = this.state.entities.get(name);
    if (!e || e.pid !== pid) return;
    if (this.#monitors.get(name)?.pid === pid) this.#monitors.delete(name);
    if (st.code === 0 && e.spawnId) {
      const daemon = this.processes.findDaemon(e.spawnId, this.#knownPids());
      if (daemon !== null && this.#follow(name, daemon)) return;
    }
    const abnormal = st.signal !== null && CORE_SIGNALS.has(st.signal);
    const death: RecordBody = {
      t: "death",
      entity: name,
      pid,
      code: st.code,
      signal: st.signal,
      at: this.clock.now(),
    };
    this.emit({
      type: "death",
      entity: name,
      detail: { pid, code: st.code, signal: st.signal, abnormal },
    });
    if (!e.enabled) {
      this.record([death, { t: "death-done", entity: name }]);
      return;
    }
    // The death and the runs it starts go out in one durable write: after a takeover a
    // death either has its runs journaled (resume them) or was never acted on (fire again).
    await this.#fire({ type: abnormal ? "abnormal-death" : "death", entity: name }, [death]);
    this.#finishDeath(name);
  }

  /** After a death's lists ran: remove the entity unless restarted or kept. */
  #finishDeath(name: string): void {
    const after = this.state.entities.get(name);
    if (!after || !after.deathPending) return;
    const remove = after.pid === null && !(after.flags & HENTITYKEEPONDEATH) && after.enabled;
    this.record(remove ? [{ t: "remove", entity: name }] : [{ t: "death-done", entity: name }]);
    if (remove) this.emit({ type: "remove", entity: name, detail: { reason: "not restarted" } });
  }

  #follow(name: string, pid: number): boolean {
    const d = this.processes.describe(pid);
    if (!d) return false;
    let w;
    try {
      w = this.processes.watch(pid, d.startTime);
    } catch {
      return false;
    }
    this.record([{ t: "follow", entity: name, pid, startTime: d.startTime }]);
    this.#monitorWatch(name, pid, w);
    this.log.log("info", `Entity "${name}" daemonized: following pid ${pid}`);
    this.emit({ type: "follow", entity: name, detail: { pid } });
    return true;
  }

  /** Fires the conditions an event matches; resolves when their lists have run. */
  fire(ev: EntityEvent): Promise<void> {
    return this.#fire(ev, []);
  }

  /**
   * Journals `before` and the event's runs, then runs them at once: the journal write
   * proceeds in parallel (a restart does not wait for an fsync). Runs of a death get ids
   * derived from the death (entity, death count, condition), so a HAM that takes over and
   * fires the same death again reproduces the same step markers and adopts what this HAM
   * spawned (`adopt`) instead of starting it twice.
   */
  async #fire(ev: EntityEvent, before: RecordBody[], adopt = false): Promise<void> {
    if (before.length > 0) this.record(before);
    const selected = this.#select(ev);
    if (selected.length === 0 && before.length === 0) return;
    await this.#dispatch(ev, selected, adopt);
  }

  // A restart by an earlier list (which prunes) or a later edit does not change what an
  // event runs: the lists were taken when it happened.
  async #dispatch(ev: EntityEvent, selected: Selected[], adopt = false): Promise<void> {
    const death = ev.type === "death" || ev.type === "abnormal-death";
    const deaths = this.state.entities.get(ev.entity)?.deaths ?? 0;
    const specs: RunSpec[] = selected.filter((s) => s.list !== null).map(({ f, list }) => ({
      run: death ? `${ev.entity}#${deaths}/${f.owner}/${f.condition}` : newRunId(),
      firing: f,
      ev,
      list: list!,
      start: 0,
      resumed: false,
      adopt,
    }));
    this.record([{
      t: "fire",
      event: { ...ev },
      runs: specs.map((s) => ({
        run: s.run,
        owner: s.firing.owner,
        condition: s.firing.condition,
        lane: s.firing.lane,
        list: s.list,
      })),
    }]);
    await Promise.all(specs.map((spec) => this.#runOnLane(spec)));
  }

  /** Which conditions fire, with their lists taken as they are now. */
  #select(ev: EntityEvent): Selected[] {
    return firings(this.state, ev).map((f) => ({ f, list: listOf(this.state, f) }));
  }

  #runOnLane(spec: RunSpec): Promise<void> {
    const f = spec.firing;
    return this.#lanes.run(
      f.lane,
      () => runCondition(this, spec),
      (err) => this.log.log("error", `Condition "${f.owner}/${f.condition}" failed: ${err}`),
    );
  }

  /** Journals records and waits until they are durable; false (logged) when that failed. */
  async durable(bodies: RecordBody[]): Promise<boolean> {
    try {
      await this.#store.commit(bodies);
      return true;
    } catch (err) {
      this.log.log(
        "error",
        `Cannot record ${bodies.map((b) => b.t).join(", ")}: ${(err as Error).message}`,
      );
      return false;
    }
  }

  /**
   * The restart action: idempotent (a running entity is left alone), spawns the restart
   * command (or the entity's own), records the new pid and raises `restart`.
   */
  async restart(
    name: string,
    params: Extract<ActionParams, { kind: "restart" }>,
    site?: ActionSite,
  ): Promise<boolean> {
    const e = this.state.entities.get(name);
    if (!e || this.#stopped) return false;
    if (e.pid !== null) return true;
    const argv = params.argv ?? e.argv;
    if (!argv) {
      this.log.log("warn", `Cannot restart entity "${name}": it has no command`);
      return false;
    }
    if (!await this.#applyPolicy(name, params)) return false;
    if (this.#stopped || this.state.entities.get(name)?.pid !== null) return !this.#stopped;
    return this.#spawnRestart(name, params, argv, site);
  }

  /**
   * Restart-storm protection: waits out a backoff, or on hitting the intensity limit
   * raises `restart-limit` and either gives up or waits the cool-down for one slow retry.
   * True when the restart may go ahead.
   */
  async #applyPolicy(
    name: string,
    params: Extract<ActionParams, { kind: "restart" }>,
  ): Promise<boolean> {
    const policy = params.policy;
    const e = this.state.entities.get(name);
    if (!policy || !e) return true;
    const d = decideRestart(policy, e.recentRestarts ?? [], this.clock.now(), Math.random());
    if (d.kind === "now") return true;
    if (d.kind === "backoff") {
      this.record([{ t: "restart-policy", entity: name, backoffMs: d.delayMs, blocked: null }]);
      this.emit({ type: "backoff", entity: name, detail: { delayMs: d.delayMs } });
      return await this.clock.sleep(d.delayMs, this.haltSignal);
    }
    const blocked = policy.cooldownMs > 0
      ? `${d.reason}: retrying once after ${policy.cooldownMs} ms`
      : `${d.reason}: given up`;
    this.record([{ t: "restart-policy", entity: name, backoffMs: 0, blocked }]);
    this.log.log("warn", `Entity "${name}" is not being restarted: ${blocked}`);
    this.emit({ type: "restart-limit", entity: name, detail: { reason: blocked } });
    // Not awaited: the restart-limit lists may share this lane.
    this.#track(this.fire({ type: "restart-limit", entity: name }));
    if (policy.cooldownMs === 0) return false;
    return await this.clock.sleep(policy.cooldownMs, this.haltSignal);
  }

  #spawnRestart(
    name: string,
    params: Extract<ActionParams, { kind: "restart" }>,
    argv: string[],
    site?: ActionSite,
  ): boolean {
    const e = this.state.entities.get(name)!;
    // Within a run the marker names the step, so a HAM that takes over finds what a
    // previous HAM spawned for that very step instead of spawning a second process.
    const spawnId = site?.spawnId ?? newSpawnId();
    // `restart` conditions fire for the restart that prunes them (decided; see README).
    const onRestart = this.#select({ type: "restart", entity: name });
    const adopted = site?.adopt ? this.#adoptSpawned(spawnId) : null;
    let pid: number, startTime: string | null;
    if (adopted) {
      ({ pid, startTime } = adopted);
      this.#monitorWatch(name, pid, adopted.watch);
    } else {
      let p: SpawnedProcess;
      try {
        p = this.processes.spawn(argv, { entity: name, spawnId, cwd: e.cwd, env: e.env });
      } catch (err) {
        this.log.log("warn", `Cannot restart entity "${name}": ${(err as Error).message}`);
        return false;
      }
      ({ pid, startTime } = p);
      this.#monitorSpawned(name, p);
    }
    this.record([{
      t: "restart",
      entity: name,
      pid,
      argv: params.argv,
      startTime,
      spawnId,
      at: this.clock.now(),
    }]);
    const restarted = this.state.entities.get(name);
    if (restarted?.heartbeat) {
      this.#startHeartbeat(name, restarted.kind === "self" ? RESTART_HEARTBEAT_GRACE_MS : 0);
    }
    this.log.log("info", `Restarted entity "${name}" as pid ${pid}${adopted ? " (adopted)" : ""}`);
    this.emit({ type: "restart", entity: name, detail: { pid, adopted: adopted !== null } });
    this.#track(this.#dispatch({ type: "restart", entity: name }, onRestart));
    return true;
  }

  #adoptSpawned(spawnId: string) {
    const pid = this.processes.findSpawned(spawnId);
    if (pid === null) return null;
    const d = this.processes.describe(pid);
    if (!d) return null;
    try {
      return { pid, startTime: d.startTime, watch: this.processes.watch(pid, d.startTime) };
    } catch {
      return null;
    }
  }

  /**
   * Picks up a recovered state (start-up on an existing state directory, or a Guardian
   * takeover): action lists a previous HAM left unfinished continue at their first action
   * that had not completed; a death whose conditions were never fired is fired now, once;
   * a process still alive with the same start time is watched again without a restart;
   * one that died while no HAM was watching has its death handled.
   */
  resume(): void {
    for (const spawnId of [...(this.state.pendingSpawns ?? [])]) {
      const pid = this.processes.findSpawned(spawnId);
      if (pid !== null) {
        this.log.log("warn", `Ending pid ${pid}: its attach was never acknowledged`);
        this.#kill(pid, this.processes.describe(pid)?.startTime ?? null);
      }
      this.record([{ t: "attach-abandoned", spawnId }]);
    }
    const deathRuns = new Map<string, Promise<void>[]>();
    for (const run of [...this.state.runs.values()]) {
      const ev = run.event as EntityEvent;
      this.log.log(
        "info",
        `Resuming "${run.owner}/${run.condition}" for ${ev.type} of "${ev.entity}" at action ${
          run.next + 1
        } of ${run.list.length}`,
      );
      const p = this.#track(this.#runOnLane({
        run: run.name,
        firing: { owner: run.owner, condition: run.condition, lane: run.lane },
        ev,
        list: run.list,
        start: run.next,
        resumed: true,
      }));
      if (ev.type === "death" || ev.type === "abnormal-death") {
        deathRuns.set(ev.entity, [...deathRuns.get(ev.entity) ?? [], p]);
      }
    }
    for (const e of [...this.state.entities.values()]) {
      if (e.deathPending) {
        const name = e.name;
        const signal = e.lastExit?.signal ?? null;
        const type = signal !== null && CORE_SIGNALS.has(signal) ? "abnormal-death" : "death";
        const done = e.deathFired
          ? Promise.all(deathRuns.get(name) ?? []).then(() => {})
          : this.#fire({ type, entity: name }, [], true);
        this.#track(done.then(() => this.#finishDeath(name)));
      }
      if (e.pid === null || this.#monitors.has(e.name)) continue;
      const pid = e.pid;
      let w;
      try {
        w = this.processes.watch(pid, e.startTime);
      } catch {
        this.log.log("warn", `Entity "${e.name}" (pid ${pid}) died while no HAM was watching`);
        this.#track(this.handleExit(e.name, pid, { code: null, signal: null }));
        continue;
      }
      this.#monitorWatch(e.name, pid, w);
      // A grace of one full period after a restart of the HAM or a takeover.
      if (e.heartbeat) this.#startHeartbeat(e.name);
    }
  }

  /** Stops all monitoring; running lists end at their next step. */
  stop(): void {
    this.#stopped = true;
    this.#halt.abort();
    for (const m of this.#monitors.values()) m.cancel();
    this.#monitors.clear();
    for (const b of this.#beats.values()) b.stop.abort();
    this.#beats.clear();
  }

  async #reattachSelf(spec: AttachSpec): Promise<{ entity: string; pid: number }> {
    const e = getEntity(this.state, spec.entity);
    await this.#store.commit([{
      t: "attach",
      entity: e.name,
      kind: "self",
      pid: e.pid!,
      startTime: e.startTime,
      argv: e.argv,
      cwd: e.cwd,
      env: e.env,
      spawnId: e.spawnId,
      spawned: e.spawned,
      flags: spec.flags,
      heartbeat: spec.heartbeat,
      at: this.clock.now(),
    }]);
    if (spec.heartbeat) this.#startHeartbeat(e.name);
    this.emit({ type: "reattach", entity: e.name, detail: { pid: e.pid } });
    return { entity: e.name, pid: e.pid! };
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
    this.#track(this.handleExit(name, pid, { code: null, signal: null }));
  }

  /** Runs a do-now action once, at registration, on its condition's lane. */
  runNow(entity: string, condition: string, action: string): void {
    const c = this.state.entities.get(entity)?.conditions.get(condition);
    const a = c?.actions.find((x) => x.name === action);
    if (!c || !a) return;
    const site = { owner: entity, condition, action, subject: entity };
    this.#track(this.#lanes.run(laneOf(c.flags), async () => {
      const ok = await runAction(this, a.params, site);
      this.record([{ t: "result", entity, condition, action, fail: null, ok }]);
      this.emit({
        type: "action",
        entity,
        condition: `${entity}/${condition}`,
        action,
        detail: { kind: a.params.kind, ok, now: true },
      });
    }, (err) => this.log.log("error", `Action "${entity}/${condition}/${action}" failed: ${err}`)));
  }

  /** Publishes a new state for an entity and fires matching `state` conditions. */
  async publishState(
    name: string,
    to: number,
  ): Promise<{ entity: string; from: number; to: number }> {
    const e = getEntity(this.state, name);
    const from = e.state;
    await this.#store.commit([{ t: "state", entity: name, to }]);
    this.emit({ type: "state", entity: name, detail: { from, to } });
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
    this.emit({ type: "raise", entity: name, detail: { ...raised } });
    this.#track(this.fire({ type: "raise", entity: name, raised }));
    return Promise.resolve({ entity: name });
  }

  /** Notes a heartbeat; a no-op success for an entity that does not heartbeat (QNX). */
  heartbeat(name: string, now: number): { entity: string } {
    const e = getEntity(this.state, name);
    if (!e.heartbeat) return { entity: name };
    e.lastBeat = now;
    const b = this.#beats.get(name);
    if (b) b.seen = true;
    return { entity: name };
  }

  /**
   * Starts (or restarts) an entity's heartbeat accounting; periods count from now plus
   * `graceMs` (a restarted self-attached process gets {@linkcode RESTART_HEARTBEAT_GRACE_MS}
   * to start and attach itself again; its re-attach starts the accounting afresh).
   */
  #startHeartbeat(name: string, graceMs = 0): void {
    this.#beats.get(name)?.stop.abort();
    const stop = new AbortController();
    const beat = { seen: false, stop };
    this.#beats.set(name, beat);
    const origin = this.clock.now() + graceMs;
    this.#track((async () => {
      let now = origin;
      while (!stop.signal.aborted) {
        const e = this.state.entities.get(name);
        if (!e || e.pid === null || !e.heartbeat || this.#stopped) break;
        const spec = e.heartbeat;
        const end = periodEnd(origin, spec.periodMs, now);
        if (!await this.clock.sleep(end - this.clock.now(), stop.signal)) break;
        now = end;
        const cur = this.state.entities.get(name);
        if (!cur || cur.pid === null || !cur.enabled) continue;
        const r = tick(spec, { missed: cur.hbMissed, health: cur.hbHealth }, beat.seen);
        beat.seen = false;
        // Only changes are journaled: a healthy beating entity writes nothing.
        if (r.next.missed !== cur.hbMissed || r.next.health !== cur.hbHealth) {
          this.record([{
            t: "heartbeat",
            entity: name,
            missed: r.next.missed,
            health: r.next.health,
            lastBeat: cur.lastBeat,
          }]);
        }
        for (const type of r.fire) {
          this.emit({
            type: "heartbeat",
            entity: name,
            detail: { condition: type, missed: r.next.missed },
          });
          this.#track(this.fire({ type, entity: name }));
        }
      }
      if (this.#beats.get(name) === beat) this.#beats.delete(name);
    })());
  }
}
