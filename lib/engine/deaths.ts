/**
 * The deaths of entities, one at a time per entity: a process that ends is a death (or a
 * daemon to follow); each death journals itself with the runs it fires in one durable write
 * before any action runs, its lists run, and then it alone is judged: an entity that was
 * not restarted is removed unless keep-on-death. A death that arrives while an earlier
 * death of the same entity is being handled waits its turn, and an entity is never removed
 * while a death of it is waiting.
 *
 * @module
 */

import type { EntityEvent } from "../core/dispatch.ts";
import { CORE_SIGNALS, HENTITYKEEPONDEATH } from "../core/flags.ts";
import type { Entity, ExitStatus } from "../core/model.ts";
import type { RecordBody } from "../core/records.ts";
import type { EngineParts } from "./seams.ts";
import type { RestartRequest } from "./restarter.ts";

/** How a process ended, for the log: `exited with code 1`, `was killed by SIGKILL`. */
export function describeExit(st: ExitStatus): string {
  if (st.signal !== null) return `died: killed by ${st.signal}`;
  if (st.code !== null) return `died: exited with code ${st.code}`;
  return "died (exit status unknown: not a child of this HAM)";
}

/** What {@linkcode Deaths} may do. */
export interface DeathParts extends EngineParts {
  /**
   * Journals `before` with the runs `ev` fires, durably, then runs them; resolves when
   * they have run. Rejects (nothing run) when the journal write failed. `adopt`: the
   * steps may have run under a previous HAM. `fired` is called once the runs have started
   * (their `condition` events emitted, unless a lane is busy), before any of them waits.
   */
  fireDurably(
    ev: EntityEvent,
    before: RecordBody[],
    adopt: boolean,
    fired?: () => void,
  ): Promise<void>;
  /** Follows the daemon a command left behind when it exited 0; false when there is none. */
  follow(name: string): boolean;
  /** The process of `e` (as it ran) died: ends or keeps what it left behind (kill mode). */
  leftBehind(e: Entity): void;
  /**
   * `look` (the death's {@linkcode leftBehind}, made once) will be called soon: a restart
   * waits for it, or makes it at once.
   */
  leftoversDue(name: string, look: () => void): void;
  /** An operator's pending restart of the entity (`hamctl restart`), taken; null if none. */
  takeRestartRequest(name: string): RestartRequest | null;
  /** Carries out an operator's restart. */
  restart(name: string, request: RestartRequest): Promise<boolean>;
}

interface Queue {
  tail: Promise<void>;
  /** Deaths queued or being handled, the current one included. */
  pending: number;
  /** The pids whose deaths are queued (an exit seen twice is one death). */
  pids: Set<number>;
}

/** The death queues of all entities. */
export class Deaths {
  #parts: DeathParts;
  #queues = new Map<string, Queue>();

  /** Creates the queues (empty). */
  constructor(parts: DeathParts) {
    this.#parts = parts;
  }

  /** True while a death of `name` is queued or being handled. */
  pending(name: string): boolean {
    return this.#queues.has(name);
  }

  /**
   * The process `pid` of entity `name` ended with `st`: follows a daemon it left behind,
   * or queues its death. Resolves when that death has been handled.
   */
  exited(name: string, pid: number, st: ExitStatus): Promise<void> {
    const { journal, life, events } = this.#parts;
    if (life.stopped) return Promise.resolve();
    const e = journal.state.entities.get(name);
    const queued = this.#queues.get(name)?.pids.has(pid) ?? false;
    if (!e || e.pid !== pid || queued) return Promise.resolve();
    if (st.code === 0 && e.spawnId && this.#parts.follow(name)) return Promise.resolve();
    // The process as it ran, for the look for what it left behind: made once the death's
    // conditions fired (off the event path), and always before a restart it leads to,
    // which waits until they are gone.
    const ran: Entity = { ...e };
    const abnormal = st.signal !== null && CORE_SIGNALS.has(st.signal);
    events.emit({
      type: "death",
      entity: name,
      detail: { pid, code: st.code, signal: st.signal, abnormal },
    });
    return this.#enqueue(name, pid, () => this.#handle(name, pid, st, abnormal, ran));
  }

  /**
   * A death a previous HAM journaled and did not finish: `handling` continues it (its
   * runs resumed, or its conditions fired again); then it is judged like any other.
   */
  resumed(name: string, handling: () => Promise<void>): Promise<void> {
    return this.#enqueue(name, null, async () => {
      await handling();
      this.#judge(name);
    });
  }

  #enqueue(name: string, pid: number | null, handle: () => Promise<void>): Promise<void> {
    let q = this.#queues.get(name);
    const idle = q === undefined;
    if (!q) {
      q = { tail: Promise.resolve(), pending: 0, pids: new Set() };
      this.#queues.set(name, q);
    }
    const queue = q;
    queue.pending++;
    if (pid !== null) queue.pids.add(pid);
    // The tail is set first: a death queued while this one runs its synchronous part waits.
    const before = queue.tail;
    const turn = Promise.withResolvers<void>();
    queue.tail = turn.promise;
    // No earlier death to wait for: handled now, in this turn (the event path), not after
    // whatever else the turn queued.
    const done = (idle ? handle() : before.then(handle)).finally(() => {
      queue.pending--;
      if (pid !== null) queue.pids.delete(pid);
      if (queue.pending === 0 && this.#queues.get(name) === queue) this.#queues.delete(name);
    });
    const settled = done.catch((err) =>
      this.#parts.log.log("error", `Cannot handle a death of entity "${name}": ${err}`)
    );
    void settled.then(turn.resolve);
    return this.#parts.life.track(settled);
  }

  /** One death, in its turn: journaled with its runs (durably, first), run, judged. */
  async #handle(
    name: string,
    pid: number,
    st: ExitStatus,
    abnormal: boolean,
    ran: Entity,
  ): Promise<void> {
    const { journal, life } = this.#parts;
    if (life.stopped) return;
    let looked = false;
    const leftBehind = () => {
      if (looked) return;
      looked = true; // Once, even if it throws.
      this.#parts.leftBehind(ran);
    };
    const e = journal.state.entities.get(name);
    // Attached anew, or removed, while it waited: that process's death is not this one.
    if (!e || e.pid !== pid) return leftBehind();
    const death: RecordBody = {
      t: "death",
      entity: name,
      pid,
      code: st.code,
      signal: st.signal,
      at: this.#parts.clock.now(),
    };
    // Written once the conditions fired (off the event path), before any line after it.
    this.#parts.log.soon("notice", `Entity "${name}" (pid ${pid}) ${describeExit(st)}`);
    const requested = this.#parts.takeRestartRequest(name);
    if (!e.enabled || requested) {
      leftBehind();
      // Kept while the journal refuses it (never taken back): the request is not lost.
      await journal.record([death, { t: "death-done", entity: name }]).catch(() => {});
      // An operator's restart: the death it caused fires nothing; the entity is started
      // again, disabled or not (disabled, its conditions do not fire; see README, "Decisions").
      if (requested) await this.#parts.restart(name, requested);
      return;
    }
    const ev: EntityEvent = { type: abnormal ? "abnormal-death" : "death", entity: name };
    try {
      this.#parts.leftoversDue(name, leftBehind);
      await this.#parts.fireDurably(ev, [death], false, leftBehind);
    } catch {
      leftBehind();
      return; // Logged by the journal: nothing was acted on, the state is as it was.
    }
    this.#judge(name);
  }

  /**
   * After a death's lists ran: an entity that was not restarted is removed unless
   * keep-on-death. One restarted and dead again (its next death queued) was restarted.
   */
  #judge(name: string): void {
    const { journal, events } = this.#parts;
    const after = journal.state.entities.get(name);
    if (!after || !after.deathPending) return;
    const later = (this.#queues.get(name)?.pending ?? 0) > 1;
    const kept = (after.flags & HENTITYKEEPONDEATH) !== 0;
    const remove = !later && after.pid === null && !kept && after.enabled;
    void journal.record([
      remove ? { t: "remove", entity: name } : { t: "death-done", entity: name },
    ]);
    if (remove) events.emit({ type: "remove", entity: name, detail: { reason: "not restarted" } });
  }
}
