/**
 * The restart action of the engine: restart-storm policy (backoff, intensity limit,
 * cool-down), spawning the restart command, and adopting a process that a previous HAM
 * spawned for the same step.
 *
 * @module
 */

import type { ActionSite } from "./action_runner.ts";
import { DEFAULTS } from "../core/defaults.ts";
import type { ActionParams, RestartPolicy } from "../core/model.ts";
import type { ProcessLookup } from "./process_ops.ts";
import type { RestartClock } from "./restart_clock.ts";
import type { EngineParts, Watching } from "./seams.ts";
import { decideRestart, POLICY_DEFAULTS, type RestartDecision } from "../core/restart_policy.ts";
import { newSpawnId, type SpawnedProcess } from "../os/spawner.ts";

/** The parameters of a restart action. */
export type RestartParams = Extract<ActionParams, { kind: "restart" }>;

/** An operator's restart (`hamctl restart`), journaled as `restart-request`. */
export interface RestartRequest {
  params: RestartParams;
  /** The new process's spawn marker (the record's). */
  spawnId: string;
  /** A previous HAM may have spawned it already: adopt it. */
  adopt: boolean;
}

/** What a restart needs of its step: the spawn marker, whether to adopt by it, and its lane's release while it waits. */
export type SpawnSite = Pick<ActionSite, "spawnId" | "adopt" | "release">;

/** What {@linkcode Restarter} may do: the engine's parts, and watching processes. */
export interface RestartParts extends EngineParts {
  readonly watching: Watching;
  /**
   * Resolves once what the entity's last process left behind has been ended; null when
   * nothing is left to wait for (a look for it that was due is made at once).
   */
  leftoversSettled(name: string): Promise<void> | null;
  /** Where a process to adopt is looked for: a resume's scan while one is under way. */
  lookup(): Pick<ProcessLookup, "findSpawned">;
  /** The ages of restarts, unmoved by steps of the wall clock (told of each restart). */
  readonly restartClock: RestartClock;
}

/** Restarts entities for the engine. */
export class Restarter {
  #ctx: RestartParts;

  /** Creates a restarter over the engine's context. */
  constructor(ctx: RestartParts) {
    this.#ctx = ctx;
  }

  /**
   * The restart action: idempotent (a running entity is left alone), spawns the restart
   * command (or the entity's own), records the new pid and raises `restart`.
   */
  async restart(name: string, params: RestartParams, site?: SpawnSite): Promise<boolean> {
    const ctx = this.#ctx;
    const e = ctx.journal.state.entities.get(name);
    if (!e || ctx.life.stopped) return false;
    if (e.pid !== null) return true;
    const argv = params.argv ?? e.argv;
    if (!argv) {
      ctx.log.log("warn", `Cannot restart entity "${name}": it has no command`);
      return false;
    }
    // A process a previous HAM spawned for this very step runs already: adopted at once
    // (that HAM waited out the policy, and ended what was left behind, before it spawned).
    if (site?.adopt && site.spawnId && ctx.lookup().findSpawned(site.spawnId) !== null) {
      return this.#spawnRestart(name, params, argv, site);
    }
    // Awaited only when there is something to wait for: a restart the policy allows now,
    // with nothing left behind to end, spawns in the turn its condition fired in. A wait
    // is this entity's alone, not its lane's (QNX's restart does not wait): the lists of
    // other entities behind it go ahead meanwhile.
    const allowed = this.#applyPolicy(name, params);
    if (allowed !== true) {
      site?.release?.();
      if (!await allowed) return false;
    }
    // The new copy never meets the old one's children (kill mode control-group).
    const settled = ctx.leftoversSettled(name);
    if (settled !== null) {
      site?.release?.();
      await settled;
    }
    if (ctx.life.stopped || ctx.journal.state.entities.get(name)?.pid !== null) {
      return !ctx.life.stopped;
    }
    return this.#spawnRestart(name, params, argv, site);
  }

  /**
   * Restart-storm protection: waits out a backoff, or on hitting the intensity limit
   * raises `restart-limit` and either gives up or waits the cool-down for one slow retry.
   * True (at once, when it may go ahead now) or a promise of whether it may go ahead.
   */
  #applyPolicy(name: string, params: RestartParams): true | Promise<boolean> {
    const ctx = this.#ctx;
    // A restart action without a policy gets the default one (5 starts in 10 s, with a
    // backoff): a command that exits at once is not restarted in a tight loop.
    const policy = params.policy ?? POLICY_DEFAULTS;
    const e = ctx.journal.state.entities.get(name);
    if (!e) return true;
    // Counted on the monotonic clock where it can be: a step of the wall clock moves no window.
    const recent = ctx.restartClock.recent(name, e.recentRestarts ?? []);
    const d = decideRestart(policy, recent, ctx.clock.now(), Math.random());
    if (d.kind === "now") return true;
    return this.#wait(name, policy, d);
  }

  async #wait(
    name: string,
    policy: RestartPolicy,
    d: Exclude<RestartDecision, { kind: "now" }>,
  ): Promise<boolean> {
    const ctx = this.#ctx;
    if (d.kind === "backoff") {
      void ctx.journal.record([{
        t: "restart-policy",
        entity: name,
        backoffMs: d.delayMs,
        blocked: null,
      }]);
      ctx.events.emit({ type: "backoff", entity: name, detail: { delayMs: d.delayMs } });
      return await ctx.clock.sleep(d.delayMs, ctx.life.haltSignal);
    }
    const blocked = policy.cooldownMs > 0
      ? `${d.reason}: retrying once after ${policy.cooldownMs} ms`
      : `${d.reason}: given up`;
    void ctx.journal.record([{ t: "restart-policy", entity: name, backoffMs: 0, blocked }]);
    ctx.log.log("warn", `Entity "${name}" is not being restarted: ${blocked}`);
    ctx.events.emit({ type: "restart-limit", entity: name, detail: { reason: blocked } });
    // Not awaited: the restart-limit lists may share this lane.
    ctx.life.track(ctx.events.fire({ type: "restart-limit", entity: name }));
    if (policy.cooldownMs === 0) return false;
    return await ctx.clock.sleep(policy.cooldownMs, ctx.life.haltSignal);
  }

  #spawnRestart(
    name: string,
    params: RestartParams,
    argv: string[],
    site?: SpawnSite,
  ): boolean {
    const ctx = this.#ctx;
    const e = ctx.journal.state.entities.get(name)!;
    // Within a run the marker names the step, so a HAM that takes over finds what a
    // previous HAM spawned for that very step instead of spawning a second process.
    const spawnId = site?.spawnId ?? newSpawnId();
    // `restart` conditions fire for the restart that prunes them (decided; see README).
    const onRestart = ctx.events.prepare({ type: "restart", entity: name });
    const adopted = site?.adopt ? this.#adoptSpawned(spawnId) : null;
    let pid: number, startTime: string | null;
    if (adopted) {
      ({ pid, startTime } = adopted);
      ctx.watching.watched(name, pid, adopted.watch);
    } else {
      let p: SpawnedProcess;
      try {
        // The new process runs first: what follows (its watch, record and event) waits.
        const opts = { entity: name, spawnId, cwd: e.cwd, env: e.env, yieldCpu: true };
        p = ctx.processes.spawn(argv, opts);
      } catch (err) {
        ctx.log.log("warn", `Cannot restart entity "${name}": ${(err as Error).message}`);
        return false;
      }
      ({ pid, startTime } = p);
      ctx.watching.spawned(name, p);
    }
    ctx.life.step("restart spawned");
    const at = ctx.clock.now();
    ctx.restartClock.made(name, at);
    void ctx.journal.record([{
      t: "restart",
      entity: name,
      pid,
      argv: params.argv,
      startTime,
      spawnId,
      at,
    }]);
    const restarted = ctx.journal.state.entities.get(name);
    if (restarted?.heartbeat) {
      ctx.watching.heartbeat(
        name,
        restarted.kind === "self" ? DEFAULTS.restartHeartbeatGraceMs : 0,
      );
    }
    ctx.log.log("notice", `Restarted entity "${name}" as pid ${pid}${adopted ? " (adopted)" : ""}`);
    ctx.events.emit({ type: "restart", entity: name, detail: { pid, adopted: adopted !== null } });
    ctx.life.track(onRestart());
    return true;
  }

  #adoptSpawned(spawnId: string) {
    const ctx = this.#ctx;
    const pid = ctx.lookup().findSpawned(spawnId);
    if (pid === null) return null;
    const d = ctx.processes.describe(pid);
    if (!d) return null;
    try {
      return { pid, startTime: d.startTime, watch: ctx.processes.watch(pid, d.startTime) };
    } catch {
      return null;
    }
  }
}
