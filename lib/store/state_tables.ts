/**
 * The state tables: the HAM state kept as binary rows in SharedArrayBuffers, beside the
 * reducer's objects, so that a snapshot is a byte image and not a serialization.
 *
 * - The heap is one growable SharedArrayBuffer of rows, appended to: one row per entity
 *   (see `state_codec.ts`). A change re-encodes only the entities the applied records
 *   touched ({@linkcode StateTables.touch}); the old row becomes garbage, reclaimed by
 *   copying the live rows to a new heap once garbage outweighs them.
 * - The row table is three u32 columns in another growable SharedArrayBuffer (offset,
 *   length and CRC32 of each slot's row); a Map from entity name to slot indexes it.
 * - {@linkcode StateTables.image} copies the rows out (memcpy, in the entities' order)
 *   after a header, the globals row and an index: the snapshot file's bytes. The cost is
 *   the rows touched since the last image plus a copy, not a walk of the whole state.
 * - {@linkcode loadImage} copies a file's bytes into a new heap, checks it and reads the
 *   rows back into the reducer's objects; the tables it returns adopt that heap as is.
 *
 * Image layout (little endian): magic `HAMT` u32, format version u32, schema version u32,
 * row count u32 (the globals row first), rows' byte length u32, CRC32 u32 of bytes 0..20
 * and of the index, seq f64; then the index (offset u32, length u32, CRC32 u32 per row,
 * offsets relative to the rows); then the rows.
 *
 * @module
 */

import { crc32 } from "../core/crc32.ts";
import { ByteReader, ByteWriter, MAX_HEAP_BYTES } from "./binary_codec.ts";
import { HamError } from "../core/errors.ts";
import type { Entity, HamState } from "../core/model.ts";
import {
  readEntity,
  readGlobals,
  readRow,
  SCHEMA_VERSION,
  writeEntity,
  writeGlobals,
} from "./state_codec.ts";

/** The image format version. */
export const IMAGE_VERSION = 2;
const MAGIC = 0x544d4148; // "HAMT" read as a u32 LE.
const HEADER = 32;
const INDEX_ENTRY = 12;
/** Garbage below this is never worth a heap copy. */
const MIN_RECLAIM_BYTES = 1 << 20;

/** The rows of one heap and the slot of each entity. */
export class StateTables {
  #heap: ByteWriter;
  #cols: Uint32Array; // [offset, length, crc] per slot, over a growable SharedArrayBuffer.
  #slots = new Map<string, number>();
  #free: number[] = [];
  #dirty = new Set<string>();
  #live = 0;
  #garbage = 0;

  private constructor(heap: ByteWriter) {
    this.#heap = heap;
    const cols = new SharedArrayBuffer(1024 * INDEX_ENTRY, {
      maxByteLength: MAX_HEAP_BYTES - (MAX_HEAP_BYTES % INDEX_ENTRY),
    });
    this.#cols = new Uint32Array(cols);
  }

  /** Tables holding every entity of `state`. */
  static of(state: HamState): StateTables {
    const t = new StateTables(ByteWriter.create());
    for (const e of state.entities.values()) t.#put(e);
    return t;
  }

  /** Bytes of rows still referenced, and bytes of rows replaced or removed. */
  get usage(): { liveBytes: number; garbageBytes: number; heapBytes: number } {
    return { liveBytes: this.#live, garbageBytes: this.#garbage, heapBytes: this.#heap.pos };
  }

  /** Marks entities as changed (see `touchedEntities()` beside the reducer). */
  touch(entities: Iterable<string>): void {
    for (const name of entities) this.#dirty.add(name);
  }

  /** Re-encodes the touched entities' rows (and drops the removed ones) from `state`. */
  sync(state: HamState): void {
    for (const name of this.#dirty) {
      const e = state.entities.get(name);
      if (e) this.#put(e);
      else this.#drop(name);
    }
    this.#dirty = new Set();
    if (this.#slots.size !== state.entities.size) {
      // An entity added or removed by no record that named it: a bug elsewhere, but the
      // image must still hold every entity.
      for (const e of state.entities.values()) if (!this.#slots.has(e.name)) this.#put(e);
      for (const name of [...this.#slots.keys()]) if (!state.entities.has(name)) this.#drop(name);
    }
    if (this.#garbage > MIN_RECLAIM_BYTES && this.#garbage > this.#live) this.#reclaim();
  }

  /** The snapshot image of `state`, after a {@linkcode sync}. */
  image(state: HamState): Uint8Array {
    this.sync(state);
    const globals = ByteWriter.create(4096);
    writeGlobals(globals, state);
    const rows = 1 + state.entities.size;
    const rowsAt = HEADER + rows * INDEX_ENTRY;
    const out = new Uint8Array(rowsAt + globals.pos + this.#live);
    const view = new DataView(out.buffer);
    const heap = this.#heap.bytes;
    out.set(globals.bytes.subarray(0, globals.pos), rowsAt);
    const index = (i: number, off: number, len: number, crc: number) => {
      view.setUint32(HEADER + i * INDEX_ENTRY, off, true);
      view.setUint32(HEADER + i * INDEX_ENTRY + 4, len, true);
      view.setUint32(HEADER + i * INDEX_ENTRY + 8, crc, true);
    };
    index(0, 0, globals.pos, crc32(out.subarray(rowsAt, rowsAt + globals.pos)));
    let at = globals.pos;
    let i = 1;
    for (const name of state.entities.keys()) {
      const slot = this.#slots.get(name)!;
      const [off, len, crc] = this.#cols.subarray(slot * 3, slot * 3 + 3);
      out.set(heap.subarray(off, off + len), rowsAt + at);
      index(i++, at, len, crc);
      at += len;
    }
    view.setUint32(0, MAGIC, true);
    view.setUint32(4, IMAGE_VERSION, true);
    view.setUint32(8, SCHEMA_VERSION, true);
    view.setUint32(12, rows, true);
    view.setUint32(16, at, true);
    view.setFloat64(24, state.seq, true);
    view.setUint32(20, headerCrc(out, rows), true);
    return out;
  }

  #put(e: Entity): void {
    const start = this.#heap.pos;
    writeEntity(this.#heap, e);
    this.#drop(e.name);
    this.#setRow(e.name, start, this.#heap.pos - start);
  }

  /** Gives `name` a slot (a freed one, or a new one) pointing at the row `off`, `len`. */
  #setRow(name: string, off: number, len: number, crc?: number): void {
    let slot = this.#free.pop();
    if (slot === undefined) {
      slot = this.#slots.size;
      const need = (slot + 1) * INDEX_ENTRY;
      const buf = this.#cols.buffer as SharedArrayBuffer;
      if (need > buf.byteLength) buf.grow(Math.max(need, buf.byteLength * 2));
    }
    this.#slots.set(name, slot);
    this.#cols[slot * 3] = off;
    this.#cols[slot * 3 + 1] = len;
    this.#cols[slot * 3 + 2] = crc ?? crc32(this.#heap.bytes.subarray(off, off + len));
    this.#live += len;
  }

  #drop(name: string): void {
    const slot = this.#slots.get(name);
    if (slot === undefined) return;
    const len = this.#cols[slot * 3 + 1];
    this.#live -= len;
    this.#garbage += len;
    this.#slots.delete(name);
    this.#free.push(slot);
  }

  /** Copies the live rows to a new heap. */
  #reclaim(): void {
    const old = this.#heap.bytes;
    const heap = ByteWriter.create(Math.max(64 * 1024, this.#live * 2));
    for (const slot of this.#slots.values()) {
      const off = this.#cols[slot * 3];
      const len = this.#cols[slot * 3 + 1];
      this.#cols[slot * 3] = heap.pos;
      heap.raw(old.subarray(off, off + len));
    }
    this.#heap = heap;
    this.#garbage = 0;
  }

  /** Tables over a loaded image's bytes, as {@linkcode loadImage} found them. */
  static adopt(
    heap: ByteWriter,
    rows: { name: string; off: number; len: number; crc: number }[],
  ): StateTables {
    const t = new StateTables(heap);
    for (const row of rows) t.#setRow(row.name, row.off, row.len, row.crc);
    t.#garbage = heap.pos - t.#live;
    return t;
  }
}

function headerCrc(bytes: Uint8Array, rows: number): number {
  // Bytes 20..24 hold this CRC itself.
  return crc32(bytes.subarray(24, HEADER + rows * INDEX_ENTRY), crc32(bytes.subarray(0, 20)));
}

/** A state read back from an image, and tables that continue from it. */
export interface LoadedImage {
  state: HamState;
  tables: StateTables;
}

/**
 * Reads an image made by {@linkcode StateTables.image}: copies it into a new heap, checks
 * header, index and every row's CRC, and reads the rows.
 *
 * @throws {HamError} EIO naming what is wrong.
 */
export function loadImage(bytes: Uint8Array): LoadedImage {
  const fail = (what: string): never => {
    throw new HamError("EIO", `Cannot load state image: ${what}`);
  };
  if (bytes.length < HEADER) fail(`${bytes.length} bytes is shorter than the header`);
  // The one copy: from here on, the image is the tables' heap. The rows are read from the
  // caller's bytes, which are not shared: V8 reads plain buffers faster.
  const heap = ByteWriter.create(Math.max(64 * 1024, bytes.length));
  heap.raw(bytes);
  const b = bytes;
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (view.getUint32(0, true) !== MAGIC) fail("not a state image (bad magic)");
  if (view.getUint32(4, true) !== IMAGE_VERSION) {
    fail(`unsupported version ${view.getUint32(4, true)}`);
  }
  if (view.getUint32(8, true) !== SCHEMA_VERSION) {
    fail(`unsupported row schema ${view.getUint32(8, true)}`);
  }
  const rows = view.getUint32(12, true);
  const rowsAt = HEADER + rows * INDEX_ENTRY;
  if (rows < 1 || rowsAt > bytes.length) fail(`${rows} rows do not fit in ${bytes.length} bytes`);
  if (rowsAt + view.getUint32(16, true) !== bytes.length) {
    fail(
      `the rows are ${bytes.length - rowsAt} bytes, the header says ${view.getUint32(16, true)}`,
    );
  }
  if (headerCrc(b.subarray(0, bytes.length), rows) !== view.getUint32(20, true)) {
    fail("bad header checksum");
  }
  const row = (i: number) => {
    const at = HEADER + i * INDEX_ENTRY;
    const off = rowsAt + view.getUint32(at, true);
    const len = view.getUint32(at + 4, true);
    const crc = view.getUint32(at + 8, true);
    if (off + len > bytes.length) fail(`row ${i} overruns the image`);
    if (crc32(b.subarray(off, off + len)) !== crc) fail(`bad checksum of row ${i}`);
    return { off, len, crc };
  };
  try {
    const g = row(0);
    const reader = new ByteReader(b);
    const globals = readRow(reader, g.off, g.off + g.len, readGlobals);
    if (globals.seq !== view.getFloat64(24, true)) {
      fail("the globals row and header disagree on seq");
    }
    const entities = new Map<string, Entity>();
    const found = [];
    for (let i = 1; i < rows; i++) {
      const at = row(i);
      const e = readRow(reader, at.off, at.off + at.len, readEntity);
      if (entities.has(e.name)) fail(`entity "${e.name}" appears twice`);
      entities.set(e.name, e);
      found.push({ name: e.name, ...at });
    }
    return { state: { ...globals, entities }, tables: StateTables.adopt(heap, found) };
  } catch (err) {
    if (err instanceof HamError && err.message.startsWith("Cannot load")) throw err;
    return fail(err instanceof Error ? err.message : String(err));
  }
}
