/**
 * A store for crash tests of the engine: records apply at once (as in the real store),
 * but become durable only a macrotask later, like an fsync; {@linkcode CrashableStore.crash}
 * freezes it and returns what was durable at that instant — what a HAM that takes over
 * would replay.
 *
 * @module
 */

import type { Store } from "../../lib/engine/engine.ts";
import { createState, type HamState } from "../../lib/core/model.ts";
import type { HamRecord, RecordBody } from "../../lib/core/records.ts";
import { applyRecord } from "../../lib/core/reducer.ts";
import { MemoryStore } from "./memory_store.ts";

/** A store whose writes turn durable asynchronously, and that can crash. */
export class CrashableStore implements Store {
  readonly state: HamState = createState();
  readonly records: HamRecord[] = [];
  #durableSeq = 0;
  #crashed = false;

  /** Applies `bodies` now; resolves on a later macrotask, once they are "durable". */
  commit(bodies: RecordBody[]): Promise<HamRecord[]> {
    // A dead HAM never hears back; rejecting lets the dead engine's work settle.
    if (this.#crashed) return Promise.reject(new Error("crashed"));
    const out: HamRecord[] = [];
    for (const body of bodies) {
      const record = { ...body, seq: this.state.seq + 1 } as HamRecord;
      applyRecord(this.state, record);
      this.records.push(record);
      out.push(record);
    }
    const last = this.state.seq;
    return new Promise((resolve, reject) =>
      setTimeout(() => {
        if (this.#crashed) return reject(new Error("crashed"));
        this.#durableSeq = Math.max(this.#durableSeq, last);
        resolve(out);
      }, 0)
    );
  }

  /** Freezes the store; returns a store holding only the records durable until now. */
  crash(): MemoryStore {
    this.#crashed = true;
    const next = new MemoryStore();
    void next.commit(this.records.filter((r) => r.seq <= this.#durableSeq));
    return next;
  }

  /** A fresh state from every record (durable or not). */
  replay(): HamState {
    const state = createState();
    for (const r of this.records) applyRecord(state, r);
    return state;
  }
}
