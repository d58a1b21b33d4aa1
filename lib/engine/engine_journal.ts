/**
 * The engine's one way to write the journal, with one failure rule (see
 * {@linkcode JournalWriter}).
 *
 * @module
 */

import { toHamError } from "../core/errors.ts";
import type { HamState } from "../core/model.ts";
import type { RecordBody } from "../core/records.ts";
import type { Logger } from "../os/logger.ts";
import type { JournalWriter } from "./seams.ts";

/** The part of the state store the engine uses. `commit` applies records at once. */
export interface Store {
  readonly state: HamState;
  commit(bodies: RecordBody[]): Promise<unknown>;
}

/** Writes records through a {@linkcode Store}: applied now, durable when it resolves. */
export class EngineJournal implements JournalWriter {
  #store: Store;
  #log: Logger;
  #step: (name: string) => void;

  /** Creates a writer over `store`; `step` marks the step boundary after each write. */
  constructor(store: Store, log: Logger, step: (name: string) => void = () => {}) {
    this.#store = store;
    this.#log = log;
    this.#step = step;
  }

  /** The current state. */
  get state(): HamState {
    return this.#store.state;
  }

  /**
   * Applies `bodies` at once; resolves when they are durable. A failure is logged here,
   * then rejects (a caller that does not wait leaves it handled).
   */
  write(bodies: RecordBody[]): Promise<void> {
    let commit: Promise<unknown>;
    try {
      commit = this.#store.commit(bodies);
    } catch (err) {
      commit = Promise.reject(err);
    }
    const types = bodies.map((b) => b.t).join(", ");
    this.#step(`wrote ${types}`);
    const done = commit.then(() => this.#step(`durable ${types}`), (err) => {
      const e = toHamError(err);
      this.#log.log("error", `Cannot record ${types}: ${e.message}`);
      throw e;
    });
    done.catch(() => {});
    return done;
  }
}
