/**
 * Snapshots: the whole HAM state in one checksummed file, `<dir>/snapshot/<16-digit seq>.snap`,
 * written durably. Replay starts from the newest valid snapshot and applies the journal
 * records after its seq.
 *
 * A snapshot's bytes are the image of the state tables (`state_tables.ts`): binary rows
 * from SharedArrayBuffers, each with its CRC32, behind a checksummed header and index.
 *
 * @module
 */

import { join } from "../core/paths.ts";
import { fileError, fsyncDir, writeFileDurable } from "./durable.ts";
import type { HamState } from "../core/model.ts";
import { loadImage, StateTables } from "./state_tables.ts";
import { ensureDirNoFollowSync } from "../os/safe_open.ts";

/** The snapshots' sub-directory of the state directory. */
export const SNAPSHOT_DIR = "snapshot";

/** A snapshot file. */
export interface SnapshotFile {
  /** The seq of the last record folded into it. */
  seq: number;
  path: string;
}

/** A snapshot read back, with the state tables that continue from it. */
export interface LoadedSnapshot extends SnapshotFile {
  state: HamState;
  tables: StateTables;
}

/**
 * Encodes the whole state as a snapshot file's bytes, through new state tables.
 * Synchronous: it is an image of `state` now. The HAM keeps its tables instead and only
 * re-encodes what changed (see {@linkcode StateTables.image}).
 */
export function encodeState(state: HamState): Uint8Array {
  return StateTables.of(state).image(state);
}

/**
 * Decodes what {@linkcode encodeState} wrote, Maps and their order included.
 *
 * @throws {HamError} EIO naming what is wrong: magic, version, length, checksum, content.
 */
export function decodeState(bytes: Uint8Array): HamState {
  return loadImage(bytes).state;
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
    ensureDirNoFollowSync(join(dir, SNAPSHOT_DIR));
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
    let problem: string;
    try {
      const loaded = loadImage(Deno.readFileSync(file.path));
      if (loaded.state.seq === file.seq) return { ...file, ...loaded };
      problem = `it holds seq ${loaded.state.seq}`;
    } catch (err) {
      problem = (err instanceof Error ? err.message : String(err))
        .replace(/^Cannot load state image: /, "");
    }
    const next = i + 1 < files.length ? "trying an older one" : "no older one is left";
    log("warn", `Cannot read snapshot "${file.path}": ${problem}; ${next}`);
  }
  return null;
}
