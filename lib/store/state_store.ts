/**
 * The durable HAM state ({@linkcode StateStore}): the state built by the one replay path
 * (`replay.ts`), the journal that extends it, and the snapshots that fold the journal:
 * commit, reload after a failed write, compaction.
 *
 * @module
 */

import { JournalBell } from "./journal_bell.ts";
import { HamError, toHamError } from "../core/errors.ts";
import { fileError } from "./durable.ts";
import { type AppendOptions, Journal, type JournalFileOps } from "./journal.ts";
import type { HamState } from "../core/model.ts";
import type { HamRecord, RecordBody } from "../core/records.ts";
import { EntityPids } from "../core/entity_pids.ts";
import { applyRecord, touchedEntities } from "../core/reducer.ts";
import { listSnapshotsSync, writeEncodedSnapshot } from "./snapshot.ts";
import { StateTables } from "./state_tables.ts";
import { DEFAULTS } from "../core/defaults.ts";
import { listSegmentsSync } from "./journal_frames.ts";
import {
  removeTempFilesSync,
  type Replay,
  type ReplayReport,
  replaySync,
  type StoreLog,
} from "./replay.ts";

/** The points between the steps of a compaction (see {@linkcode StateStore.compact}). */
export type CompactStep = "rotated" | "snapshot-written" | "segment-removed" | "snapshot-removed";

/** Options of {@linkcode StateStore.open}. */
export interface StateStoreOptions {
  /** Cut the journal at a corrupt frame instead of refusing to start. @default false */
  recover?: boolean;
  /** Log lines. @default warnings and errors to stderr */
  log?: StoreLog;
  /** The journal's filesystem operations. @default the real filesystem */
  fileOps?: JournalFileOps;
  /** Called with the duration of each journal fdatasync, in seconds (for metrics). */
  onSync?: (seconds: number) => void;
  /**
   * Ring the state directory's journal bell (`journal_bell.ts`) whenever records became
   * durable: the HAM's store, which a Guardian follows. @default false
   */
  bell?: boolean;
  /** {@linkcode StateStore.shouldCompact} past this many journal bytes. @default 4 MiB */
  compactBytes?: number;
  /** {@linkcode StateStore.shouldCompact} past this many records. @default 50,000 */
  compactRecords?: number;
  /** Called after each step of a compaction; tests throw from it to simulate a crash. */
  onCompactStep?: (step: CompactStep) => void;
}

const stderrLog: StoreLog = (level, msg) => {
  if (level !== "info") console.error(`ham: ${level}: ${msg}`);
};

/**
 * The durable HAM state: the state built by replay, the journal that extends it, and the
 * snapshots that fold the journal.
 *
 * Callers must not hold references to `Entity` or `Condition` objects across an await:
 * a failed write reloads the state (`state` keeps its identity, but its `entities` Map and
 * everything in it are replaced), so look items up by name again after each await.
 *
 * @example
 * ```ts
 * import { StateStore } from "./state_store.ts";
 * const dir = await Deno.makeTempDir();
 * const store = await StateStore.open(dir);
 * await store.commit([{ t: "entity", entity: "web", flags: 0, at: Date.now() }]);
 * console.log(store.state.entities.has("web")); // true
 * await store.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class StateStore {
  /** The state directory. */
  readonly dir: string;
  /** The live state: durable records plus the ones being written. */
  readonly state: HamState;
  /** The journal, open for appending at `state.seq + 1`. */
  readonly journal: Journal;
  /** What the replay at {@linkcode StateStore.open} found. */
  readonly report: ReplayReport;
  readonly #log: StoreLog;
  readonly #options: StateStoreOptions;
  #snapshotSeq: number;
  #tables: StateTables;
  #compacting: Promise<void> | null = null;
  #failed: HamError | null = null;
  /** Called after the state was reloaded from disk because a journal write failed. */
  onReload: (() => void) | null = null;
  /**
   * Called after a commit that left the journal due for compaction: every record counts,
   * whoever wrote it (an engine record, like heartbeat bookkeeping, as well as a request).
   */
  onCompactDue: (() => void) | null = null;
  /**
   * Called with the entities each applied record may have changed (`touchedEntities()`),
   * as it is applied: what the status mirror renders again.
   */
  onTouched: ((entities: readonly string[]) => void) | null = null;
  /** The entities' pids of {@linkcode StateStore.state}, indexed (kept as records apply). */
  readonly entityPids: EntityPids = new EntityPids(() => this.state);

  #bell: JournalBell | null = null;

  private constructor(dir: string, replay: Replay, journal: Journal, options: StateStoreOptions) {
    this.dir = dir;
    this.state = replay.state;
    this.report = replay.report;
    this.journal = journal;
    this.#log = options.log ?? stderrLog;
    this.#options = options;
    this.#snapshotSeq = replay.report.snapshotSeq;
    this.#tables = replay.tables;
  }

  /**
   * Loads the state in `dir` (created if missing): the newest valid snapshot, then every
   * journal record after it, through {@linkcode replaySync}; then opens the journal at the
   * next seq.
   *
   * @throws {HamError} EIO when the journal is corrupt (and `recover` is not set).
   */
  static async open(dir: string, options: StateStoreOptions = {}): Promise<StateStore> {
    const log = options.log ?? stderrLog;
    try {
      await Deno.mkdir(dir, { recursive: true });
    } catch (err) {
      throw fileError("Cannot create state directory", dir, err);
    }
    removeTempFilesSync(dir);
    const replay = replaySync(dir, { recover: options.recover, log });
    return await StateStore.#withJournal(dir, replay, options);
  }

  /**
   * Continues from a replay done elsewhere: a Guardian's live copy of the state, caught up
   * to the end of the journal once the HAM is gone (`JournalTail.handOver`). The same
   * store {@linkcode open} would give, without reading the files again.
   */
  static async fromReplay(
    dir: string,
    replay: Replay,
    options: StateStoreOptions = {},
  ): Promise<StateStore> {
    removeTempFilesSync(dir);
    return await StateStore.#withJournal(dir, replay, options);
  }

  static async #withJournal(
    dir: string,
    replay: Replay,
    options: StateStoreOptions,
  ): Promise<StateStore> {
    const log = options.log ?? stderrLog;
    const created: { store?: StateStore } = {};
    const bell = options.bell
      ? JournalBell.open(dir, (err) => log("warn", `Cannot ring the journal bell: ${err}`))
      : null;
    let journal: Journal;
    try {
      journal = await Journal.open(dir, {
        nextSeq: replay.state.seq + 1,
        sizeBytes: replay.sizeBytes,
        newestEnd: replay.newestEnd,
        fileOps: options.fileOps,
        onSync: options.onSync,
        onFileChanged: bell ? () => bell.ring() : undefined,
        onRollback: () => created.store && created.store.#rolledBack(),
        onRetry: (err, records) =>
          err === null ? log("warn", `The journal takes records again: ${records} written`) : log(
            "error",
            `${err.message}: keeping ${records} records (what happened is not taken back) ` +
              `and trying again every ${DEFAULTS.refusedWriteRetryMs} ms`,
          ),
      });
    } catch (err) {
      bell?.close();
      throw err;
    }
    const store = created.store = new StateStore(dir, replay, journal, options);
    store.#bell = bell;
    const { snapshotSeq, replayed } = replay.report;
    const loaded = `snapshot at seq ${snapshotSeq} and ${replayed} journal records`;
    log("info", `Loaded the state at seq ${replay.state.seq} from ${loaded}`);
    return store;
  }

  /**
   * Journals `bodies`, applies them to `state` at once (before the first await), and
   * resolves with the records once they are durable. When they cannot be made durable the
   * state has already been reloaded from disk when this rejects.
   *
   * @throws {HamError} ENOSPC when the disk is full, EIO for other write failures.
   */
  async commit(bodies: RecordBody[]): Promise<HamRecord[]> {
    return await this.append(bodies).durable;
  }

  /**
   * Journals `bodies` and applies them to `state` at once, like {@linkcode commit};
   * `written` resolves as soon as they are in the journal file (where a Guardian that takes
   * over reads them), before `durable`; `inFile` when they were written before this
   * returned. A failed fdatasync after `written` reloads the state all the same, and
   * rejects `durable`.
   *
   * With `retry` (records of what has happened already, see `AppendOptions` in
   * `journal.ts`) a failed write neither reloads the state nor rejects: they are written
   * again until the journal takes them.
   *
   * @throws {HamError} as `commit` rejects, when nothing could be queued.
   */
  append(
    bodies: RecordBody[],
    opts: AppendOptions = {},
  ): { written: Promise<void>; durable: Promise<HamRecord[]>; inFile: boolean } {
    if (this.#failed) throw this.#failed;
    const { records, durable, written, inFile } = this.journal.append(bodies, opts);
    for (const r of records) {
      applyRecord(this.state, r);
      const touched = touchedEntities(r);
      this.#tables.touch(touched);
      this.entityPids.touch(touched);
      this.onTouched?.(touched);
    }
    return {
      written,
      inFile,
      durable: durable.then(() => {
        if (this.onCompactDue !== null && this.shouldCompact()) this.onCompactDue();
        return records;
      }),
    };
  }

  /**
   * Rebuilds `state` in place from what is durable (the same replay as at start-up) plus
   * the records still being written. The journal calls this by itself after a failed write.
   */
  reload(): Promise<void> {
    try {
      this.#reloadSync();
      return Promise.resolve();
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** True when the journal has grown enough since the last snapshot to be worth folding. */
  shouldCompact(): boolean {
    const records = this.journal.nextSeq - 1 - this.#snapshotSeq;
    return this.journal.sizeBytes > (this.#options.compactBytes ?? DEFAULTS.compactBytes) ||
      records > (this.#options.compactRecords ?? DEFAULTS.compactRecords);
  }

  /**
   * Folds the journal into a snapshot, crash-safely: (1) take an image of the state now
   * and start a new journal segment once everything before is durable; (2) write the
   * snapshot durably; (3) remove the segments and snapshots older than the previous
   * snapshot (kept, with the journal since it, as a fallback). A crash between any two
   * steps loses nothing. Concurrent calls share one compaction.
   */
  compact(): Promise<void> {
    this.#compacting ??= this.#compact().finally(() => {
      this.#compacting = null;
    });
    return this.#compacting;
  }

  /** Waits for a compaction and the journal's queued writes, then closes the journal. */
  async close(): Promise<void> {
    await this.#compacting?.catch(() => {});
    await this.journal.close();
    this.#bell?.close();
  }

  async #compact(): Promise<void> {
    if (this.#failed) throw this.#failed;
    const cut = this.state.seq;
    if (cut === this.#snapshotSeq) return;
    if (cut !== this.journal.nextSeq - 1) {
      throw new HamError(
        "EIO",
        `Cannot compact "${this.dir}": the state is at seq ${cut}, ` +
          `the journal at seq ${this.journal.nextSeq - 1}`,
      );
    }
    // Only the rows changed since the last image are encoded; the rest is a copy.
    const image = this.#tables.image(this.state);
    await this.journal.rotate();
    this.#step("rotated");
    await writeEncodedSnapshot(this.dir, cut, image);
    this.#step("snapshot-written");
    const keepFrom = this.#snapshotSeq;
    this.#snapshotSeq = cut;
    const older = listSegmentsSync(this.dir).filter((s) => s.firstSeq <= cut);
    for (const [i, seg] of older.entries()) {
      const end = (older.slice(i + 1).find((s) => s.size > 0)?.firstSeq ?? cut + 1) - 1;
      if (seg.size > 0 && end > keepFrom) continue;
      await Deno.remove(seg.path).catch(() => {});
      this.#step("segment-removed");
    }
    for (const snap of listSnapshotsSync(this.dir)) {
      if (snap.seq === cut || snap.seq === keepFrom) continue;
      await Deno.remove(snap.path).catch(() => {});
      this.#step("snapshot-removed");
    }
  }

  #step(step: CompactStep): void {
    this.#options.onCompactStep?.(step);
  }

  #reloadSync(): void {
    const replay = replaySync(this.dir, {
      log: this.#log,
      upToSeq: this.journal.lastDurableSeq,
    });
    for (const r of this.journal.pending()) {
      applyRecord(replay.state, r);
      replay.tables.touch(touchedEntities(r));
    }
    Object.assign(this.state, replay.state);
    this.entityPids.reset();
    this.#snapshotSeq = replay.report.snapshotSeq;
    this.#tables = replay.tables;
  }

  #rolledBack(): void {
    try {
      this.#reloadSync();
      this.onReload?.();
    } catch (err) {
      this.#failed = toHamError(err);
      this.#log(
        "error",
        `Cannot reload the state after a failed journal write: ${this.#failed.message}`,
      );
    }
  }
}
