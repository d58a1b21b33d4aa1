/**
 * What the engine's helpers may do: the narrow interfaces the {@linkcode Engine} hands to
 * its restarter, attacher, death queue, resume, heartbeat monitor and action runner,
 * instead of its private state. Each helper names the parts it uses.
 *
 * @module
 */

import type { EntityEvent } from "../core/dispatch.ts";
import type { PidSet } from "../core/entity_pids.ts";
import type { HamState } from "../core/model.ts";
import type { EventBody } from "../core/protocol.ts";
import type { RecordBody } from "../core/records.ts";
import type { Logger } from "../os/logger.ts";
import type { SpawnedProcess } from "../os/spawner.ts";
import type { Clock } from "../os/clock.ts";
import type { ProcessOps, WatchHandle } from "./process_ops.ts";

/**
 * The journal, written the one way. `write` applies the records to `state` at once and
 * resolves when they are durable. When they cannot be made durable it logs the failure,
 * the state is rolled back to what is durable, and it rejects with the `HamError`. A step
 * that must not act before its records are durable (a request's answer, the runs of a
 * death) awaits it; any other step may leave it (the failure is logged either way).
 */
export interface JournalWriter {
  /** The current state (read-only by convention: change it through `write`). */
  readonly state: HamState;
  /** The entities' pids of `state`, indexed; null (or absent) when none is kept. */
  readonly entityPids?: PidSet | null;
  write(bodies: RecordBody[]): Promise<void>;
  /**
   * Applies `bodies` at once; resolves when they are written to the journal file, before
   * they are durable. A HAM that takes over (after this one died, its machine running on)
   * reads what was written; only a crash of the machine loses it, and that crash ends the
   * monitored processes too. The event path acts on a death once it is written. Null
   * when they were written before this returned (an idle journal writes at once): the
   * event path goes on in the same turn.
   */
  writtenOrNow(bodies: RecordBody[]): Promise<void> | null;
  /**
   * Applies `bodies` at once: records of what has happened already (a process started,
   * an action's result, a death handled), which a refused write cannot take back as it
   * takes back a refused request. Kept instead, and written again every
   * `refusedWriteRetryMs` until the journal takes them (`writtenOrNow` is the same);
   * resolves when they are written. Requests' changes use `write`, and fail at once while
   * such records wait.
   */
  record(bodies: RecordBody[]): Promise<void>;
}

/** The engine's lifetime: the work {@linkcode Engine.idle} waits for, and its stop. */
export interface Lifetime {
  /** True once the engine stopped: running lists end before their next step. */
  readonly stopped: boolean;
  /** Aborted when the engine stops; waits in actions end early. */
  readonly haltSignal: AbortSignal;
  /** Counts `p` as work in progress until it settles. */
  track<T>(p: Promise<T>): Promise<T>;
  /** A step boundary of the engine (where the test-only kill point may strike). */
  step(name: string): void;
}

/** Raising events: to the event stream, and to the conditions. */
export interface Events {
  emit(ev: EventBody): void;
  /** Fires the conditions `ev` matches; resolves when their lists have run. */
  fire(ev: EntityEvent): Promise<void>;
  /** Takes the conditions `ev` matches with their lists now; the function runs them. */
  prepare(ev: EntityEvent): () => Promise<void>;
}

/** Watching the processes of entities (a watched process's end is a death). */
export interface Watching {
  /** Watches a process the engine spawned. */
  spawned(name: string, p: SpawnedProcess): void;
  /** Watches a process through its pidfd. */
  watched(name: string, pid: number, w: WatchHandle): void;
  /** Starts (or restarts) an entity's heartbeat accounting after `graceMs`. */
  heartbeat(name: string, graceMs?: number): void;
}

/** The parts every helper may use. */
export interface EngineParts {
  readonly journal: JournalWriter;
  readonly life: Lifetime;
  readonly events: Events;
  readonly processes: ProcessOps;
  readonly clock: Clock;
  readonly log: Logger;
}
