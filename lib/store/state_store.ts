/**
 * The one replay path: the HAM at start-up and the Guardian at takeover rebuild the state
 * the same way, from the newest valid snapshot and then every journal record after it,
 * through `applyRecord()`. {@linkcode StateStore} then keeps journal, state and snapshots
 * together: commit, reload after a failed write, compaction.
 *
 * @module
 */

import { join } from "node:path";
import { HamError, toHamError } from "../core/errors.ts";
import { fileError, fsyncDirSync } from "./durable.ts";
import {
  findFrames,
  Journal,
  type JournalFileOps,
  listSegmentsSync,
  scanFrames,
  type Segment,
} from "./journal.ts";
import { createState, type HamState } from "../core/model.ts";
import type { HamRecord, RecordBody } from "../core/records.ts";
import { applyRecord, touchedEntities } from "../core/reducer.ts";
import {
  listSnapshotsSync,
  readLatestSnapshotSync,
  SNAPSHOT_DIR,
  writeEncodedSnapshot,
} from "./snapshot.ts";
import { StateTables } from "./state_tables.ts";
import { DEFAULTS } from "../core/defaults.ts";

/** Where log lines of the replay and the store go. */
export type StoreLog = (level: "info" | "warn" | "error", msg: string) => void;

/** What replay found. */
export interface ReplayReport {
  /** The seq of the snapshot replay started from (0 when there was none). */
  snapshotSeq: number;
  /** Journal records applied after the snapshot. */
  replayed: number;
  /** Bytes of a torn last record that were cut off the journal. */
  tornBytes: number;
  /** Records dropped by `recover` (the corrupt ones and all after them). */
  lostRecords: number;
}

/** Options of {@linkcode replaySync}. */
export interface ReplayOptions {
  /** Cut the journal at a corrupt frame instead of refusing to start. @default false */
  recover?: boolean;
  /** Log lines (torn tail, corruption, bad snapshot). @default none */
  log?: StoreLog;
  /**
   * Stop after this seq, change no file and accept no bad frame before it: for reloading
   * the durable state while the journal is open.
   * @default replay everything, cutting a torn tail (or, with `recover`, the corruption)
   */
  upToSeq?: number;
}

/** The result of {@linkcode replaySync}. */
export interface Replay {
  /** The rebuilt state. */
  state: HamState;
  /**
   * The state tables of `state`: the snapshot's, adopted as loaded, with the entities the
   * replayed records touched marked for re-encoding.
   */
  tables: StateTables;
  /** What replay found on the way. */
  report: ReplayReport;
  /** Journal bytes after the snapshot. */
  sizeBytes: number;
}

function corrupt(seg: Segment, offset: number, reason: string, state: HamState, n: number) {
  return new HamError(
    "EIO",
    `Journal "${seg.path}" is corrupt at offset ${offset}: ${reason}; start with --recover ` +
      `to keep the ${n} records before it (up to seq ${state.seq})`,
  );
}

function truncateSync(path: string, length: number): void {
  try {
    if (length === 0) return Deno.removeSync(path);
    Deno.truncateSync(path, length);
    const file = Deno.openSync(path, { write: true });
    try {
      file.syncDataSync();
    } finally {
      file.close();
    }
  } catch (err) {
    throw fileError("Cannot cut journal", path, err);
  }
}

/** Highest seq of a valid frame in `bytes` from `from` on, or 0. */
function highestSeq(bytes: Uint8Array, from: number, firstSeq: number): number {
  const scan = from === 0 ? scanFrames(bytes, firstSeq) : { records: [], end: from };
  const found = [...scan.records, ...findFrames(bytes, scan.end + 1)];
  return found.reduce((max, r) => Math.max(max, r.seq), 0);
}

/** `recover`: cuts the journal at `offset` of `segments[i]`, drops the later segments. */
function cutJournal(
  segments: Segment[],
  i: number,
  bytes: Uint8Array,
  offset: number,
  reason: string,
  state: HamState,
  log: StoreLog,
): number {
  let maxSeq = highestSeq(bytes, offset, segments[i].firstSeq);
  truncateSync(segments[i].path, offset);
  for (const later of segments.slice(i + 1)) {
    maxSeq = Math.max(maxSeq, highestSeq(Deno.readFileSync(later.path), 0, later.firstSeq));
    truncateSync(later.path, 0);
  }
  fsyncDirSync(join(segments[i].path, ".."));
  const lost = Math.max(1, maxSeq - state.seq);
  log(
    "error",
    `Recovered journal "${segments[i].path}" by cutting it at offset ${offset} (${reason}), ` +
      `dropping ${bytes.length - offset} bytes and ${segments.length - i - 1} later ` +
      `segments: ${lost} records after seq ${state.seq} are lost`,
  );
  return lost;
}

/**
 * Rebuilds the state from the newest valid snapshot in `dir` and the journal records after
 * it, in order, through `applyRecord()`. Synchronous, so that nothing can change the state
 * or the journal while it runs. A torn last record is cut off; corruption anywhere else
 * throws EIO unless `recover` is set, which cuts the journal there.
 *
 * @throws {HamError} EIO when the journal is corrupt or cannot be read.
 */
export function replaySync(dir: string, options: ReplayOptions = {}): Replay {
  const log = options.log ?? (() => {});
  const upTo = options.upToSeq ?? Infinity;
  const readOnly = options.upToSeq !== undefined;
  const snapshot = readLatestSnapshotSync(dir, log);
  const state = snapshot?.state ?? createState();
  const tables = snapshot?.tables ?? StateTables.of(state);
  const report = { snapshotSeq: state.seq, replayed: 0, tornBytes: 0, lostRecords: 0 };
  const segments = listSegmentsSync(dir).filter((s) => s.size > 0);
  let sizeBytes = 0;
  let started = false;
  for (const [i, seg] of segments.entries()) {
    if (state.seq >= upTo) break;
    const next = segments[i + 1];
    if (next && next.firstSeq <= report.snapshotSeq + 1) continue; // All in the snapshot.
    let bytes: Uint8Array;
    try {
      bytes = Deno.readFileSync(seg.path);
    } catch (err) {
      throw fileError("Cannot read journal", seg.path, err);
    }
    const expect = state.seq + 1;
    const scan = (started ? seg.firstSeq !== expect : seg.firstSeq > expect)
      ? { records: [], end: 0, error: `it starts at seq ${seg.firstSeq}, not ${expect}` }
      : scanFrames(bytes, seg.firstSeq);
    started = true;
    for (const r of scan.records) {
      if (r.seq > upTo) break;
      if (r.seq <= state.seq) continue; // Already in the snapshot.
      applyRecord(state, r);
      tables.touch(touchedEntities(r));
      report.replayed++;
    }
    sizeBytes += scan.end;
    if (!scan.error || state.seq >= upTo) continue;
    if (readOnly) throw corrupt(seg, scan.end, scan.error, state, report.replayed);
    if (i === segments.length - 1 && findFrames(bytes, scan.end + 1).length === 0) {
      truncateSync(seg.path, scan.end);
      report.tornBytes = bytes.length - scan.end;
      log(
        "warn",
        `Discarded a torn journal record at offset ${scan.end} of "${seg.path}" ` +
          `(${report.tornBytes} bytes: ${scan.error})`,
      );
      break;
    }
    if (!options.recover) throw corrupt(seg, scan.end, scan.error, state, report.replayed);
    report.lostRecords = cutJournal(segments, i, bytes, scan.end, scan.error, state, log);
    break;
  }
  if (readOnly && state.seq < upTo) {
    throw new HamError(
      "EIO",
      `Cannot reload state from "${dir}": it ends at seq ${state.seq}, seq ${upTo} is durable`,
    );
  }
  return { state, tables, report, sizeBytes };
}

/** Removes the temp files a crash while writing a snapshot may have left. */
function removeTempFilesSync(dir: string): void {
  try {
    for (const entry of Deno.readDirSync(join(dir, SNAPSHOT_DIR))) {
      if (entry.isFile && /^\..*\.tmp$/.test(entry.name)) {
        Deno.removeSync(join(dir, SNAPSHOT_DIR, entry.name));
      }
    }
  } catch {
    // No snapshot directory yet, or the file is already gone: nothing to clean.
  }
}

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
    const created: { store?: StateStore } = {};
    const journal = await Journal.open(dir, {
      nextSeq: replay.state.seq + 1,
      sizeBytes: replay.sizeBytes,
      fileOps: options.fileOps,
      onRollback: () => created.store && created.store.#rolledBack(),
    });
    const store = created.store = new StateStore(dir, replay, journal, options);
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
    if (this.#failed) throw this.#failed;
    const { records, durable } = this.journal.append(bodies);
    for (const r of records) {
      applyRecord(this.state, r);
      this.#tables.touch(touchedEntities(r));
    }
    await durable;
    if (this.onCompactDue !== null && this.shouldCompact()) this.onCompactDue();
    return records;
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
