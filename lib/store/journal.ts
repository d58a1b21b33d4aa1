/**
 * The journal's group-commit writer ({@linkcode Journal}): appends frames
 * (`journal_frames.ts`) of {@linkcode HamRecord}s to the newest segment, batching the
 * records of concurrent commits into one write and one fdatasync, and acknowledges a
 * commit only once its records are durable. It also says when records are written (in the
 * file, before the fdatasync): a Guardian that takes over reads them from there, so only a
 * crash of the machine itself can lose them.
 *
 * @module
 */

import { concatBytes } from "../core/bytes.ts";
import { join } from "../core/paths.ts";
import { DEFAULTS } from "../core/defaults.ts";
import { HamError } from "../core/errors.ts";
import { fileError, fsyncDir } from "./durable.ts";
import type { HamRecord, RecordBody } from "../core/records.ts";
import {
  encodeFrame,
  JOURNAL_DIR,
  listSegmentsSync,
  scanFrames,
  type Segment,
  segmentPath,
} from "./journal_frames.ts";
import { ensureDirNoFollowSync, openNoFollow } from "../os/safe_open.ts";

/** An open segment file, as the journal uses it. `Deno.FsFile` is one. */
export interface JournalFile {
  /** Writes at the end of the file; may write fewer bytes than given. */
  write(data: Uint8Array): Promise<number>;
  /**
   * The same, synchronously. When present the journal uses it: writing a few hundred bytes
   * to the page cache costs microseconds, a round trip through the thread pool far more on
   * a busy machine, and the event path waits for the write (see `Journal.append`).
   */
  writeSync?(data: Uint8Array): number;
  /** fdatasync. */
  syncData(): Promise<void>;
  /** Cuts the file to `length` bytes. */
  truncate(length: number): Promise<void>;
  /** Closes the file. */
  close(): void;
}

/** The filesystem operations the journal performs, injectable so tests can fail them. */
export interface JournalFileOps {
  /** Opens `path` for appending, creating it if missing. */
  open(path: string): Promise<JournalFile>;
  /** fsyncs a directory. */
  syncDir(path: string): Promise<void>;
  /** Removes a file. */
  remove(path: string): Promise<void>;
}

/** The real filesystem: segments are opened with `O_APPEND`, so a cut moves the end back. */
export const denoFileOps: JournalFileOps = {
  open: (path) => openNoFollow(path, { append: true, create: true, mode: 0o644 }),
  syncDir: fsyncDir,
  remove: (path) => Deno.remove(path),
};

/** Options of {@linkcode Journal.open}. */
export interface JournalOptions {
  /**
   * The seq of the next record. The newest segment is continued when its records end just
   * before it; otherwise a new segment starts at it.
   * @default the seq after the last record of the newest segment (1 for a new journal)
   */
  nextSeq?: number;
  /** Bytes already in the journal since the last snapshot. @default the newest segment's size */
  sizeBytes?: number;
  /**
   * Where the records of the newest segment end, as a replay that read it just now found:
   * when that segment is still `path`, `offset` bytes long, its records end at `nextSeq - 1`
   * and it is not read and scanned again. @default read and scan the newest segment
   */
  newestEnd?: { path: string; offset: number };
  /** Filesystem operations. @default {@linkcode denoFileOps} */
  fileOps?: JournalFileOps;
  /**
   * Called synchronously after a failed write was rolled back (nothing non-durable is
   * queued any more, `nextSeq` is `lastDurableSeq + 1`), before the failed appends reject.
   * `StateStore` rebuilds its state here, so no append can land on a state that holds
   * rejected records.
   */
  onRollback?: (lastDurableSeq: number) => void;
  /** Called with the duration of each fdatasync, in seconds (for metrics). */
  onSync?: (seconds: number) => void;
  /**
   * Called after each batch of records became durable, and after a failed write was cut
   * back: when a follower of the files (the Guardian, through `journal_bell.ts`) should
   * read them again. Not called for a write alone: the event path does not pay for it.
   */
  onFileChanged?: () => void;
  /**
   * Called when a failed write keeps records appended with `retry` (with the error and
   * how many records wait), and with null once they are written after all.
   */
  onRetry?: (error: HamError | null, records: number) => void;
  /** How long a kept batch waits before it is written again, in ms. @default DEFAULTS.refusedWriteRetryMs */
  retryMs?: number;
  /** Records kept at most; past it `retry` appends fail too. @default DEFAULTS.maxKeptRecords */
  maxKept?: number;
}

/** Options of {@linkcode Journal.append}. */
export interface AppendOptions {
  /**
   * The records tell what has happened already (a process died, a process was started):
   * were a write of them to fail, they could not be taken back as a refused request's
   * are. They are kept instead, with everything queued with them, and written again
   * every `retryMs` until the file takes them; meanwhile appends without `retry` fail at
   * once, and appends with it wait behind them. @default false
   */
  retry?: boolean;
}

interface Pending {
  records: HamRecord[];
  bytes: Uint8Array;
  /** For a barrier that starts a new segment: the seq it starts at. */
  rotateTo?: number;
  /** Settles `written` (a no-op once it has settled). */
  wrote: (err?: HamError) => void;
  /** Its bytes are in the file already (written while an earlier batch was being synced). */
  inFile?: boolean;
  /** Appended with `retry`: kept, not rolled back, when a write fails. */
  retry?: boolean;
  resolve: () => void;
  reject: (err: HamError) => void;
}

function deferred(
  records: HamRecord[],
  bytes: Uint8Array,
): [Pending, Promise<void>, Promise<void>] {
  const durable = Promise.withResolvers<void>();
  const written = Promise.withResolvers<void>();
  let settled = false;
  const wrote = (err?: HamError) => {
    if (settled) return;
    settled = true;
    if (err) written.reject(err);
    else written.resolve();
  };
  const pending: Pending = {
    records,
    bytes,
    wrote,
    resolve: () => {
      wrote();
      durable.resolve();
    },
    reject: (err) => {
      wrote(err);
      durable.reject(err);
    },
  };
  // The caller sees the rejections; an ignored one must not crash us.
  durable.promise.catch(() => {});
  written.promise.catch(() => {});
  return [pending, durable.promise, written.promise];
}

async function writeAll(file: JournalFile, bytes: Uint8Array): Promise<void> {
  if (file.writeSync) return writeAllSync(file.writeSync.bind(file), bytes);
  for (let off = 0; off < bytes.length;) {
    const n = await file.write(bytes.subarray(off));
    if (n <= 0) throw new Error(`short write at offset ${off}`);
    off += n;
  }
}

function writeAllSync(writeSync: (data: Uint8Array) => number, bytes: Uint8Array): void {
  for (let off = 0; off < bytes.length;) {
    const n = writeSync(bytes.subarray(off));
    if (n <= 0) throw new Error(`short write at offset ${off}`);
    off += n;
  }
}

/**
 * An append-only log of records with group commit: {@linkcode Journal.append} numbers
 * records at once; while one write + fdatasync is in flight, later appends queue up and
 * go out together in the next one. A failed write is rolled back: the segment is cut back
 * to its last durable byte, `nextSeq` goes back to `lastDurableSeq + 1`, and the failed
 * batch and every batch queued behind it reject.
 *
 * @example
 * ```ts
 * import { Journal } from "./journal.ts";
 * const dir = await Deno.makeTempDir();
 * const journal = await Journal.open(dir);
 * const { records, durable } = journal.append([{ t: "verbosity", value: 3 }]);
 * await durable;
 * console.log(records[0].seq, journal.lastDurableSeq); // 1 1
 * await journal.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class Journal {
  /** The state directory; segments are in its `journal/` sub-directory. */
  readonly dir: string;
  readonly #ops: JournalFileOps;
  readonly #onRollback?: (lastDurableSeq: number) => void;
  readonly #onSync?: (seconds: number) => void;
  readonly #onFileChanged?: () => void;
  readonly #onRetry?: (error: HamError | null, records: number) => void;
  readonly #retryMs: number;
  readonly #maxKept: number;
  #file: JournalFile;
  #segment: Segment;
  #durableOffset: number;
  #lastDurableSeq: number;
  #nextSeq: number;
  #sizeBytes: number;
  #queue: Pending[] = [];
  #inFlight: Pending[] = [];
  #loop: Promise<void> | null = null;
  /** Bytes past `#durableOffset` may be in the file and must be cut before the next write. */
  #dirty = false;
  /** True while an fdatasync is in flight: appends are written at once meanwhile. */
  #syncing = false;
  /** A write ahead failed: the bytes past the in-flight batch must be cut and rewritten. */
  #torn = false;
  #closed = false;
  #broken: HamError | null = null;
  /** Why the kept batches at the head of the queue wait (see `AppendOptions.retry`). */
  #retrying: HamError | null = null;
  /** How many records wait in the queue while `#retrying` (counted, not walked). */
  #kept = 0;
  /** Ends the wait before the next attempt (the journal is closing). */
  #wake: (() => void) | null = null;

  private constructor(
    dir: string,
    file: JournalFile,
    segment: Segment,
    offset: number,
    nextSeq: number,
    options: JournalOptions,
  ) {
    this.dir = dir;
    this.#ops = options.fileOps ?? denoFileOps;
    this.#onRollback = options.onRollback;
    this.#onSync = options.onSync;
    this.#onFileChanged = options.onFileChanged;
    this.#onRetry = options.onRetry;
    this.#retryMs = options.retryMs ?? DEFAULTS.refusedWriteRetryMs;
    this.#maxKept = options.maxKept ?? DEFAULTS.maxKeptRecords;
    this.#file = file;
    this.#segment = segment;
    this.#durableOffset = offset;
    this.#nextSeq = nextSeq;
    this.#lastDurableSeq = nextSeq - 1;
    this.#sizeBytes = options.sizeBytes ?? offset;
  }

  /**
   * Opens the journal in `dir` for appending, creating it if needed. The newest segment
   * must be clean (replay through `StateStore` cuts a torn tail first).
   *
   * @throws {HamError} EIO when the newest segment has a bad frame or already holds `nextSeq`.
   */
  static async open(dir: string, options: JournalOptions = {}): Promise<Journal> {
    const ops = options.fileOps ?? denoFileOps;
    const journalDir = join(dir, JOURNAL_DIR);
    try {
      ensureDirNoFollowSync(journalDir);
    } catch (err) {
      throw fileError("Cannot create journal directory", journalDir, err);
    }
    await ops.syncDir(dir);
    const newest = listSegmentsSync(dir).at(-1);
    let newestNext = 1;
    let offset = 0;
    const known = options.newestEnd;
    if (
      newest && known && options.nextSeq !== undefined && known.path === newest.path &&
      known.offset === newest.size
    ) {
      newestNext = options.nextSeq;
      offset = known.offset;
    } else if (newest) {
      let bytes: Uint8Array;
      try {
        bytes = await Deno.readFile(newest.path);
      } catch (err) {
        throw fileError("Cannot read journal", newest.path, err);
      }
      const scan = scanFrames(bytes, newest.firstSeq);
      if (scan.error) {
        throw new HamError(
          "EIO",
          `Cannot open journal "${newest.path}": ${scan.error} at offset ${scan.end}`,
        );
      }
      newestNext = newest.firstSeq + scan.records.length;
      offset = scan.end;
    }
    const nextSeq = options.nextSeq ?? newestNext;
    if (newest && newestNext > nextSeq) {
      throw new HamError(
        "EIO",
        `Cannot open journal "${newest.path}" at seq ${nextSeq}: it holds records up to seq ${
          newestNext - 1
        }`,
      );
    }
    const segment = newest && newestNext === nextSeq
      ? newest
      : { firstSeq: nextSeq, path: segmentPath(dir, nextSeq), size: 0 };
    if (segment !== newest) offset = 0;
    let file: JournalFile;
    try {
      file = await ops.open(segment.path);
    } catch (err) {
      throw fileError("Cannot open journal", segment.path, err);
    }
    if (segment !== newest) await ops.syncDir(journalDir);
    return new Journal(dir, file, segment, offset, nextSeq, options);
  }

  /** The seq of the last record known to be on disk. */
  get lastDurableSeq(): number {
    return this.#lastDurableSeq;
  }

  /** The seq the next appended record will get. */
  get nextSeq(): number {
    return this.#nextSeq;
  }

  /** Bytes written to the journal since the last compaction (segment rotation). */
  get sizeBytes(): number {
    return this.#sizeBytes;
  }

  /** The segment being appended to (`size` is its durable size). */
  get segment(): Segment {
    return { ...this.#segment, size: this.#durableOffset };
  }

  /**
   * Numbers `bodies` with consecutive seqs at once and queues them. `durable` resolves
   * when they are written and fdatasync'd, and rejects with a {@linkcode HamError}
   * (ENOSPC for a full disk, else EIO) when they could not be: callers should await it
   * before acknowledging anything. `written` resolves as soon as they are in the file
   * (before the fdatasync), and rejects when the write itself failed; a failed fdatasync
   * after it rolls them back all the same (and rejects `durable`). `inFile`: they were
   * written before this returned (an idle journal writes at once), so `written` has
   * resolved. With `retry` (see {@linkcode AppendOptions}) a failed write neither rolls
   * them back nor rejects: they are written again until the file takes them.
   *
   * @throws {HamError} ECANCELED when the journal is closed; the error that keeps records
   * waiting (ENOSPC...), for an append without `retry` while they wait.
   */
  append(
    bodies: RecordBody[],
    opts: AppendOptions = {},
  ): { records: HamRecord[]; durable: Promise<void>; written: Promise<void>; inFile: boolean } {
    this.#check("append to");
    if (this.#retrying !== null && (!opts.retry || this.#kept >= this.#maxKept)) {
      throw this.#retrying;
    }
    if (bodies.length === 0) {
      return { records: [], durable: Promise.resolve(), written: Promise.resolve(), inFile: true };
    }
    const records = bodies.map((body, i) => {
      const record = { seq: 0, ...body } as HamRecord;
      record.seq = this.#nextSeq + i;
      return record;
    });
    const bytes = concatBytes(records.map(encodeFrame));
    this.#nextSeq += records.length;
    const [durable, written, pending] = this.#enqueueWith(records, bytes, undefined, opts.retry);
    if (this.#retrying !== null) this.#kept += records.length;
    return { records, durable, written, inFile: pending.inFile === true };
  }

  /** The records appended but not yet durable, in order. */
  pending(): HamRecord[] {
    return [...this.#inFlight, ...this.#queue].flatMap((p) => p.records);
  }

  /** Resolves when every record appended so far is durable; rejects if one fails. */
  flush(): Promise<void> {
    if (!this.#loop && this.#queue.length === 0) return Promise.resolve();
    return this.#enqueue([], new Uint8Array());
  }

  /**
   * Starts a new segment at `nextSeq` once every record appended so far is durable;
   * records appended after this call go to the new segment. Resolves when it is open.
   */
  rotate(): Promise<void> {
    this.#check("rotate");
    return this.#enqueue([], new Uint8Array(), this.#nextSeq);
  }

  /** Waits for queued writes, then closes the segment file. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#wake?.();
    while (this.#loop) await this.#loop;
    this.#file.close();
  }

  #check(action: string): void {
    if (this.#broken) throw this.#broken;
    if (this.#closed) {
      throw new HamError(
        "ECANCELED",
        `Cannot ${action} journal "${this.#segment.path}": the journal is closed`,
      );
    }
  }

  #enqueue(records: HamRecord[], bytes: Uint8Array, rotateTo?: number): Promise<void> {
    return this.#enqueueWith(records, bytes, rotateTo)[0];
  }

  #enqueueWith(
    records: HamRecord[],
    bytes: Uint8Array,
    rotateTo?: number,
    retry = false,
  ): [Promise<void>, Promise<void>, Pending] {
    const [pending, durable, written] = deferred(records, bytes);
    pending.rotateTo = rotateTo;
    pending.retry = retry;
    this.#queue.push(pending);
    this.#writeAhead(pending);
    // A microtask later, so appends made in the same turn share one write.
    this.#loop ??= Promise.resolve().then(() => this.#run());
    return [durable, written, pending];
  }

  async #run(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        if (this.#retrying !== null && !await this.#waitToRetry()) return;
        if (this.#queue[0].records.length === 0) {
          await this.#barrier(this.#queue.shift()!);
          continue;
        }
        const end = this.#queue.findIndex((p) => p.records.length === 0);
        this.#inFlight = this.#queue.splice(0, end === -1 ? this.#queue.length : end);
        await this.#write(this.#inFlight);
        this.#inFlight = [];
      }
    } finally {
      this.#loop = null;
    }
  }

  /**
   * Writes `pending` at once, with a synchronous write, when nothing is under way (an idle
   * journal: `written` resolves without waiting for the loop, which then syncs it), or
   * while a batch is being fdatasync'd, behind it (so that it is written without waiting a
   * whole fdatasync). Only records, and only when everything queued before it is in the
   * file too (no barrier between). The next batch then syncs it; a failure of either cuts
   * it with the rest (`#rollback`). A failed write leaves it to the loop, which first cuts
   * whatever it half wrote.
   */
  #writeAhead(pending: Pending): void {
    const file = this.#file;
    const idle = this.#loop === null && !this.#dirty && !this.#torn;
    if (!(this.#syncing || idle) || !file.writeSync || pending.records.length === 0) return;
    // Those written ahead are a prefix of the queue: the one before says for all before.
    const before = this.#queue.at(-2);
    if (before && !before.inFile) return;
    try {
      writeAllSync(file.writeSync.bind(file), pending.bytes);
    } catch {
      // Rewritten by the loop, after it cuts back to the last durable byte.
      this.#torn = true;
      return;
    }
    pending.inFile = true;
    pending.wrote();
  }

  async #clean(): Promise<void> {
    if (!this.#dirty) return;
    await this.#file.truncate(this.#durableOffset);
    this.#dirty = false;
  }

  async #write(batch: Pending[]): Promise<void> {
    const bytes = concatBytes(batch.map((p) => p.bytes));
    try {
      if (this.#torn) {
        // A write ahead failed half-way: cut back to the last durable byte, write it all.
        this.#dirty = true;
        this.#torn = false;
        for (const p of batch) p.inFile = false;
      }
      await this.#clean();
      this.#dirty = true;
      // Those written ahead (while the previous batch synced) lead the batch.
      await writeAll(this.#file, concatBytes(batch.filter((p) => !p.inFile).map((p) => p.bytes)));
      for (const p of batch) p.wrote();
      const t0 = performance.now();
      this.#syncing = true;
      try {
        await this.#file.syncData();
      } finally {
        this.#syncing = false;
      }
      this.#onSync?.((performance.now() - t0) / 1000);
      this.#dirty = false;
    } catch (err) {
      return this.#rollback(fileError("Cannot append to journal", this.#segment.path, err), batch);
    }
    this.#durableOffset += bytes.length;
    this.#sizeBytes += bytes.length;
    this.#lastDurableSeq = batch.at(-1)!.records.at(-1)!.seq;
    for (const p of batch) p.resolve();
    if (this.#retrying !== null) {
      this.#retrying = null;
      try {
        this.#onRetry?.(null, batch.reduce((n, p) => n + p.records.length, 0));
      } catch { /* the hook reports its own errors */ }
    }
    this.#fileChanged();
  }

  /** Tells the follower of the files; what the hook throws is its own business. */
  #fileChanged(): void {
    try {
      this.#onFileChanged?.();
    } catch { /* the hook reports its own errors */ }
  }

  async #rollback(error: HamError, batch: Pending[]): Promise<void> {
    this.#torn = false; // What was written ahead is cut with the rest.
    await this.#clean().catch(() => {}); // On failure, retried before the next write.
    const failed = [...batch, ...this.#queue];
    if (failed.some((p) => p.retry)) return this.#keep(error, failed);
    this.#queue = [];
    this.#inFlight = [];
    this.#nextSeq = this.#lastDurableSeq + 1;
    try {
      this.#onRollback?.(this.#lastDurableSeq);
    } catch {
      // The hook reports its own errors; the appends fail either way.
    }
    this.#fileChanged();
    for (const p of failed) p.reject(error);
  }

  /**
   * A failed write of records appended with `retry`: nothing is rolled back. They and
   * everything queued with them (in order: a later record may rest on an earlier one) keep
   * their seqs and wait at the head of the queue, to be written again after `retryMs`.
   */
  #keep(error: HamError, failed: Pending[]): void {
    for (const p of failed) p.inFile = false;
    this.#queue = failed;
    this.#inFlight = [];
    const first = this.#retrying === null;
    this.#retrying = error;
    this.#kept = failed.reduce((n, p) => n + p.records.length, 0);
    if (first) {
      try {
        this.#onRetry?.(error, failed.reduce((n, p) => n + p.records.length, 0));
      } catch { /* the hook reports its own errors */ }
    }
    this.#fileChanged(); // Cut back to the last durable byte.
  }

  /**
   * Waits `retryMs` before the kept batches are written again; false when the journal
   * closed meanwhile (they are rejected: what is not durable is what a HAM that takes
   * over resumes from).
   */
  async #waitToRetry(): Promise<boolean> {
    if (!this.#closed) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.#retryMs);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.#wake = null;
    }
    if (!this.#closed) return true;
    const error = this.#retrying!;
    const failed = this.#queue;
    this.#queue = [];
    for (const p of failed) p.reject(error);
    return false;
  }

  async #barrier(barrier: Pending): Promise<void> {
    const firstSeq = barrier.rotateTo;
    if (firstSeq === undefined || firstSeq === this.#segment.firstSeq) return barrier.resolve();
    const path = segmentPath(this.dir, firstSeq);
    let file: JournalFile | undefined;
    try {
      await this.#clean();
      file = await this.#ops.open(path);
      await this.#ops.syncDir(join(this.dir, JOURNAL_DIR));
    } catch (err) {
      file?.close();
      // A stray empty segment would break replay: without it, the old one carries on.
      if (file) {
        await this.#ops.remove(path).catch((e) => {
          this.#broken = fileError("Cannot remove journal segment", path, e);
        });
      }
      return barrier.reject(fileError("Cannot start journal segment", path, err));
    }
    this.#file.close();
    this.#file = file;
    this.#segment = { firstSeq, path, size: 0 };
    this.#durableOffset = 0;
    this.#sizeBytes = 0;
    barrier.resolve();
  }
}
