/**
 * The engine's one way to write the journal, with one failure rule (see
 * {@linkcode JournalWriter}).
 *
 * @module
 */

import { toHamError } from "../core/errors.ts";
import type { PidSet } from "../core/entity_pids.ts";
import type { HamState } from "../core/model.ts";
import type { RecordBody } from "../core/records.ts";
import type { Logger } from "../os/logger.ts";
import type { JournalWriter } from "./seams.ts";

/** The part of the state store the engine uses. `commit` applies records at once. */
export interface Store {
  readonly state: HamState;
  /** The entities' pids of `state`, indexed; without it they are looked for in `state`. */
  readonly entityPids?: PidSet;
  commit(bodies: RecordBody[]): Promise<unknown>;
  /**
   * Applies records at once, like `commit`; `written` resolves once they are where a HAM
   * that takes over reads them (the journal file), `durable` once fdatasync'd. Without it,
   * records count as written when durable.
   */
  append?(
    bodies: RecordBody[],
    opts?: { retry?: boolean },
  ): { written: Promise<unknown>; durable: Promise<unknown>; inFile?: boolean };
}

/** Writes records through a {@linkcode Store}: applied now, durable when it resolves. */
export class EngineJournal implements JournalWriter {
  #store: Store;
  #log: Logger;
  #step: (name: string) => void;
  #applied: (bodies: readonly RecordBody[]) => void;

  /**
   * Creates a writer over `store`; `step` marks the step boundary after each write, and
   * `applied` is told of the records each write applied to the state, once applied.
   */
  constructor(
    store: Store,
    log: Logger,
    step: (name: string) => void = () => {},
    applied: (bodies: readonly RecordBody[]) => void = () => {},
  ) {
    this.#store = store;
    this.#log = log;
    this.#step = step;
    this.#applied = applied;
  }

  /** The current state. */
  get state(): HamState {
    return this.#store.state;
  }

  /** The entities' pids, indexed by the store; null when it keeps no index. */
  get entityPids(): PidSet | null {
    return this.#store.entityPids ?? null;
  }

  /**
   * Applies `bodies` at once; resolves when they are durable. A failure is logged here,
   * then rejects (a caller that does not wait leaves it handled).
   */
  write(bodies: RecordBody[]): Promise<void> {
    return this.#append(bodies).durable;
  }

  /**
   * Applies `bodies` at once; resolves when they are written (in the journal file, where a
   * Guardian that takes over reads them), before they are durable: for the event path,
   * which acts on a death without waiting for the fdatasync (see `writtenOrNow` in
   * `JournalWriter`). Null when they were in the file before this returned (an idle
   * journal writes at once): the caller goes on in this turn. Rejects when the write
   * failed; a failure of the fdatasync after it is logged, and the store reloads the state.
   */
  writtenOrNow(bodies: RecordBody[]): Promise<void> | null {
    const { written, inFile } = this.#append(bodies, true);
    return inFile ? null : written;
  }

  /**
   * Applies `bodies` at once: what has happened already (see `record` in
   * `JournalWriter`), kept and written again while the journal refuses it, never rolled
   * back. Resolves when they are written.
   */
  record(bodies: RecordBody[]): Promise<void> {
    return this.#append(bodies, true).written;
  }

  #append(
    bodies: RecordBody[],
    retry = false,
  ): { written: Promise<void>; durable: Promise<void>; inFile: boolean } {
    let written: Promise<unknown>, durable: Promise<unknown>;
    let inFile = false;
    try {
      if (this.#store.append) {
        ({ written, durable, inFile = false } = this.#store.append(bodies, { retry }));
      } else {
        written = durable = this.#store.commit(bodies);
      }
      this.#applied(bodies);
    } catch (err) {
      written = durable = Promise.reject(err);
    }
    const types = bodies.map((b) => b.t).join(", ");
    this.#step(`wrote ${types}`);
    const failed = (err: unknown) => {
      const e = toHamError(err);
      this.#log.log("error", `Cannot record ${types}: ${e.message}`);
      throw e;
    };
    const done = durable.then(() => this.#step(`durable ${types}`), failed);
    done.catch(() => {});
    // A failed write rejects both: it is logged once, by `durable`.
    const inTheFile = written.then(() => {}, (err) => {
      throw toHamError(err);
    });
    inTheFile.catch(() => {});
    return { written: inTheFile, durable: done, inFile };
  }
}
