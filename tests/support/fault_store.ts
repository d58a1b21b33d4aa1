/**
 * A store for crash tests of the engine: records apply at once (as in the real store), are
 * written (in the journal file) a macrotask later and durable a macrotask after that, like
 * a write and then an fsync; {@linkcode CrashableStore.crash} freezes it and returns what
 * was written at that instant — what a HAM that takes over would replay (a HAM's death
 * leaves the page cache to the Guardian; only the machine's crash loses written records,
 * and that one ends the monitored processes too).
 *
 * @module
 */

import type { Store } from "../../lib/engine/engine.ts";
import { createState, type HamState } from "../../lib/core/model.ts";
import type { HamRecord, RecordBody } from "../../lib/core/records.ts";
import { applyRecord } from "../../lib/core/reducer.ts";
import { MemoryStore } from "./memory_store.ts";

/** A store whose writes turn written, then durable, asynchronously, and that can crash. */
export class CrashableStore implements Store {
  readonly state: HamState = createState();
  readonly records: HamRecord[] = [];
  /** While true, nothing turns durable (a slow fsync) until {@linkcode releaseSync}. */
  stallSync = false;
  #writtenSeq = 0;
  #durableSeq = 0;
  #crashed = false;
  #stalled: Array<() => void> = [];

  /** Applies `bodies` now; resolves once they are durable (see {@linkcode append}). */
  commit(bodies: RecordBody[]): Promise<HamRecord[]> {
    return this.append(bodies).durable;
  }

  /** Applies `bodies` now; `written` on a later macrotask, `durable` on one after it. */
  append(bodies: RecordBody[]): { written: Promise<void>; durable: Promise<HamRecord[]> } {
    // A dead HAM never hears back; rejecting lets the dead engine's work settle.
    if (this.#crashed) {
      const dead = Promise.reject(new Error("crashed"));
      dead.catch(() => {});
      return { written: dead, durable: dead };
    }
    const out: HamRecord[] = [];
    for (const body of bodies) {
      const record = { ...body, seq: this.state.seq + 1 } as HamRecord;
      applyRecord(this.state, record);
      this.records.push(record);
      out.push(record);
    }
    const last = this.state.seq;
    const written = new Promise<void>((resolve, reject) =>
      setTimeout(() => {
        if (this.#crashed) return reject(new Error("crashed"));
        this.#writtenSeq = Math.max(this.#writtenSeq, last);
        resolve();
      }, 0)
    );
    const durable = written.then(() =>
      new Promise<HamRecord[]>((resolve, reject) => {
        const sync = () =>
          setTimeout(() => {
            if (this.#crashed) return reject(new Error("crashed"));
            this.#durableSeq = Math.max(this.#durableSeq, last);
            resolve(out);
          }, 0);
        if (this.stallSync) this.#stalled.push(sync);
        else sync();
      })
    );
    written.catch(() => {});
    durable.catch(() => {});
    return { written, durable };
  }

  /** The seq of the last durable record. */
  get durableSeq(): number {
    return this.#durableSeq;
  }

  /** Ends a {@linkcode stallSync}: what waited turns durable. */
  releaseSync(): void {
    this.stallSync = false;
    for (const sync of this.#stalled.splice(0)) sync();
  }

  /** Freezes the store; returns a store holding only the records written until now. */
  crash(): MemoryStore {
    this.#crashed = true;
    const next = new MemoryStore();
    void next.commit(this.records.filter((r) => r.seq <= this.#writtenSeq));
    return next;
  }

  /** A fresh state from every record (durable or not). */
  replay(): HamState {
    const state = createState();
    for (const r of this.records) applyRecord(state, r);
    return state;
  }
}
