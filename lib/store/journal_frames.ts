/**
 * The journal's format: records live in segment files `<dir>/journal/<16-digit first
 * seq>.log`; a new segment starts at each compaction. Each record is one frame: u32 LE
 * payload length, u32 LE CRC32 of the payload, then the payload, the UTF-8 JSON of the
 * record (`{"seq":N,"t":...}`). This file encodes frames and checks them
 * ({@linkcode scanFrames}); what to do with a bad one (torn tail, corruption) is decided by
 * the one replay path (`replay.ts`).
 *
 * @module
 */

import { join } from "../core/paths.ts";
import { crc32 } from "../core/crc32.ts";
import type { HamRecord } from "../core/records.ts";
import { fileError } from "./durable.ts";
import { DEFAULTS } from "../core/defaults.ts";

/** The journal's sub-directory of the state directory. */
export const JOURNAL_DIR = "journal";
const HEADER = 8;
const encoder = new TextEncoder();
// ignoreBOM: a string that starts with U+FEFF keeps it (the default would strip it).
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
/** `{"seq":`, how every payload starts; used to find valid frames after a bad one. */
const PAYLOAD_START = encoder.encode('{"seq":');

/** A segment file of the journal. */
export interface Segment {
  /** The seq of the first record the segment holds (or will hold). */
  firstSeq: number;
  path: string;
  /** Its size in bytes when listed. */
  size: number;
}

/** The path of the segment whose first record is `firstSeq`. */
export function segmentPath(dir: string, firstSeq: number): string {
  return join(dir, JOURNAL_DIR, `${String(firstSeq).padStart(16, "0")}.log`);
}

/** The journal segments in `dir`, oldest first; none when there is no journal yet. */
export function listSegmentsSync(dir: string): Segment[] {
  const segments: Segment[] = [];
  try {
    for (const entry of Deno.readDirSync(join(dir, JOURNAL_DIR))) {
      const m = /^(\d{16})\.log$/.exec(entry.name);
      if (!m || !entry.isFile) continue;
      const path = join(dir, JOURNAL_DIR, entry.name);
      try {
        segments.push({ firstSeq: Number(m[1]), path, size: Deno.statSync(path).size });
      } catch (err) {
        if (!(err instanceof Deno.errors.NotFound)) throw err; // Removed by a compaction.
      }
    }
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return [];
    throw fileError("Cannot list journal", join(dir, JOURNAL_DIR), err);
  }
  return segments.sort((a, b) => a.firstSeq - b.firstSeq);
}

/** Encodes one record as a frame: length, CRC32, JSON payload. */
export function encodeFrame(record: HamRecord): Uint8Array {
  const payload = encoder.encode(JSON.stringify(record));
  const frame = new Uint8Array(HEADER + payload.length);
  const view = new DataView(frame.buffer);
  view.setUint32(0, payload.length, true);
  view.setUint32(4, crc32(payload), true);
  frame.set(payload, HEADER);
  return frame;
}

/** The result of reading the frames of a segment. */
export interface FrameScan {
  /** The records of the good frames, in order. */
  records: HamRecord[];
  /** The offset just past the last good frame. */
  end: number;
  /** Why reading stopped before the end of the bytes (e.g. `bad checksum`), or null. */
  error: string | null;
}

function readFrame(bytes: Uint8Array, off: number): { record: HamRecord; end: number } | string {
  if (bytes.length - off < HEADER) return "incomplete frame header";
  const view = new DataView(bytes.buffer, bytes.byteOffset + off, HEADER);
  const length = view.getUint32(0, true);
  if (length < PAYLOAD_START.length || length > DEFAULTS.maxFrameBytes) {
    return `bad frame length ${length}`;
  }
  if (off + HEADER + length > bytes.length) return "incomplete frame";
  const payload = bytes.subarray(off + HEADER, off + HEADER + length);
  if (crc32(payload) !== view.getUint32(4, true)) return "bad checksum";
  let record: unknown;
  try {
    record = JSON.parse(decoder.decode(payload));
  } catch {
    return "bad JSON payload";
  }
  const r = record as Partial<HamRecord> | null;
  if (typeof r?.seq !== "number" || typeof r.t !== "string") return "payload is not a record";
  return { record: r as HamRecord, end: off + HEADER + length };
}

/**
 * Reads the frames of a segment from the start, stopping at the first bad one. A frame
 * whose seq does not follow the previous one (the first must be `firstSeq`) is bad too.
 */
export function scanFrames(bytes: Uint8Array, firstSeq: number): FrameScan {
  const records: HamRecord[] = [];
  let off = 0;
  let expect = firstSeq;
  while (off < bytes.length) {
    const r = readFrame(bytes, off);
    if (typeof r === "string") return { records, end: off, error: r };
    if (r.record.seq !== expect) {
      return { records, end: off, error: `seq ${r.record.seq} where seq ${expect} was expected` };
    }
    records.push(r.record);
    expect++;
    off = r.end;
  }
  return { records, end: off, error: null };
}

/**
 * Finds every valid frame at or after `from`, wherever it starts (used after a bad frame,
 * to tell a torn tail from corruption in the middle, and to count what was lost).
 */
export function findFrames(bytes: Uint8Array, from: number): HamRecord[] {
  const found: HamRecord[] = [];
  let p = bytes.indexOf(PAYLOAD_START[0], from + HEADER);
  while (p >= 0) {
    let match = true;
    for (let i = 1; i < PAYLOAD_START.length && match; i++) {
      match = bytes[p + i] === PAYLOAD_START[i];
    }
    const r = match ? readFrame(bytes, p - HEADER) : "no match";
    if (typeof r !== "string") found.push(r.record);
    p = bytes.indexOf(PAYLOAD_START[0], typeof r === "string" ? p + 1 : r.end + HEADER);
  }
  return found;
}
