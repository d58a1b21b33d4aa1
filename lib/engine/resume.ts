/**
 * Picking up a recovered state: how an engine continues what a previous HAM left behind.
 *
 * @module
 */

import { DEFAULTS } from "../core/defaults.ts";
import { executeMarker, type RunSpec } from "./action_runner.ts";
import type { RunState } from "../core/model.ts";
import { adoptCommand, waitCommand } from "./command_wait.ts";
import type { EntityEvent } from "../core/dispatch.ts";
import { CORE_SIGNALS } from "../core/flags.ts";
import type { Deaths } from "./deaths.ts";
import type { ProcessLookup } from "./process_ops.ts";
import type { EngineParts, Watching } from "./seams.ts";

/** What {@linkcode resume} may do. */
export interface ResumeParts
  extends Pick<EngineParts, "journal" | "life" | "processes" | "log" | "clock"> {
  readonly watching: Watching;
  readonly deaths: Pick<Deaths, "exited" | "resumed">;
  /** One scan of every process, for all the resume's looks (see `os/proc_scan.ts`). */
  readonly lookup: Pick<ProcessLookup, "findSpawned" | "leftovers">;
  /** Ends a process (SIGKILL; already gone is fine). */
  kill(pid: number, startTime: string | null): void;
  /** True when the engine already watches the entity's process. */
  monitored(name: string): boolean;
  /** Runs a journaled run on its lane. */
  runOnLane(spec: RunSpec): Promise<void>;
  /** Fires a death again after a takeover, adopting what the previous HAM spawned. */
  refire(ev: EntityEvent): Promise<void>;
}

/** Ends a process whose attach the previous HAM never acknowledged. */
function endAbandoned(ctx: ResumeParts, pid: number): void {
  ctx.log.log("warn", `Ending pid ${pid}: its attach was never acknowledged`);
  ctx.kill(pid, ctx.processes.describe(pid)?.startTime ?? null);
}

/**
 * Looks again, for a while ({@linkcode DEFAULTS.abandonedSpawnLookMs}, at doubling
 * intervals), for the processes of abandoned attaches not found at the resume: a process
 * the dead HAM had forked and not yet `exec`'d carries its spawn marker only once it has
 * (and on a loaded machine that can come after a takeover), and would run on unwatched.
 */
async function lookAgain(ctx: ResumeParts, spawnIds: string[]): Promise<void> {
  let left = [...spawnIds];
  let waited = 0;
  for (let delay = 25; left.length > 0 && waited < DEFAULTS.abandonedSpawnLookMs; delay *= 2) {
    const step = Math.min(delay, DEFAULTS.abandonedSpawnLookMs - waited);
    if (!await ctx.clock.sleep(step, ctx.life.haltSignal)) return;
    waited += step;
    left = left.filter((spawnId) => {
      const pid = ctx.processes.findSpawned(spawnId);
      if (pid === null) return true;
      endAbandoned(ctx, pid);
      return false;
    });
  }
}

/**
 * The action-fail `execute` commands of a run that a previous HAM may have left running:
 * those of the action it stopped at and of the one before it (a step's result is written
 * before its fail list runs, and may not have been when that HAM died). Fail lists are not
 * resumed, so these are not started again; each one still running (found by its spawn
 * marker in the resume's scan) is waited for before the run goes on, within what is left of
 * its time limit (`command_wait.ts`). Null when none runs. The step's own command, if it
 * still runs, is adopted by the step itself (`execute` in `action_runner.ts`).
 */
function leftFailCommands(ctx: ResumeParts, run: RunState): Promise<unknown> | null {
  const waits: Promise<unknown>[] = [];
  for (const index of [run.next - 1, run.next]) {
    for (const f of run.list[index]?.fails ?? []) {
      if (f.params.kind !== "execute") continue;
      const marker = executeMarker(`${run.name}:${index}`, f.name);
      if (ctx.lookup.findSpawned(marker) === null) continue;
      const cmd = adoptCommand(ctx, marker);
      if (cmd === null) continue;
      const path = `${run.owner}/${run.condition}/${run.list[index].name}/${f.name}`;
      ctx.log.log(
        "notice",
        `Resuming "${run.owner}/${run.condition}": waiting for pid ${cmd.pid}, the command of ` +
          `action-fail "${path}" the previous HAM started`,
      );
      const limit = f.params.timeoutMs ?? DEFAULTS.executeTimeoutMs;
      waits.push(waitCommand(ctx, cmd, marker, limit, {
        owner: `Action-fail "${path}"`,
        command: f.params.argv[0],
      }));
    }
  }
  return waits.length === 0 ? null : Promise.all(waits);
}

/**
 * Picks up a recovered state (start-up on an existing state directory, or a Guardian
 * takeover): action lists a previous HAM left unfinished continue at their first action
 * that had not completed, adopting by spawn marker what any of their steps spawned; a
 * death whose conditions were never fired is fired now, once; a process still alive with
 * the same start time is watched again without a restart; one that died while no HAM was
 * watching has its death handled, after the death of it that was being handled. Settles
 * once every run and death it picked up is over.
 */
export function resume(ctx: ResumeParts): Promise<unknown> {
  const { journal, processes, log } = ctx;
  const picked: Promise<unknown>[] = [];
  const unseen: string[] = [];
  for (const spawnId of [...(journal.state.pendingSpawns ?? [])]) {
    const pid = ctx.lookup.findSpawned(spawnId);
    if (pid !== null) endAbandoned(ctx, pid);
    else unseen.push(spawnId);
    void journal.record([{ t: "attach-abandoned", spawnId }]);
  }
  // Not waited for by the engine's idle(): it ends at its deadline or at the stop.
  if (unseen.length > 0) void lookAgain(ctx, unseen).catch(() => {});
  const deathRuns = new Map<string, Promise<void>[]>();
  for (const run of [...journal.state.runs.values()]) {
    // A fail list's command may still run, the previous HAM's: waited for first.
    const stale = leftFailCommands(ctx, run);
    const after = stale === null ? undefined : ctx.life.track(stale);
    const ev = run.event as EntityEvent;
    log.log(
      "info",
      `Resuming "${run.owner}/${run.condition}" for ${ev.type} of "${ev.entity}" at action ${
        run.next + 1
      } of ${run.list.length}`,
    );
    const p = ctx.life.track(ctx.runOnLane({
      run: run.name,
      firing: { owner: run.owner, condition: run.condition, lane: run.lane },
      ev,
      list: run.list,
      start: run.next,
      resumed: true,
      after,
    }));
    picked.push(p);
    if (ev.type === "death" || ev.type === "abnormal-death") {
      deathRuns.set(ev.entity, [...deathRuns.get(ev.entity) ?? [], p]);
    }
  }
  for (const e of [...journal.state.entities.values()]) {
    const name = e.name;
    if (e.deathPending) {
      const signal = e.lastExit?.signal ?? null;
      const type = signal !== null && CORE_SIGNALS.has(signal) ? "abnormal-death" : "death";
      const fired = e.deathFired;
      picked.push(ctx.deaths.resumed(
        name,
        () =>
          fired
            ? Promise.all(deathRuns.get(name) ?? []).then(() => {})
            : ctx.refire({ type, entity: name }),
      ));
    }
    if (e.pid === null || ctx.monitored(name)) continue;
    const pid = e.pid;
    let w;
    try {
      w = processes.watch(pid, e.startTime);
    } catch {
      log.log("warn", `Entity "${name}" (pid ${pid}) died while no HAM was watching`);
      picked.push(ctx.deaths.exited(name, pid, { code: null, signal: null }));
      continue;
    }
    ctx.watching.watched(name, pid, w);
    // A grace of one full period after a restart of the HAM or a takeover.
    if (e.heartbeat) ctx.watching.heartbeat(name);
  }
  return Promise.allSettled(picked);
}
