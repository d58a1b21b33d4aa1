/**
 * Heartbeat slot files (see `lib/core/heartbeat_slot.ts`): the HAM's side, and the
 * beating process's.
 *
 * The HAM keeps one file per connection that asks for slots, `<state>/beats/<id>`
 * (mode 0600, owned by the connection's peer uid so that the process can map it, its
 * blocks allocated up front so that a store into a mapped page never meets a full disk).
 * The HAM itself never maps a file a client can write: it reads a slot with `pread` once
 * per period end and writes it with `pwrite` when an accounting starts, so a process that
 * truncates or scribbles over its file harms only its own entities' accounting, never the
 * HAM (a mapping would turn a truncation into a SIGBUS of the HAM).
 *
 * The beating process maps the page holding its slot (`MAP_SHARED`) and beats by storing
 * into it: no system call per beat.
 *
 * @module
 */

import { HamError } from "../core/errors.ts";
import {
  armedBytes,
  type BeatSlot,
  SLOT,
  SLOT_BYTES,
  SLOT_READ_BYTES,
  SLOT_REVOKED,
  type SlotPlace,
} from "../core/heartbeat_slot.ts";
import { cString, errno, libc, libcAvailable, MMAP, OPEN } from "./libc.ts";

/** Bytes by which a slot file grows (one page: 32 slots). */
const GROW_BYTES = 4096;
const PAGE_BYTES = 4096;

/** The directory of the slot files of state directory `dir`: `<dir>/beats`. */
export function beatsDir(dir: string): string {
  return `${dir}/beats`;
}

/**
 * Empties (creating it when missing, mode 0711: reachable, not listable) the slot
 * directory of a HAM that starts or takes over: the files of the connections of a HAM
 * that ended are no one's (their processes ask the new HAM for new slots). Something else
 * in its place (a file, a symbolic link) is removed first, never followed.
 */
export function resetBeatsDir(dir: string): void {
  const beats = beatsDir(dir);
  try {
    const info = Deno.lstatSync(beats);
    if (!info.isDirectory) Deno.removeSync(beats);
  } catch { /* missing: made below */ }
  try {
    for (const e of Deno.readDirSync(beats)) {
      try {
        Deno.removeSync(`${beats}/${e.name}`, { recursive: true });
      } catch { /* gone already */ }
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) return;
    try {
      Deno.mkdirSync(beats, { mode: 0o711 });
    } catch { /* the slots are refused, and the processes beat over the socket */ }
  }
  try {
    Deno.chmodSync(beats, 0o711);
  } catch { /* as above */ }
}

/** True when this process can make or map slot files (FFI is permitted). */
export function beatSlotsAvailable(): boolean {
  return libcAvailable();
}

/** The slot file of one connection, on the HAM's side. */
export class BeatSlotFile {
  readonly path: string;
  #fd: number;
  #size = 0;
  #used = 0;
  #maxSlots: number;
  #read = new Uint8Array(SLOT_READ_BYTES);
  #readView = new DataView(this.#read.buffer);
  #revoked = new Float64Array([SLOT_REVOKED]);

  private constructor(path: string, fd: number, maxSlots: number) {
    this.path = path;
    this.#fd = fd;
    this.#maxSlots = maxSlots;
  }

  /**
   * Creates the file at `path` (which must not exist), owned by `owner` when given.
   *
   * @throws {HamError} with the system's reason when it cannot be created.
   */
  static create(
    path: string,
    maxSlots: number,
    owner: { uid: number; gid: number } | null,
  ): BeatSlotFile {
    const c = libc();
    const fd = c.open(
      cString(path),
      OPEN.O_RDWR | OPEN.O_CREAT | OPEN.O_EXCL | OPEN.O_NOFOLLOW | OPEN.O_CLOEXEC,
      0o600,
    );
    if (fd < 0) {
      throw new HamError("EIO", `Cannot create heartbeat slot file "${path}": errno ${errno()}`);
    }
    if (owner !== null && owner.uid !== Deno.uid() && c.fchown(fd, owner.uid, owner.gid) < 0) {
      const e = errno();
      c.close(fd);
      try {
        Deno.removeSync(path);
      } catch { /* gone */ }
      throw new HamError(
        "EPERM",
        `Cannot give heartbeat slot file "${path}" to uid ${owner.uid}: errno ${e}`,
      );
    }
    return new BeatSlotFile(path, fd, maxSlots);
  }

  /** Slots handed out. */
  get used(): number {
    return this.#used;
  }

  /**
   * A new slot's offset, the file grown (and its blocks allocated) as needed; null when
   * the file holds its maximum or cannot grow (a full disk).
   */
  allocate(): number | null {
    if (this.#fd < 0 || this.#used >= this.#maxSlots) return null;
    const offset = this.#used * SLOT_BYTES;
    if (offset + SLOT_BYTES > this.#size) {
      const c = libc();
      const size = this.#size + GROW_BYTES;
      if (c.ftruncate(this.#fd, size) < 0) return null;
      if (c.posix_fallocate(this.#fd, this.#size, GROW_BYTES) !== 0) {
        c.ftruncate(this.#fd, this.#size);
        return null;
      }
      this.#size = size;
    }
    this.#used++;
    return offset;
  }

  /** The slot at `offset`, for the heartbeat accounting. */
  slot(offset: number): BeatSlot {
    return {
      arm: (origin, periodMs) => {
        if (this.#fd < 0) return;
        libc().pwrite(this.#fd, armedBytes(origin, periodMs), offset);
      },
      revoke: () => {
        if (this.#fd < 0) return;
        libc().pwrite(this.#fd, new Uint8Array(this.#revoked.buffer), offset + SLOT.period);
      },
      read: () => {
        if (this.#fd < 0) return null;
        const n = libc().pread(this.#fd, this.#read, offset);
        return n === SLOT_READ_BYTES ? this.#readView : null;
      },
    };
  }

  /** Closes and removes the file (its process may keep its mapping: nobody reads it). */
  close(): void {
    if (this.#fd < 0) return;
    libc().close(this.#fd);
    this.#fd = -1;
    try {
      Deno.removeSync(this.path);
    } catch { /* gone */ }
  }
}

/** A slot mapped by the beating process: a view of its bytes, and the mapping to end. */
export interface MappedSlot {
  view: DataView;
  unmap(): void;
}

/**
 * Maps the page of `place.path` that holds the slot at `place.offset`, for a process that
 * beats through it.
 *
 * @throws {HamError} `EPERM` when FFI is not permitted, `EACCES` when the file cannot be
 * opened or mapped.
 */
export function mapBeatSlot(place: SlotPlace): MappedSlot {
  const c = libc();
  const fd = c.open(cString(place.path), OPEN.O_RDWR | OPEN.O_NOFOLLOW | OPEN.O_CLOEXEC);
  if (fd < 0) {
    throw new HamError(
      "EACCES",
      `Cannot open heartbeat slot file "${place.path}": errno ${errno()}`,
    );
  }
  const pageOffset = place.offset - (place.offset % PAGE_BYTES);
  const ptr = c.mmap(PAGE_BYTES, MMAP.PROT_READ | MMAP.PROT_WRITE, MMAP.MAP_SHARED, fd, pageOffset);
  const mapErrno = ptr === null ? errno() : 0;
  c.close(fd);
  if (ptr === null) {
    throw new HamError(
      "EACCES",
      `Cannot map heartbeat slot file "${place.path}": errno ${mapErrno}`,
    );
  }
  const buffer = Deno.UnsafePointerView.getArrayBuffer(ptr, PAGE_BYTES);
  let mapped = true;
  return {
    view: new DataView(buffer, place.offset - pageOffset, SLOT_BYTES),
    unmap: () => {
      if (!mapped) return;
      mapped = false;
      c.munmap(ptr, PAGE_BYTES);
    },
  };
}
