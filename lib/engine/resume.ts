/**
 * Picking up a recovered state: how an engine continues what a previous HAM left behind.
 *
 * @module
 */

import type { RunSpec } from "./action_runner.ts";
import type { EntityEvent } from "../core/dispatch.ts";
import { CORE_SIGNALS } from "../core/flags.ts";
import type { Logger } from "../os/logger.ts";
import type { ExitStatus, HamState } from "../core/model.ts";
import type { ProcessOps } from "./process_ops.ts";
import type { RecordBody } from "../core/records.ts";

/** What {@linkcode resume} needs of the engine. */
export interface ResumeContext {
  readonly state: HamState;
  readonly processes: ProcessOps;
  readonly log: Logger;
  record(bodies: RecordBody[]): void;
  track<T>(p: Promise<T>): Promise<T>;
  kill(pid: number, startTime: string | null): void;
  runOnLane(spec: RunSpec): Promise<void>;
  /** Fires an event again after a takeover, adopting what the previous HAM spawned. */
  refire(ev: EntityEvent): Promise<void>;
  finishDeath(name: string): void;
  monitored(name: string): boolean;
  handleExit(name: string, pid: number, st: ExitStatus): Promise<void>;
  monitorWatch(name: string, pid: number, w: ReturnType<ProcessOps["watch"]>): void;
  startHeartbeat(name: string, graceMs?: number): void;
}

/**
 * Picks up a recovered state (start-up on an existing state directory, or a Guardian
 * takeover): action lists a previous HAM left unfinished continue at their first action
 * that had not completed; a death whose conditions were never fired is fired now, once;
 * a process still alive with the same start time is watched again without a restart;
 * one that died while no HAM was watching has its death handled.
 */
export function resume(ctx: ResumeContext): void {
  for (const spawnId of [...(ctx.state.pendingSpawns ?? [])]) {
    const pid = ctx.processes.findSpawned(spawnId);
    if (pid !== null) {
      ctx.log.log("warn", `Ending pid ${pid}: its attach was never acknowledged`);
      ctx.kill(pid, ctx.processes.describe(pid)?.startTime ?? null);
    }
    ctx.record([{ t: "attach-abandoned", spawnId }]);
  }
  const deathRuns = new Map<string, Promise<void>[]>();
  for (const run of [...ctx.state.runs.values()]) {
    const ev = run.event as EntityEvent;
    ctx.log.log(
      "info",
      `Resuming "${run.owner}/${run.condition}" for ${ev.type} of "${ev.entity}" at action ${
        run.next + 1
      } of ${run.list.length}`,
    );
    const p = ctx.track(ctx.runOnLane({
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
  for (const e of [...ctx.state.entities.values()]) {
    if (e.deathPending) {
      const name = e.name;
      const signal = e.lastExit?.signal ?? null;
      const type = signal !== null && CORE_SIGNALS.has(signal) ? "abnormal-death" : "death";
      const done = e.deathFired
        ? Promise.all(deathRuns.get(name) ?? []).then(() => {})
        : ctx.refire({ type, entity: name });
      ctx.track(done.then(() => ctx.finishDeath(name)));
    }
    if (e.pid === null || ctx.monitored(e.name)) continue;
    const pid = e.pid;
    let w;
    try {
      w = ctx.processes.watch(pid, e.startTime);
    } catch {
      ctx.log.log("warn", `Entity "${e.name}" (pid ${pid}) died while no HAM was watching`);
      ctx.track(ctx.handleExit(e.name, pid, { code: null, signal: null }));
      continue;
    }
    ctx.monitorWatch(e.name, pid, w);
    // A grace of one full period after a restart of the HAM or a takeover.
    if (e.heartbeat) ctx.startHeartbeat(e.name);
  }
}
