/**
 * Multistage recovery (QNX §5.1): runs one fired condition's action list FIFO; when an
 * action fails, runs its action-fail list, removes it unless keep-on-fail, and stops the
 * list if break-on-fail. Every run and outcome is journaled as a `result` record.
 *
 * @module
 */

import type { EntityEvent, Firing } from "../core/dispatch.ts";
import { HACTIONBREAKONFAIL, HACTIONKEEPONFAIL } from "../core/flags.ts";
import type { Action, ActionParams, HamState } from "../core/model.ts";
import type { WireRequest } from "../core/protocol.ts";
import { DEFAULTS } from "../core/defaults.ts";
import { type ErrorCode, toHamError } from "../core/errors.ts";
import { newSpawnId, SPAWN_ID_VAR } from "../os/spawner.ts";
import { adoptCommand, type Command, waitCommand } from "./command_wait.ts";
import type { EngineParts } from "./seams.ts";
import type { Release } from "./lanes.ts";

/** What a notify or signal action naming another node asks of that node's HAM. */
export type NodeRequest = Extract<WireRequest, { op: "notify" } | { op: "kill" }>;

/**
 * Sends `request` to the HAM of `node` (over mutual TLS); resolves once it was carried out
 * there, rejects with the `HamError` of the failure.
 */
export type Forward = (node: string, request: NodeRequest) => Promise<void>;

/** What the runner may do: the engine's parts, restarting an entity, and notifying. */
export interface RunnerContext
  extends Pick<EngineParts, "journal" | "life" | "events" | "processes" | "clock" | "log"> {
  restart(
    entity: string,
    params: Extract<ActionParams, { kind: "restart" }>,
    site?: ActionSite,
  ): Promise<boolean>;
  notify(channel: string, message: Record<string, unknown>): boolean;
  /** Hands a notify or signal action naming another node to that node's HAM. */
  forward: Forward;
}

/** Forwards an action to another node; a failure (logged with its code) is the action's. */
async function forwarded(
  ctx: RunnerContext,
  path: string,
  node: string,
  request: NodeRequest,
): Promise<boolean> {
  try {
    await ctx.forward(node, request);
    return true;
  } catch (err) {
    const e = toHamError(err);
    ctx.log.log(
      "warn",
      `Action "${path}" failed: cannot forward it to node "${node}": ${e.code}: ${e.message}`,
    );
    return false;
  }
}

/** Where an action runs: its own path, and the entity the event happened to. */
export interface ActionSite {
  owner: string;
  condition: string;
  action: string;
  /** The entity the event is about (differs from owner for global conditions). */
  subject: string;
  /** A spawn marker that identifies this step of this run (for an idempotent restart). */
  spawnId?: string;
  /** The step may have started under a previous HAM: adopt what it spawned. */
  adopt?: boolean;
  /**
   * Lets the run's lane go on without it while the step waits for something that is not a
   * waitfor (a restart's backoff or cool-down, the end of what the last process left).
   */
  release?: Release;
  /** The item of the action's fail list that runs, when one does. */
  fail?: string;
}

/**
 * The spawn marker (`HAM_SPAWN_ID`) of an `execute` step's command: of the action at
 * `spawnId` (a run's step, `RUN:INDEX`), or of its fail list's item `fail`. A HAM that takes
 * over finds by it the commands a previous HAM left running (see `resume.ts`).
 */
export function executeMarker(spawnId: string, fail?: string): string {
  return fail === undefined ? `${spawnId}/execute` : `${spawnId}/fail/${fail}`;
}

/**
 * The `execute` action: runs the command and waits for it, up to its time limit. Past it,
 * the command and what it forked get SIGTERM, and SIGKILL after `executeStopTimeoutMs`,
 * and the action fails with ETIMEDOUT once they are gone. A step of a resumed run whose
 * command the previous HAM started and left running waits for that one instead of
 * starting it again (`command_wait.ts`); its end counts as a success.
 */
async function execute(
  ctx: RunnerContext,
  params: Extract<ActionParams, { kind: "execute" }>,
  site: ActionSite,
  path: string,
  failed: (code: ErrorCode) => void,
): Promise<boolean> {
  const subject = ctx.journal.state.entities.get(site.subject);
  const marker = executeMarker(site.spawnId ?? newSpawnId(), site.fail);
  const adopted = site.adopt && site.spawnId !== undefined ? adoptCommand(ctx, marker) : null;
  let cmd: Command;
  if (adopted !== null) {
    ctx.log.log(
      "notice",
      `Action "${path}": waiting for pid ${adopted.pid}, the command the previous HAM started ` +
        "for this step (its exit status cannot be known: its end counts as a success)",
    );
    cmd = adopted;
  } else {
    const env = {
      HAM_ENTITY: site.subject,
      HAM_CONDITION: site.condition,
      HAM_ACTION: site.action,
      HAM_PID: String(subject?.pid ?? subject?.lastExit?.pid ?? ""),
      [SPAWN_ID_VAR]: marker,
    };
    cmd = { ...ctx.processes.run(params.argv, env, subject?.cwd ?? null), startedAt: null };
  }
  const limit = params.timeoutMs ?? DEFAULTS.executeTimeoutMs;
  const end = await waitCommand(ctx, cmd, marker, limit, {
    owner: `Action "${path}"`,
    command: params.argv[0],
  });
  if (end.kind === "stopped") return false;
  if (end.kind === "timed-out") {
    failed("ETIMEDOUT");
    return false;
  }
  const st = end.status;
  if (st.code === null && st.signal === null) return true; // Adopted: its status is unknown.
  if (st.code !== 0) {
    ctx.log.log(
      "warn",
      `Action "${path}" failed: "${params.argv[0]}" exited with ${st.signal ?? `code ${st.code}`}`,
    );
  }
  return st.code === 0;
}

/**
 * Runs one action; true when it succeeded. Never throws. A failure with an error code of
 * its own (an `execute` past its time limit: ETIMEDOUT) is also told to `failed`.
 */
export async function runAction(
  ctx: RunnerContext,
  params: ActionParams,
  site: ActionSite,
  failed: (code: ErrorCode) => void = () => {},
): Promise<boolean> {
  const path = `${site.owner}/${site.condition}/${site.action}`;
  const subject = ctx.journal.state.entities.get(site.subject);
  try {
    switch (params.kind) {
      case "restart":
        return await ctx.restart(site.subject, params, site);
      case "execute":
        return await execute(ctx, params, site, path, failed);
      case "waitfor": {
        if (params.pathname === null) {
          return await ctx.clock.sleep(params.delayMs, ctx.life.haltSignal) || !ctx.life.stopped;
        }
        const seen = await ctx.processes.waitForPath(params.pathname, params.delayMs);
        if (!seen) {
          ctx.log.log(
            "warn",
            `Action "${path}" failed: "${params.pathname}" did not appear within ${params.delayMs} ms`,
          );
        }
        return seen;
      }
      case "signal": {
        if (params.node !== undefined) {
          return await forwarded(ctx, path, params.node, {
            op: "kill",
            entity: params.entity!,
            signal: params.signal,
          });
        }
        const pid = params.pid ?? subject?.pid ?? null;
        if (pid === null) {
          ctx.log.log("warn", `Action "${path}" failed: entity "${site.subject}" has no process`);
          return false;
        }
        const startTime = params.pid === null ? subject?.startTime ?? null : null;
        ctx.processes.signal(pid, params.signal, startTime);
        return true;
      }
      case "log":
        ctx.log.logAt(
          params.verbosity,
          params.prefix ? `${path}: ${params.message}` : params.message,
        );
        return true;
      case "heartbeat-healthy": {
        if (subject) {
          void ctx.journal.record([{
            t: "heartbeat",
            entity: site.subject,
            missed: 0,
            health: "healthy",
            lastBeat: subject.lastBeat,
          }]);
        }
        return true;
      }
      case "notify": {
        if (params.node !== undefined) {
          return await forwarded(ctx, path, params.node, {
            op: "notify",
            channel: params.channel,
            code: params.code,
            value: params.value,
            entity: site.subject,
            condition: `${site.owner}/${site.condition}`,
            action: site.action,
          });
        }
        // The condition by its path: a global condition's is `@global/COND`.
        const sent = ctx.notify(params.channel, {
          code: params.code,
          value: params.value,
          entity: site.subject,
          condition: `${site.owner}/${site.condition}`,
          action: site.action,
        });
        if (!sent) {
          ctx.log.log(
            "warn",
            `Action "${path}" failed: no subscriber of channel "${params.channel}" is connected ` +
              "and the channel cannot keep the notification (no durable event log, or its backlog is full)",
          );
        }
        return sent;
      }
    }
  } catch (err) {
    ctx.log.log("warn", `Action "${path}" failed: ${err instanceof Error ? err.message : err}`);
    return false;
  }
}

/** The action list of a condition as it is now, or null when the condition is gone. */
export function listOf(state: HamState, firing: Firing): Action[] | null {
  const cond = state.entities.get(firing.owner)?.conditions.get(firing.condition);
  return cond && cond.enabled ? [...cond.actions] : null;
}

/** One run of an action list: fresh (start 0) or resumed after a takeover. */
export interface RunSpec {
  run: string;
  firing: Firing;
  ev: EntityEvent;
  /** The list as it was when the condition fired. */
  list: Action[];
  /** Index of the first action to run. */
  start: number;
  /** True when resuming a run journaled by a previous HAM. */
  resumed: boolean;
  /** Every step may have run under a previous HAM (a death fired again): adopt. */
  adopt?: boolean;
  /** Lets the run's lane go on without it (see {@linkcode ActionSite.release}). */
  release?: Release;
  /** Waited for before the first step: the previous HAM's commands of it being ended. */
  after?: Promise<unknown>;
}

/**
 * Runs the action list of one fired condition, as it was when the condition fired; an
 * action disabled since is skipped. The run was journaled by the `fire` record; each
 * action's completion is journaled too, so a HAM that takes over resumes it at the first
 * action that had not completed instead of repeating it.
 */
export async function runCondition(ctx: RunnerContext, spec: RunSpec): Promise<void> {
  const { run, firing, ev, list } = spec;
  if (ctx.life.stopped) return;
  const cpath = `${firing.owner}/${firing.condition}`;
  if (spec.after) await spec.after;
  if (!spec.resumed) {
    ctx.events.emit({
      type: "condition",
      entity: ev.entity,
      condition: cpath,
      detail: { event: ev.type },
    });
  }
  for (let index = spec.start; index < list.length; index++) {
    if (ctx.life.stopped) return;
    const snap = list[index];
    const live = ctx.journal.state.entities.get(firing.owner)?.conditions.get(firing.condition)
      ?.actions
      .find((a) => a.name === snap.name);
    const site: ActionSite = {
      owner: firing.owner,
      condition: firing.condition,
      action: snap.name,
      subject: ev.entity,
      spawnId: `${run}:${index}`,
      // Any step of a resumed run may have started under the previous HAM: the result of
      // the one before it need not have been durable when that HAM died.
      adopt: spec.adopt === true || spec.resumed,
      release: spec.release,
    };
    if (live && !live.enabled) {
      void ctx.journal.record([{ ...base(site), fail: null, ok: true, run, index, skipped: true }]);
      continue;
    }
    const ok = await runStep(ctx, snap, live, site, { run, index, ev: ev.entity, cpath });
    if (ok === null) return;
    if (!ok && ((live?.flags ?? snap.flags) & HACTIONBREAKONFAIL)) break;
  }
  void ctx.journal.record([{ t: "run-end", run }]);
}

/** Where a step belongs: its run (absent for a do-now action) and the event's entity. */
export interface StepContext {
  run?: string;
  index?: number;
  /** The entity the event happened to. */
  ev: string;
  /** The condition's path, for events. */
  cpath: string;
  /** Marks the events of a do-now action. */
  now?: boolean;
}

/**
 * Runs one action of a list and what follows from its outcome (QNX §5.1): its result is
 * journaled; on failure its action-fail list runs and the action is removed unless
 * keep-on-fail. The same rules for a list's step and a do-now action. Null when the engine
 * stopped meanwhile (nothing is recorded about the interrupted action).
 */
export async function runStep(
  ctx: RunnerContext,
  snap: Action,
  live: Action | undefined,
  site: ActionSite,
  step: StepContext,
): Promise<boolean | null> {
  const flags = live?.flags ?? snap.flags;
  ctx.life.step(`action ${snap.params.kind}`);
  let error: ErrorCode | undefined;
  const ok = await runAction(ctx, snap.params, site, (code) => (error = code));
  if (ctx.life.stopped) return null;
  const at = step.run === undefined ? {} : { run: step.run, index: step.index };
  void ctx.journal.record([{ ...base(site), fail: null, ok, ...at }]);
  const now = step.now ? { now: true } : {};
  ctx.events.emit({
    type: "action",
    entity: step.ev,
    condition: step.cpath,
    action: snap.name,
    detail: { kind: snap.params.kind, ok, ...(error ? { error } : {}), ...now },
  });
  if (ok) return true;
  // The action's completion is journaled before its action-fail list runs: a HAM that
  // takes over during the list goes on with the next action (fail lists are not resumed).
  for (const f of snap.fails) {
    let ferror: ErrorCode | undefined;
    const fok = await runAction(ctx, f.params, { ...site, fail: f.name }, (c) => (ferror = c));
    if (ctx.life.stopped) return null;
    void ctx.journal.record([{ ...base(site), fail: f.name, ok: fok }]);
    ctx.events.emit({
      type: "action-fail",
      entity: step.ev,
      condition: step.cpath,
      action: `${snap.name}/${f.name}`,
      detail: { kind: f.params.kind, ok: fok, ...(ferror ? { error: ferror } : {}), ...now },
    });
  }
  if (!(flags & HACTIONKEEPONFAIL) && live) {
    void ctx.journal.record([{ t: "action-remove", ...pathOf(site), auto: true }]);
  }
  return false;
}

function pathOf(site: ActionSite): { entity: string; condition: string; action: string } {
  return { entity: site.owner, condition: site.condition, action: site.action };
}

function base(
  site: ActionSite,
): { t: "result"; entity: string; condition: string; action: string } {
  return { t: "result", ...pathOf(site) };
}
