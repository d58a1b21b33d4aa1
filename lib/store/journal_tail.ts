/**
 * A read-only follower of a state directory's journal: the Guardian's live copy of the
 * HAM's state. It loads the state through the one replay path ({@linkcode replaySync}, in
 * its read-only form), then applies, through `applyRecord()`, each record the HAM appends,
 * reading only the new bytes of the segment being written. It never writes, cuts or
 * removes a file: the HAM owns them.
 *
 * At a takeover, {@linkcode JournalTail.handOver} catches it up to the end of the journal
 * and hands it over as a finished replay (`StateStore.fromReplay`), so the new HAM does not
 * read and replay the files again; when the end of the journal needs the replay's
 * judgement (a torn or bad record to cut), it hands over nothing and the files are replayed.
 *
 * @module
 */

import { join } from "../core/paths.ts";
import { JOURNAL_DIR, listSegmentsSync, scanFrames, type Segment } from "./journal_frames.ts";
import type { HamState } from "../core/model.ts";
import { applyRecord, touchedEntities } from "../core/reducer.ts";
import { listSnapshotsSync } from "./snapshot.ts";
import { type Replay, replaySync, type StoreLog } from "./replay.ts";
import type { StateTables } from "./state_tables.ts";
import { openNoFollowSync } from "../os/safe_open.ts";
import { journalBellPath } from "./journal_bell.ts";

/** Options of {@linkcode JournalTail.open}. */
export interface JournalTailOptions {
  /** Log lines (reloads, a frame that stays bad). @default none */
  log?: StoreLog;
}

/** Options of {@linkcode JournalTail.follow}. */
export interface FollowOptions {
  /** Changes within this many ms are read together. @default 5 */
  coalesceMs?: number;
  /** Period of the timer used when the journal directory cannot be watched. @default 250 */
  pollMs?: number;
  /** Called after each catch-up that applied records, with how many. */
  onApplied?: (records: number) => void;
}

/** Reading stopped at a frame that is still being written: wait for the rest. */
function incomplete(error: string): boolean {
  return error === "incomplete frame header" || error === "incomplete frame";
}

/** The bytes of `path` from `offset` on; null when the file is gone. */
function readFrom(path: string, offset: number): Uint8Array | null {
  let file: Deno.FsFile;
  try {
    file = openNoFollowSync(path, { read: true });
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw err;
  }
  try {
    const size = file.statSync().size;
    if (size < offset) return null;
    const bytes = new Uint8Array(size - offset);
    file.seekSync(offset, Deno.SeekMode.Start);
    let got = 0;
    while (got < bytes.length) {
      const n = file.readSync(bytes.subarray(got));
      if (n === null) break;
      got += n;
    }
    return bytes.subarray(0, got);
  } finally {
    file.close();
  }
}

/**
 * Follows the journal of a state directory, keeping {@linkcode JournalTail.state} equal to
 * the state its files hold, up to the last complete record.
 *
 * @example
 * ```ts
 * import { JournalTail } from "./journal_tail.ts";
 * import { StateStore } from "./state_store.ts";
 * const dir = await Deno.makeTempDir();
 * const store = await StateStore.open(dir);
 * const tail = JournalTail.open(dir);
 * await store.commit([{ t: "verbosity", value: 4 }]);
 * tail.catchUp();
 * console.log(tail.seq, tail.state.verbosity); // 1 4
 * await store.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class JournalTail {
  /** The state directory followed. */
  readonly dir: string;
  #log: StoreLog;
  #state!: HamState;
  /** The state tables of `#state`, touched as records are applied (for a takeover). */
  #tables!: StateTables;
  /** The seq of the snapshot the copy was last rebuilt from. */
  #snapshotSeq = 0;
  /** The segment being read, or null when there was no journal yet. */
  #segment: Segment | null = null;
  /** Bytes of `#segment` already applied. */
  #offset = 0;
  #reloads = 0;
  /** Where a frame that is not a partial write stopped reading, once reloading did not help. */
  #stuckAt: string | null = null;
  #watcher: Deno.FsWatcher | null = null;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  /** The entities records touched since {@linkcode drainTouched}; null: all of them. */
  #touched: Set<string> | null = null;

  private constructor(dir: string, options: JournalTailOptions) {
    this.dir = dir;
    this.#log = options.log ?? (() => {});
  }

  /**
   * Loads the state in `dir` as its files hold it now (read-only replay).
   *
   * @throws {HamError} EIO when the journal cannot be read or is corrupt before its end.
   */
  static open(dir: string, options: JournalTailOptions = {}): JournalTail {
    const tail = new JournalTail(dir, options);
    tail.#reload();
    tail.#reloads = 0;
    return tail;
  }

  /** The live copy of the state. Read-only by convention. */
  get state(): HamState {
    return this.#state;
  }

  /** The seq of the last record applied. */
  get seq(): number {
    return this.#state.seq;
  }

  /** How many times the copy was rebuilt from the files (compaction, a rolled-back write). */
  get reloads(): number {
    return this.#reloads;
  }

  /**
   * Applies every complete record appended since the last call, following the journal into
   * new segments; rebuilds the copy from the files when they no longer continue it (the
   * segment was removed by a compaction, or cut back after a failed write). Synchronous.
   *
   * @returns How many records were applied (a rebuild counts the seqs it moved forward).
   */
  catchUp(): number {
    const before = this.#state.seq;
    for (;;) {
      if (this.#segment === null) return this.#reload(before);
      // List first: a segment listed now was started after every write to the ones before it.
      const next = listSegmentsSync(this.dir).find((s) => s.firstSeq > this.#segment!.firstSeq);
      const bytes = readFrom(this.#segment.path, this.#offset);
      if (bytes === null) return this.#reload(before);
      const scan = scanFrames(bytes, this.#state.seq + 1);
      for (const r of scan.records) {
        applyRecord(this.#state, r);
        const touched = touchedEntities(r);
        this.#tables.touch(touched);
        if (this.#touched) { for (const name of touched) this.#touched.add(name); }
      }
      this.#offset += scan.end;
      if (scan.error && !incomplete(scan.error)) return this.#badFrame(scan.error, before);
      if (!next) return this.#state.seq - before;
      if (scan.error || next.firstSeq !== this.#state.seq + 1) return this.#reload(before);
      this.#segment = next;
      this.#offset = 0;
    }
  }

  /**
   * The names of the entities the records applied since the last call touched, or null
   * when the copy was rebuilt meanwhile (every entity may have changed).
   */
  drainTouched(): Set<string> | null {
    const touched = this.#touched;
    this.#touched = new Set();
    return touched;
  }

  /**
   * Catches up whenever the HAM rings the journal bell (`journal_bell.ts`: after records
   * became durable, or a failed write was cut back; inotify through `Deno.watchFs`, rings
   * coalesced), until {@linkcode close}. Without a bell file (a HAM that could not create
   * it), whenever the journal directory changes; on a timer when neither can be watched.
   * Compactions need no watch of their own: each one starts a new segment, found by the
   * catch-up after the next ring.
   */
  follow(options: FollowOptions = {}): void {
    if (this.#closed || this.#watcher) return;
    const coalesceMs = options.coalesceMs ?? 5;
    const run = () => {
      this.#timer = undefined;
      if (this.#closed) return;
      try {
        const n = this.catchUp();
        if (n > 0) options.onApplied?.(n);
      } catch (err) {
        this.#log("warn", `Cannot follow the journal of "${this.dir}": ${(err as Error).message}`);
      }
    };
    const schedule = (ms: number) => {
      if (this.#timer === undefined && !this.#closed) this.#timer = setTimeout(run, ms);
    };
    const bell = journalBellPath(this.dir);
    let watched = bell;
    try {
      if (!Deno.statSync(bell).isFile) throw new Error("not a file");
    } catch {
      watched = join(this.dir, JOURNAL_DIR);
      this.#log("warn", `No journal bell at "${bell}": following "${watched}" itself`);
    }
    try {
      this.#watcher = Deno.watchFs(watched, { recursive: false });
    } catch (err) {
      this.#log("warn", `Cannot watch "${watched}": ${err}; polling the journal`);
      const poll = () => {
        run();
        if (!this.#closed) this.#timer = setTimeout(poll, options.pollMs ?? 250);
      };
      this.#timer = setTimeout(poll, 0);
      return;
    }
    const watcher = this.#watcher;
    (async () => {
      try {
        for await (const _ of watcher) schedule(coalesceMs);
      } catch { /* closed */ }
    })();
    schedule(0); // Whatever was appended before the watch started.
  }

  /** Stops following. Idempotent. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    try {
      this.#watcher?.close();
    } catch { /* already closed */ }
    this.#watcher = null;
  }

  /**
   * For a takeover, once the HAM is gone and its lock is held: stops following, catches up
   * to the end of the journal and returns the copy as a finished replay (the same state
   * and tables, through the same reducer, that replaying the files again would build), for
   * `StateStore.fromReplay`. Null when the files need the full replay: a torn or bad
   * record to cut, no journal.
   */
  handOver(): Replay | null {
    this.close();
    try {
      this.catchUp();
    } catch {
      return null;
    }
    if (this.#stuckAt !== null || this.#segment === null) return null;
    const segments = listSegmentsSync(this.dir);
    const newest = segments.at(-1);
    if (newest?.path !== this.#segment.path || newest.size !== this.#offset) return null;
    // The newest snapshot, even if taken after the copy's own base: the new HAM's
    // compactions keep it (with the journal after it) as their fallback.
    const snapshotSeq = Math.max(this.#snapshotSeq, listSnapshotsSync(this.dir).at(-1)?.seq ?? 0);
    if (snapshotSeq > this.#state.seq) return null;
    let sizeBytes = 0;
    for (const [i, seg] of segments.entries()) {
      const next = segments[i + 1];
      if (!next || next.firstSeq > snapshotSeq + 1) sizeBytes += seg.size;
    }
    const report = {
      snapshotSeq,
      replayed: this.#state.seq - snapshotSeq,
      tornBytes: 0,
      lostRecords: 0,
    };
    const newestEnd = { path: newest.path, offset: this.#offset };
    return { state: this.#state, tables: this.#tables, report, sizeBytes, newestEnd };
  }

  /** Same as {@linkcode close}, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * A frame that is not a partial write: the HAM may have cut a failed write back and
   * written other records at the same place, so rebuild once; when the same frame is still
   * bad after that, it is corruption: say so once and wait (the takeover's replay decides).
   */
  #badFrame(error: string, before: number): number {
    const where = `${this.#segment!.path}:${this.#offset}`;
    if (this.#stuckAt === where) return this.#state.seq - before;
    const moved = this.#reload(before);
    if (`${this.#segment?.path}:${this.#offset}` === where) {
      this.#stuckAt = where;
      this.#log("warn", `Journal "${this.#segment!.path}" has a bad frame at ${where}: ${error}`);
    }
    return moved;
  }

  /**
   * Rebuilds the copy: finds how far the newest segment goes, then replays snapshot and
   * journal up to there, read-only. Retried when a compaction changes the files meanwhile.
   */
  #reload(before = 0): number {
    for (let attempt = 1;; attempt++) {
      const newest = listSegmentsSync(this.dir).at(-1) ?? null;
      let end = 0, offset = 0;
      if (newest) {
        const bytes = readFrom(newest.path, 0);
        const scan = bytes ? scanFrames(bytes, newest.firstSeq) : null;
        end = newest.firstSeq + (scan?.records.length ?? 0) - 1;
        offset = scan?.end ?? 0;
      }
      try {
        const { state, tables, report } = replaySync(this.dir, { upToSeq: end, log: this.#log });
        if (newest === null || state.seq === end) {
          this.#state = state;
          this.#tables = tables;
          this.#snapshotSeq = report.snapshotSeq;
          this.#touched = null;
          this.#segment = newest;
          this.#offset = offset;
          this.#reloads++;
          return state.seq - before;
        }
      } catch (err) {
        if (attempt >= 5) throw err;
      }
      if (attempt >= 5) {
        throw new Error(`the journal of "${this.dir}" kept changing while it was read`);
      }
    }
  }
}
