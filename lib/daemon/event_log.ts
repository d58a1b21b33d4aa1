/**
 * The durable event log: events as JSON lines in segment files `<dir>/events/<seq>.jsonl`,
 * so a subscriber that restarts (or a HAM that takes over) resumes from a sequence number.
 *
 * Each event is written with one `write()` as it happens (it survives the death of the
 * HAM: the page cache is the kernel's) and the file is fdatasync'd at most every
 * {@linkcode EventLogOptions.syncMs} (so a machine crash loses at most that much).
 * Retention is bounded by {@linkcode EventLogOptions.maxSegments} segments of
 * {@linkcode EventLogOptions.segmentBytes}; a torn last line is ignored on open.
 *
 * @module
 */

import { concatBytes } from "../core/bytes.ts";
import { join } from "../core/paths.ts";
import type { HamEvent } from "../core/protocol.ts";
import { DEFAULTS } from "../core/defaults.ts";
import { ensureDirNoFollowSync, openNoFollowSync } from "../os/safe_open.ts";

/** Options of {@linkcode EventLog.open}. */
export interface EventLogOptions {
  /** Rotate after this many bytes. @default 1 MiB */
  segmentBytes?: number;
  /** Keep this many segments (older ones are deleted). @default 16 */
  maxSegments?: number;
  /** Flush to disk at most this often, ms. @default 200 */
  syncMs?: number;
  /**
   * The segments were opened (checked, and cleaned when they needed it) by the HAM that
   * wrote them since, with whole lines only: what a Guardian taking over finds, the HAM
   * being gone but not the machine. Only the tail of the last segment is read then, for a
   * torn last line; zeroed blocks (from a machine crash, which a later open would have
   * found) cannot be in them. @default false
   */
  checkedBefore?: boolean;
}

const NAME = /^(\d{16})\.jsonl$/;
const encoder = new TextEncoder();

function segName(seq: number): string {
  return `${String(seq).padStart(16, "0")}.jsonl`;
}

/**
 * Reads the events of one segment; a torn or corrupt line ends it. With `mustContain`, only
 * the lines that contain it are parsed (and returned).
 */
function readSegment(path: string, mustContain?: string): HamEvent[] {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch {
    return [];
  }
  if (mustContain !== undefined) return parseMarked(text, mustContain);
  const out: HamEvent[] = [];
  for (const line of text.split("\n")) {
    if (line.length === 0) continue;
    const ev = parseEvent(line);
    if (ev === null) break;
    out.push(ev);
  }
  return out;
}

/** The event on `line`, or null when it is not one (torn or corrupt). */
function parseEvent(line: string): HamEvent | null {
  try {
    const ev = JSON.parse(line) as HamEvent;
    return typeof ev?.seq === "number" ? ev : null;
  } catch {
    return null;
  }
}

/**
 * The events of a segment's text on the lines that contain `mark`, found by searching the
 * whole text (the other lines are neither parsed nor split off: a catch-up looking for a
 * few notifications reads a segment at the speed of `indexOf`). As when every line is
 * read, a torn or corrupt line ends the segment: one that holds a NUL byte (a machine
 * crash's unwritten blocks), wherever it is, or a marked line that is not an event.
 */
function parseMarked(text: string, mark: string): HamEvent[] {
  const nul = text.indexOf("\0");
  const end = nul < 0 ? text.length : text.lastIndexOf("\n", nul) + 1;
  const out: HamEvent[] = [];
  for (let at = text.indexOf(mark); at >= 0 && at < end; at = text.indexOf(mark, at)) {
    const start = text.lastIndexOf("\n", at) + 1;
    const stop = text.indexOf("\n", at);
    const ev = parseEvent(text.slice(start, stop < 0 ? end : stop));
    if (ev === null) break;
    out.push(ev);
    if (stop < 0) break;
    at = stop;
  }
  return out;
}

/**
 * The end of the last whole line of a segment (where a torn tail starts) and that line's
 * seq, when the segment can only have been torn at its end: no NUL byte in it (a machine
 * crash can leave zeroed blocks) and a last whole line that is an event. Null otherwise:
 * the segment is read event by event.
 */
function lastWholeLine(path: string): { end: number; size: number; seq: number | null } | null {
  let bytes: Uint8Array;
  try {
    bytes = Deno.readFileSync(path);
  } catch {
    return null;
  }
  if (bytes.indexOf(0) >= 0) return null;
  const end = bytes.lastIndexOf(10) + 1;
  if (end === 0) return bytes.length === 0 ? { end: 0, size: 0, seq: null } : null;
  const start = bytes.lastIndexOf(10, end - 2) + 1;
  try {
    const ev = JSON.parse(new TextDecoder().decode(bytes.subarray(start, end - 1)));
    return typeof ev?.seq === "number" ? { end, size: bytes.length, seq: ev.seq } : null;
  } catch {
    return null;
  }
}

/** Bytes of a segment's end {@linkcode tailWholeLine} reads first (twice as many each time). */
const TAIL_BYTES = 16 * 1024;

/**
 * {@linkcode lastWholeLine} from the end of the segment only: what a takeover reads of a
 * segment the HAM that died had opened and appended whole lines to. Null when that cannot
 * tell (a NUL byte or no event in the tail read): the whole segment is read then.
 */
function tailWholeLine(path: string): { end: number; size: number; seq: number | null } | null {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true });
  } catch {
    return null;
  }
  try {
    const size = file.statSync().size;
    for (let want = TAIL_BYTES;; want *= 2) {
      const from = Math.max(0, size - want);
      const bytes = new Uint8Array(size - from);
      file.seekSync(from, Deno.SeekMode.Start);
      let got = 0;
      while (got < bytes.length) {
        const n = file.readSync(bytes.subarray(got));
        if (n === null) return null;
        got += n;
      }
      if (bytes.indexOf(0) >= 0) return null;
      const end = bytes.lastIndexOf(10) + 1;
      if (end === 0 && from > 0) continue; // One line longer than what was read.
      if (end === 0) return size === 0 ? { end: 0, size: 0, seq: null } : null;
      const start = bytes.lastIndexOf(10, end - 2) + 1;
      if (start === 0 && from > 0) continue; // The last whole line begins before it.
      const ev = parseEvent(new TextDecoder().decode(bytes.subarray(start, end - 1)));
      return ev === null ? null : { end: from + end, size, seq: ev.seq };
    }
  } catch {
    return null;
  } finally {
    file.close();
  }
}

/** The on-disk event log. */
export class EventLog {
  readonly dir: string;
  #segments: number[];
  #file: Deno.FsFile | null = null;
  #bytes = 0;
  #dirty = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #opts: Required<EventLogOptions>;
  /** Sequence number of the last event on disk (0 when empty). */
  lastSeq = 0;

  private constructor(dir: string, segments: number[], opts: Required<EventLogOptions>) {
    this.dir = dir;
    this.#segments = segments;
    this.#opts = opts;
  }

  /** Opens (creating) the log in `<stateDir>/events`. */
  static open(stateDir: string, opts: EventLogOptions = {}): EventLog {
    const dir = join(stateDir, "events");
    ensureDirNoFollowSync(dir);
    const segments = [...Deno.readDirSync(dir)].map((e) => NAME.exec(e.name)).filter((m) => m)
      .map((m) => Number(m![1])).sort((a, b) => a - b);
    const log = new EventLog(dir, segments, {
      segmentBytes: opts.segmentBytes ?? DEFAULTS.eventSegmentBytes,
      maxSegments: opts.maxSegments ?? DEFAULTS.eventSegments,
      syncMs: opts.syncMs ?? DEFAULTS.eventSyncMs,
      checkedBefore: opts.checkedBefore ?? false,
    });
    const last = segments.at(-1);
    if (last !== undefined) {
      const path = join(dir, segName(last));
      const fast = opts.checkedBefore
        ? tailWholeLine(path) ?? lastWholeLine(path)
        : lastWholeLine(path);
      if (fast !== null) {
        // Only a torn last line to cut (if any): no need to read every event.
        log.lastSeq = fast.seq ?? last - 1;
        if (fast.end < fast.size) Deno.truncateSync(path, fast.end);
        log.#bytes = fast.end;
      } else {
        const events = readSegment(path);
        log.lastSeq = events.at(-1)?.seq ?? last - 1;
        // Rewrite the last segment without a torn tail before appending to it.
        const clean = events.map((e) => JSON.stringify(e) + "\n").join("");
        Deno.writeTextFileSync(path, clean);
        log.#bytes = encoder.encode(clean).length;
      }
    }
    return log;
  }

  /**
   * Events with `seq >= since`, oldest first, at most `limit`; with `mustContain`, only those
   * whose line contains it (the others are not parsed).
   */
  read(since: number, limit = Infinity, mustContain?: string): HamEvent[] {
    const out: HamEvent[] = [];
    for (let i = 0; i < this.#segments.length; i++) {
      const next = this.#segments[i + 1];
      if (next !== undefined && next <= since) continue;
      for (const ev of readSegment(join(this.dir, segName(this.#segments[i])), mustContain)) {
        if (ev.seq < since) continue;
        out.push(ev);
        if (out.length >= limit) return out;
      }
    }
    return out;
  }

  /** The first sequence numbers of the segments on disk, oldest first. */
  get segments(): readonly number[] {
    return this.#segments;
  }

  /** The path of the segment whose first event is `firstSeq`. */
  segmentPath(firstSeq: number): string {
    return join(this.dir, segName(firstSeq));
  }

  /**
   * A reader of the events from `since` on, a chunk at a time (a catch-up replay never
   * parses the whole log in one turn of the event loop, nor holds it in memory).
   */
  reader(since: number): EventLogReader {
    return new EventLogReader(this, since);
  }

  /** The oldest sequence number still on disk (lastSeq + 1 when empty). */
  get oldestSeq(): number {
    return this.#segments[0] ?? this.lastSeq + 1;
  }

  /** Appends one event (its seq must follow the last one appended), as {@linkcode appendAll}. */
  append(ev: HamEvent, json: string = JSON.stringify(ev)): void {
    this.appendAll([{ ev, json }]);
  }

  /**
   * Appends events in order (each seq following the one before), now, in as few writes as
   * segments: the hub hands it the events of one turn together (`EventHub.flush`). `json`
   * is each event's `JSON.stringify`. Never throws: a write that fails loses its events
   * from the file only (they are in the hub's memory window).
   */
  appendAll(batch: readonly { ev: HamEvent; json: string }[]): void {
    try {
      let lines: Uint8Array[] = [];
      for (const { ev: { seq }, json } of batch) {
        if (!this.#file || this.#bytes >= this.#opts.segmentBytes) {
          this.#write(lines);
          lines = [];
          this.#rotate(seq);
        }
        const bytes = encoder.encode(json + "\n");
        lines.push(bytes);
        this.#bytes += bytes.length;
        this.lastSeq = seq;
      }
      this.#write(lines);
    } catch { /* the in-memory window still has them; the next batch is tried anew */ }
  }

  /** Writes `lines` (encoded) with one write. */
  #write(lines: Uint8Array[]): void {
    if (lines.length === 0) return;
    const bytes = concatBytes(lines);
    let off = 0;
    while (off < bytes.length) off += this.#file!.writeSync(bytes.subarray(off));
    this.#dirty = true;
    this.#timer ??= setTimeout(() => this.flush(false), this.#opts.syncMs);
  }

  #rotate(firstSeq: number): void {
    const last = this.#segments.at(-1);
    if (this.#file) this.flush();
    this.#file?.close();
    if (last === undefined || this.#bytes >= this.#opts.segmentBytes) {
      this.#segments.push(firstSeq);
      this.#bytes = 0;
      while (this.#segments.length > this.#opts.maxSegments) {
        const old = this.#segments.shift()!;
        try {
          Deno.removeSync(join(this.dir, segName(old)));
        } catch { /* already gone */ }
      }
    }
    const path = join(this.dir, segName(this.#segments.at(-1)!));
    this.#file = openNoFollowSync(path, {
      append: true,
      create: true,
      write: true,
      mode: DEFAULTS.lockMode,
    });
  }

  /**
   * Writes pending events to disk. The periodic flush runs off the event loop (an fsync
   * must not delay a restart); `sync` is for close and rotation.
   */
  flush(sync = true): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (!this.#dirty || !this.#file) return;
    this.#dirty = false;
    if (!sync) {
      this.#file.syncData().catch(() => {/* the next flush tries again */});
      return;
    }
    try {
      this.#file.syncDataSync();
    } catch { /* reported by the next append */ }
  }

  /** Flushes and closes. */
  close(): void {
    this.flush();
    this.#file?.close();
    this.#file = null;
  }
}

/** Bytes of the log one {@linkcode EventLogReader.read} reads (more for one longer line). */
export const READ_CHUNK_BYTES = 64 * 1024;
/** A line this long is not an event: the rest of its segment is skipped. */
const MAX_EVENT_LINE_BYTES = 16 * 1024 * 1024;
const SEQ_PREFIX = /^\{"seq":(\d+)[,}]/;

/**
 * Reads the durable log from a sequence number on, one bounded chunk per
 * {@linkcode EventLogReader.read}, opening the segment for each chunk (so a reader that
 * waits holds no descriptor, and a segment deleted meanwhile is simply gone: the events
 * after it come next, and the gap shows in their sequence numbers).
 *
 * @example
 * ```ts
 * import { EventLog } from "./event_log.ts";
 * const dir = await Deno.makeTempDir();
 * const log = EventLog.open(dir);
 * for (let seq = 1; seq <= 3; seq++) log.append({ seq, at: seq, type: "state", entity: "a" });
 * const reader = log.reader(2);
 * console.log((await reader.read())?.map((e) => e.seq)); // [2, 3]
 * console.log(await reader.read()); // null
 * log.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class EventLogReader {
  #log: EventLog;
  #segment: number | null = null;
  #offset = 0;
  /** The sequence number of the next event to read. */
  next: number;

  /** A reader of `log` from `since` on. */
  constructor(log: EventLog, since: number) {
    this.#log = log;
    this.next = since;
  }

  /**
   * The next events on disk (sequence numbers from {@linkcode next} on, ascending), from
   * about `chunkBytes` of the file; null once everything on disk now has been read.
   */
  async read(chunkBytes = READ_CHUNK_BYTES): Promise<HamEvent[] | null> {
    const decoder = new TextDecoder();
    for (;;) {
      const segs = this.#log.segments;
      if (this.#segment === null) {
        // The segment that holds `next`.
        if (segs.length === 0) return null;
        this.#segment = segs[Math.max(0, segs.findLastIndex((first) => first <= this.next))];
        this.#offset = 0;
      } else if (!segs.includes(this.#segment)) {
        // Deleted while being read (retention): on with the first segment after it.
        if (!this.#nextSegment()) return null;
      }
      const chunk = await this.#readAt(this.#segment, this.#offset, chunkBytes);
      const end = chunk === null ? -1 : chunk.lastIndexOf(10);
      if (chunk === null || end < 0) {
        if (chunk !== null && chunk.length === chunkBytes && chunkBytes < MAX_EVENT_LINE_BYTES) {
          chunkBytes *= 2; // One line longer than a chunk.
          continue;
        }
        // The end of the segment (or a torn tail): on to the next one, if any.
        if (!this.#nextSegment()) return null;
        continue;
      }
      this.#offset += end + 1;
      const events: HamEvent[] = [];
      let corrupt = false;
      for (const line of decoder.decode(chunk.subarray(0, end)).split("\n")) {
        if (line.length === 0) continue;
        const m = SEQ_PREFIX.exec(line);
        if (m === null) {
          corrupt = true;
          break;
        }
        if (Number(m[1]) < this.next) continue;
        try {
          events.push(JSON.parse(line) as HamEvent);
        } catch {
          corrupt = true;
          break;
        }
      }
      if (corrupt && !this.#nextSegment() && events.length === 0) return null;
      if (events.length > 0) {
        this.next = events[events.length - 1].seq + 1;
        return events;
      }
    }
  }

  /** Moves on to the segment after the current one; false when there is none. */
  #nextSegment(): boolean {
    const after = this.#log.segments.find((f) => f > this.#segment!);
    if (after === undefined) return false;
    this.#segment = after;
    this.#offset = 0;
    return true;
  }

  /** Up to `bytes` of segment `first` from `offset`; null when the segment is gone. */
  async #readAt(first: number, offset: number, bytes: number): Promise<Uint8Array | null> {
    let file: Deno.FsFile;
    try {
      file = await Deno.open(this.#log.segmentPath(first), { read: true });
    } catch {
      return null;
    }
    try {
      await file.seek(offset, Deno.SeekMode.Start);
      const buf = new Uint8Array(bytes);
      let got = 0;
      while (got < bytes) {
        const n = await file.read(buf.subarray(got));
        if (n === null) break;
        got += n;
      }
      return buf.subarray(0, got);
    } catch {
      return null;
    } finally {
      file.close();
    }
  }
}
