/**
 * Snapshots: the whole HAM state in one checksummed file, `<dir>/snapshot/<16-digit seq>.snap`,
 * written durably. Replay starts from the newest valid snapshot and applies the journal
 * records after its seq.
 *
 * File format: the magic `HAMS`, u32 LE format version, u32 LE payload length, u32 LE
 * CRC32 of the payload, then the payload: the UTF-8 JSON of the state, where each Map is
 * written as the array of its values (every Map is keyed by its values' `name`).
 *
 * @module
 */

import { join } from "node:path";
import { crc32 } from "node:zlib";
import { HamError } from "./errors.ts";
import { fileError, fsyncDir, writeFileDurable } from "./durable.ts";
import type { Condition, Entity, HamState, RunState } from "./model.ts";

/** The snapshots' sub-directory of the state directory. */
export const SNAPSHOT_DIR = "snapshot";
/** The snapshot format version this code writes and reads. */
export const SNAPSHOT_VERSION = 1;
const MAGIC = 0x534d4148; // "HAMS" read as a u32 LE.
const HEADER = 16;
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** A snapshot file. */
export interface SnapshotFile {
  /** The seq of the last record folded into it. */
  seq: number;
  path: string;
}

/** A snapshot read back. */
export interface LoadedSnapshot extends SnapshotFile {
  state: HamState;
}

function mapValues(key: string, value: unknown): unknown {
  if (!(value instanceof Map)) return value;
  for (const [k, v] of value) {
    if (k !== (v as { name?: unknown }).name) {
      throw new HamError("EINVAL", `Cannot encode state: "${key}" key "${k}" is not the name`);
    }
  }
  return [...value.values()];
}

/** Encodes the state as a snapshot file's bytes. Synchronous: it is an image of `state` now. */
export function encodeState(state: HamState): Uint8Array {
  const payload = encoder.encode(JSON.stringify(state, mapValues));
  const bytes = new Uint8Array(HEADER + payload.length);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint32(4, SNAPSHOT_VERSION, true);
  view.setUint32(8, payload.length, true);
  view.setUint32(12, crc32(payload), true);
  bytes.set(payload, HEADER);
  return bytes;
}

/** Decodes a snapshot, or says what is wrong with it. */
function decode(bytes: Uint8Array): HamState | string {
  if (bytes.length < HEADER) return `${bytes.length} bytes is shorter than the header`;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== MAGIC) return "not a snapshot (bad magic)";
  const version = view.getUint32(4, true);
  if (version !== SNAPSHOT_VERSION) return `unsupported version ${version}`;
  const length = view.getUint32(8, true);
  if (length !== bytes.length - HEADER) {
    return `payload is ${bytes.length - HEADER} bytes, the header says ${length}`;
  }
  const payload = bytes.subarray(HEADER);
  if (crc32(payload) !== view.getUint32(12, true)) return "bad checksum";
  let raw: Omit<HamState, "entities" | "runs"> & {
    entities: (Entity & { conditions: unknown })[];
    runs?: RunState[];
  };
  try {
    raw = JSON.parse(decoder.decode(payload));
  } catch (err) {
    return `bad JSON payload (${(err as Error).message})`;
  }
  if (typeof raw?.seq !== "number" || !Array.isArray(raw.entities)) return "not a state";
  const entities = new Map<string, Entity>();
  for (const e of raw.entities) {
    if (typeof e?.name !== "string" || !Array.isArray(e.conditions)) return "bad entity";
    const conditions = e.conditions as Condition[];
    e.conditions = new Map(conditions.map((c) => [c.name, c]));
    entities.set(e.name, e);
  }
  const runs = new Map<string, RunState>();
  for (const r of raw.runs ?? []) {
    if (typeof r?.name !== "string") return "bad run";
    runs.set(r.name, r);
  }
  return { ...raw, entities, runs };
}

/**
 * Decodes what {@linkcode encodeState} wrote, Maps and their order included.
 *
 * @throws {HamError} EIO naming what is wrong: magic, version, length, checksum, content.
 */
export function decodeState(bytes: Uint8Array): HamState {
  const state = decode(bytes);
  if (typeof state === "string") throw new HamError("EIO", `Cannot decode snapshot: ${state}`);
  return state;
}

/** The snapshot files in `dir`, oldest first; none when there are none yet. */
export function listSnapshotsSync(dir: string): SnapshotFile[] {
  const found: SnapshotFile[] = [];
  try {
    for (const entry of Deno.readDirSync(join(dir, SNAPSHOT_DIR))) {
      const m = /^(\d{16})\.snap$/.exec(entry.name);
      if (m && entry.isFile) {
        found.push({ seq: Number(m[1]), path: join(dir, SNAPSHOT_DIR, entry.name) });
      }
    }
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return [];
    throw fileError("Cannot list snapshots", join(dir, SNAPSHOT_DIR), err);
  }
  return found.sort((a, b) => a.seq - b.seq);
}

/** The path of the snapshot taken at `seq`. */
export function snapshotPath(dir: string, seq: number): string {
  return join(dir, SNAPSHOT_DIR, `${String(seq).padStart(16, "0")}.snap`);
}

/**
 * Durably writes bytes from {@linkcode encodeState} as the snapshot at `seq`.
 *
 * @returns The snapshot's path.
 * @throws {HamError} ENOSPC when the disk is full, EIO for other failures.
 */
export async function writeEncodedSnapshot(
  dir: string,
  seq: number,
  bytes: Uint8Array,
): Promise<string> {
  const path = snapshotPath(dir, seq);
  try {
    await Deno.mkdir(join(dir, SNAPSHOT_DIR), { recursive: true });
  } catch (err) {
    throw fileError("Cannot create snapshot directory", join(dir, SNAPSHOT_DIR), err);
  }
  await fsyncDir(dir); // The snapshot directory itself must survive a power cut.
  await writeFileDurable(path, bytes);
  return path;
}

/**
 * Durably writes `state` as the snapshot at `state.seq`. The state is encoded before the
 * first await, so later changes to it do not leak into the file.
 *
 * @returns The snapshot's path.
 * @throws {HamError} ENOSPC when the disk is full, EIO for other failures.
 */
export function writeSnapshot(dir: string, state: HamState): Promise<string> {
  return writeEncodedSnapshot(dir, state.seq, encodeState(state));
}

/**
 * Reads the newest valid snapshot in `dir`. A corrupt one is reported through `log` and
 * skipped for the next older one. Synchronous, as the replay path must not yield.
 *
 * @returns The snapshot, or null when there is no valid one.
 */
export function readLatestSnapshotSync(
  dir: string,
  log: (level: "warn", msg: string) => void = () => {},
): LoadedSnapshot | null {
  const files = listSnapshotsSync(dir).reverse();
  for (const [i, file] of files.entries()) {
    let state: HamState | string;
    try {
      state = decode(Deno.readFileSync(file.path));
    } catch (err) {
      state = err instanceof Error ? err.message : String(err);
    }
    if (typeof state !== "string" && state.seq !== file.seq) state = `it holds seq ${state.seq}`;
    if (typeof state !== "string") return { ...file, state };
    const next = i + 1 < files.length ? "trying an older one" : "no older one is left";
    log("warn", `Cannot read snapshot "${file.path}": ${state}; ${next}`);
  }
  return null;
}
