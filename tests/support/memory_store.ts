/**
 * An in-memory {@linkcode Store} for unit tests: records are applied at once through the
 * one reducer, with increasing sequence numbers, and kept for assertions.
 *
 * @module
 */

import type { Store } from "../../lib/engine/engine.ts";
import { HamError } from "../../lib/core/errors.ts";
import { createState, type HamState } from "../../lib/core/model.ts";
import type { HamRecord, RecordBody } from "../../lib/core/records.ts";
import { applyRecord, touchedEntities } from "../../lib/core/reducer.ts";
import { EntityPids } from "../../lib/core/entity_pids.ts";

/** A store that keeps everything in memory. */
export class MemoryStore implements Store {
  /** The state, changed only by `applyRecord()`. */
  readonly state: HamState = createState();
  /** Every committed record, in order. */
  readonly records: HamRecord[] = [];
  /** The entities' pids, indexed as the state store keeps them. */
  readonly entityPids: EntityPids = new EntityPids(() => this.state);
  /** When set, `commit` rejects with this error and applies nothing (a full disk). */
  failCommits: HamError | null = null;

  /** Applies `bodies` synchronously; the promise only reports the outcome. */
  commit(bodies: RecordBody[]): Promise<HamRecord[]> {
    if (this.failCommits) return Promise.reject(this.failCommits);
    const out: HamRecord[] = [];
    for (const body of bodies) {
      const record = { ...body, seq: this.state.seq + 1 } as HamRecord;
      applyRecord(this.state, record);
      this.entityPids.touch(touchedEntities(record));
      this.records.push(record);
      out.push(record);
    }
    return Promise.resolve(out);
  }

  /**
   * Like `commit`, as an idle journal appends: written at once (`inFile`), so the event
   * path goes on in the same turn, and durable as soon as the promise is looked at.
   */
  append(
    bodies: RecordBody[],
  ): { written: Promise<HamRecord[]>; durable: Promise<HamRecord[]>; inFile: boolean } {
    const done = this.commit(bodies);
    return { written: done, durable: done, inFile: this.failCommits === null };
  }

  /** The committed records of one type. */
  recordsOf<T extends HamRecord["t"]>(t: T): Extract<HamRecord, { t: T }>[] {
    return this.records.filter((r): r is Extract<HamRecord, { t: T }> => r.t === t);
  }

  /** A fresh state rebuilt from the committed records alone (what a replay would give). */
  replay(): HamState {
    const state = createState();
    for (const r of this.records) applyRecord(state, r);
    return state;
  }
}

/** Makes a store whose commits fail with ENOSPC. */
export function fullDisk(): HamError {
  return new HamError("ENOSPC", "Cannot record: no space left on device");
}
