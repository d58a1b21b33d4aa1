/**
 * The one replay path: the HAM at start-up and the Guardian at takeover rebuild the state
 * the same way, from the newest valid snapshot and then every journal record after it,
 * through `applyRecord()` ({@linkcode replaySync}). A corrupt frame stops the replay, or with
 * `recover` cuts the journal there and keeps what precedes it.
 *
 * @module
 */

import { pathExists } from "../os/path_exists.ts";
import { basename, join } from "../core/paths.ts";
import { HamError } from "../core/errors.ts";
import { fileError, fsyncDirSync } from "./durable.ts";
import { findFrames, listSegmentsSync, scanFrames, type Segment } from "./journal_frames.ts";
import { createState, type HamState } from "../core/model.ts";
import { applyRecord, touchedEntities } from "../core/reducer.ts";
import { readLatestSnapshotSync, SNAPSHOT_DIR } from "./snapshot.ts";
import { StateTables } from "./state_tables.ts";
import { openNoFollowSync } from "../os/safe_open.ts";

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
  /**
   * Where the records of the newest segment end, when replay read it whole and found it
   * clean: the journal then continues it without reading it again.
   */
  newestEnd?: { path: string; offset: number };
}

function corrupt(seg: Segment, offset: number, reason: string, state: HamState, n: number) {
  return new HamError(
    "EIO",
    `Journal "${seg.path}" is corrupt at offset ${offset}: ${reason}; start with --recover ` +
      `to keep the ${n} records before it (up to seq ${state.seq}) and move the rest aside`,
  );
}

function truncateSync(path: string, length: number): void {
  try {
    if (length === 0) return Deno.removeSync(path);
    Deno.truncateSync(path, length);
    const file = openNoFollowSync(path, { write: true });
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

/** The folder `recover` moves damaged files into: `<dir>/recovered-<UTC date and time>`. */
function recoveredDir(dir: string, now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
  let path = join(dir, `recovered-${stamp}`);
  for (let n = 2; pathExists(path); n++) path = join(dir, `recovered-${stamp}-${n}`);
  Deno.mkdirSync(path, { recursive: true, mode: 0o700 });
  return path;
}

/**
 * `recover`: never deletes. The damaged segment is copied whole into a dated folder and the
 * live one cut at `offset` (the records before it are kept); every later segment is moved
 * into the folder. Logs the file and offset, what was kept and what was moved where.
 * Returns the number of records no longer replayed.
 */
function moveAside(
  dir: string,
  seg: Segment,
  bytes: Uint8Array,
  offset: number,
  reason: string,
  state: HamState,
  log: StoreLog,
): number {
  const aside = recoveredDir(dir);
  const later = listSegmentsSync(dir).filter((s) => s.firstSeq > seg.firstSeq);
  let maxSeq = highestSeq(bytes, offset, seg.firstSeq);
  const moved: string[] = [];
  try {
    Deno.writeFileSync(join(aside, basename(seg.path)), bytes);
    moved.push(`a copy of "${basename(seg.path)}"`);
    if (offset === 0) {
      Deno.removeSync(seg.path); // Its copy is aside: nothing of it is lost.
    } else {
      truncateSync(seg.path, offset);
    }
    for (const s of later) {
      if (s.size > 0) {
        maxSeq = Math.max(maxSeq, highestSeq(Deno.readFileSync(s.path), 0, s.firstSeq));
      }
      Deno.renameSync(s.path, join(aside, basename(s.path)));
      moved.push(`"${basename(s.path)}"`);
    }
    fsyncDirSync(aside);
    fsyncDirSync(join(seg.path, ".."));
  } catch (err) {
    throw fileError("Cannot move damaged journal files aside into", aside, err);
  }
  const lost = Math.max(0, maxSeq - state.seq);
  log(
    "error",
    `Recovered from journal "${seg.path}" damaged at offset ${offset} (${reason}): kept ` +
      `the records up to seq ${state.seq} (${offset} bytes of it); moved ${moved.join(", ")} ` +
      `into "${aside}"${
        lost > 0 ? ` (${lost} records after seq ${state.seq} are not replayed)` : ""
      }`,
  );
  return lost;
}

/**
 * Rebuilds the state from the newest valid snapshot in `dir` and the journal records after
 * it, in order, through `applyRecord()`. Synchronous, so that nothing can change the state
 * or the journal while it runs. A torn last record is cut off; corruption anywhere else
 * throws EIO unless `recover` is set, which keeps what precedes the damage and moves the
 * rest into a dated `recovered-*` folder of `dir` (it never deletes).
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
  let newestEnd: Replay["newestEnd"];
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
    // A segment that starts past where the journal got to: records are missing before it.
    const gap = started ? seg.firstSeq !== expect : seg.firstSeq > expect;
    if (gap && !started && !readOnly) {
      // The journal starts past what the snapshots hold: a snapshot is missing, not a
      // corrupt journal.
      const what = `Journal "${seg.path}" starts at seq ${seg.firstSeq}, but ` +
        (snapshot === null
          ? `no snapshot in "${join(dir, SNAPSHOT_DIR)}" holds the ${
            seg.firstSeq - 1
          } records before it (it was deleted or is unreadable)`
          : `the newest readable snapshot ends at seq ${state.seq}`);
      if (!options.recover) {
        throw new HamError(
          "EIO",
          `${what}; start with --recover to move the journal aside (nothing is deleted) and start from seq ${state.seq}`,
        );
      }
      report.lostRecords = moveAside(dir, seg, bytes, 0, what, state, log);
      break;
    }
    const scan = gap
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
    if (!scan.error && i === segments.length - 1 && upTo === Infinity) {
      newestEnd = { path: seg.path, offset: scan.end };
    }
    if (!scan.error || state.seq >= upTo) continue;
    if (readOnly) throw corrupt(seg, scan.end, scan.error, state, report.replayed);
    if (!gap && i === segments.length - 1 && findFrames(bytes, scan.end + 1).length === 0) {
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
    report.lostRecords = moveAside(dir, seg, bytes, scan.end, scan.error, state, log);
    break;
  }
  if (readOnly && state.seq < upTo) {
    throw new HamError(
      "EIO",
      `Cannot reload state from "${dir}": it ends at seq ${state.seq}, seq ${upTo} is durable`,
    );
  }
  return { state, tables, report, sizeBytes, newestEnd };
}

/** Removes the temp files a crash while writing a snapshot may have left. */
export function removeTempFilesSync(dir: string): void {
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
