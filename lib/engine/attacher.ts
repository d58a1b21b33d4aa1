/**
 * Attaching processes to the engine: spawning a command (journaled first, so a HAM that
 * dies mid-way leaves a process the next one can find), or watching a running pid, and
 * the re-attach of a self-attached process.
 *
 * @module
 */

import { HamError } from "../core/errors.ts";
import { DEFAULTS } from "../core/defaults.ts";
import { firesNothing, firesNothingNote } from "../core/heartbeat.ts";
import { getEntity, type KillMode } from "../core/model.ts";
import type { ProcessOps } from "./process_ops.ts";
import type { Request } from "../core/protocol.ts";
import type { RecordBody } from "../core/records.ts";
import type { EngineParts, Watching } from "./seams.ts";
import { newSpawnId, type SpawnedProcess } from "../os/spawner.ts";

/** What to attach: the fields of an `attach` request, and whether it attaches itself. */
export type AttachSpec = Omit<Extract<Request, { op: "attach" }>, "id" | "op" | "killMode"> & {
  kind?: "attached" | "self";
  /**
   * Record the command line and directory of the attached pid (from `/proc`), which a
   * restart without a command of its own runs. False for a process that attached itself
   * without the `admin` role: the HAM would run what it chose, as the HAM's user.
   * @default {true}
   */
  commandFromProc?: boolean;
  /** @default {DEFAULTS.killMode} */
  killMode?: KillMode;
  /**
   * Only renews a self-attachment (`kind: "self"`): ENOENT, and nothing attached, unless
   * the entity exists, self-attached by `pid`. @default false
   */
  renew?: boolean;
};

/** What {@linkcode Attacher} may do: the engine's parts, watching, and ending a process. */
export interface AttachParts extends EngineParts {
  readonly watching: Watching;
  /** Resolves once what the entity's last process left behind has been ended. */
  leftoversSettled(name: string): Promise<void>;
  /** Ends a process this engine spawned (SIGKILL; already gone is fine). */
  kill(pid: number, startTime: string | null): void;
}

/** Attaches entities for the engine; holds the names being attached right now. */
export class Attacher {
  #ctx: AttachParts;
  #reserved = new Set<string>();

  /** Creates an attacher over the engine's context. */
  constructor(ctx: AttachParts) {
    this.#ctx = ctx;
  }

  /**
   * Attaches a command (spawned now) or a running pid. Fills a placeholder (raising
   * `attach`) or a dead kept entity; refuses a name that is in use with EEXIST.
   */
  async attach(spec: AttachSpec): Promise<{ entity: string; pid: number }> {
    const ctx = this.#ctx;
    const name = spec.entity;
    const existing = ctx.journal.state.entities.get(name);
    if (spec.renew) {
      // After a takeover: an entity detached or removed meanwhile is not made again.
      if (existing?.kind !== "self" || existing.pid !== spec.pid) {
        throw new HamError(
          "ENOENT",
          `Cannot renew the self-attachment of entity "${name}" by pid ${spec.pid}: ` +
            (existing ? "it is no longer self-attached by that process" : "no such entity"),
        );
      }
    }
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
        // Filling a kept dead entity: its new process never meets the old one's children.
        if (filling) await ctx.leftoversSettled(name);
        // Journaled first: a HAM that dies between this spawn and the attach record leaves a
        // process that the next HAM finds by its marker and ends (the attach was never
        // acknowledged).
        const intent: RecordBody = { t: "attach-intent", entity: name, spawnId: spawnId! };
        await ctx.journal.write([intent]);
        try {
          spawned = ctx.processes.spawn(spec.argv, {
            entity: name,
            spawnId: spawnId!,
            cwd,
            env: spec.env,
          });
        } catch (err) {
          void ctx.journal.record([{ t: "attach-abandoned", spawnId: spawnId! }]);
          throw err;
        }
        pid = spawned.pid;
        startTime = spawned.startTime;
        ctx.life.step("attach spawned");
      } else {
        pid = spec.pid!;
        const d = ctx.processes.describe(pid);
        if (!d) throw new HamError("ESRCH", `Cannot attach entity "${name}": no process ${pid}`);
        this.#checkOneSelf(spec, pid, d.startTime);
        watch = ctx.processes.watch(pid, d.startTime);
        startTime = d.startTime;
        // Another user's process may rewrite its own command line: not for the HAM to run.
        const named = (spec.commandFromProc ?? true) && d.foreign !== true;
        argv = named && d.argv && d.argv.length > 0 ? d.argv : null;
        // A working directory the caller gives is the restarts' (as its env is); else the
        // process's own.
        cwd = spec.cwd ?? (named ? d.cwd : null);
        if (d.foreign === true && spec.kind !== "self") {
          ctx.log.log(
            "notice",
            `Entity "${name}": pid ${pid} runs as another user than the HAM: its command is ` +
              `not recorded, and a restart of it needs a restart action that gives one`,
          );
        }
      }
      try {
        await ctx.journal.write([{
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
          killMode: spec.killMode ?? DEFAULTS.killMode,
          at: ctx.clock.now(),
        }]);
      } catch (err) {
        watch?.cancel();
        if (spawned) ctx.kill(pid, startTime);
        throw err;
      }
      if (spawned) ctx.watching.spawned(name, spawned);
      else ctx.watching.watched(name, pid, watch!);
      if (spec.heartbeat) {
        ctx.watching.heartbeat(name);
        if (firesNothing(spec.heartbeat)) {
          ctx.log.log("notice", firesNothingNote(name, spec.heartbeat));
        }
      }
      ctx.events.emit({
        type: "attach",
        entity: name,
        detail: { pid, kind: spec.kind ?? "attached" },
      });
      if (filling) ctx.life.track(ctx.events.fire({ type: "attach", entity: name }));
      return { entity: name, pid };
    } finally {
      this.#reserved.delete(name);
    }
  }

  /**
   * A self-attached process is its one entity (QNX's `ham_heartbeat()` names none, and the
   * connection's end is the process's death): EEXIST for a self-attachment of a process
   * another entity watches, and for an attach by pid of a process that self-attached.
   * Several entities may watch one process by pid (a process that beats for several).
   */
  #checkOneSelf(spec: AttachSpec, pid: number, startTime: string | null): void {
    const ctx = this.#ctx;
    // The index answers the usual case (a pid no entity has) without a walk.
    if (ctx.journal.entityPids && !ctx.journal.entityPids.has(pid)) return;
    const self = spec.kind === "self";
    for (const e of ctx.journal.state.entities.values()) {
      if (e.pid !== pid || e.name === spec.entity || (!self && e.kind !== "self")) continue;
      // The same process: a pid handed out again is another one.
      if (e.startTime !== null && startTime !== null && e.startTime !== startTime) continue;
      throw new HamError(
        "EEXIST",
        self
          ? `Cannot self-attach entity "${spec.entity}": pid ${pid} is already entity "${e.name}"`
          : `Cannot attach entity "${spec.entity}": pid ${pid} self-attached as entity "${e.name}"`,
      );
    }
  }

  async #reattachSelf(spec: AttachSpec): Promise<{ entity: string; pid: number }> {
    const ctx = this.#ctx;
    const e = getEntity(ctx.journal.state, spec.entity);
    await ctx.journal.write([{
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
      killMode: e.killMode,
      at: ctx.clock.now(),
    }]);
    if (spec.heartbeat) ctx.watching.heartbeat(e.name);
    ctx.events.emit({ type: "reattach", entity: e.name, detail: { pid: e.pid } });
    return { entity: e.name, pid: e.pid! };
  }
}
