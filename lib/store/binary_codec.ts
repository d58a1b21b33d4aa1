/**
 * A little-endian binary writer and reader over one growable SharedArrayBuffer (the
 * writer) or any byte view (the reader): the primitives the state tables' rows are
 * written with. No tags and no field names: the schema is the code in `state_codec.ts`.
 *
 * Strings are a u32 of `byteLength << 1 | ascii` and their bytes; ASCII strings (almost
 * every name, path and argv) are written and read without TextEncoder/TextDecoder.
 *
 * @module
 */

import { HamError } from "../core/errors.ts";

const encoder = new TextEncoder();
// ignoreBOM: a string that starts with U+FEFF keeps it (the default would strip it).
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const latin1 = new TextDecoder("latin1");
/** Biggest heap the writer grows to: row offsets are u32. */
export const MAX_HEAP_BYTES = 0xffff_fff0;

/** Appends bytes at the end of a growable SharedArrayBuffer. */
export class ByteWriter {
  readonly buffer: SharedArrayBuffer;
  #bytes: Uint8Array;
  #view: DataView;
  /** The next byte written goes here. */
  pos: number;

  constructor(buffer: SharedArrayBuffer, pos = 0) {
    this.buffer = buffer;
    this.#bytes = new Uint8Array(buffer); // Length-tracking: follows grow().
    this.#view = new DataView(buffer);
    this.pos = pos;
  }

  /** A writer over a new growable buffer of `initial` bytes. */
  static create(initial = 64 * 1024): ByteWriter {
    return new ByteWriter(new SharedArrayBuffer(initial, { maxByteLength: MAX_HEAP_BYTES }));
  }

  /** The bytes of the buffer (a length-tracking view). */
  get bytes(): Uint8Array {
    return this.#bytes;
  }

  #ensure(n: number): void {
    const need = this.pos + n;
    if (need <= this.buffer.byteLength) return;
    if (need > MAX_HEAP_BYTES) {
      throw new HamError("ENOMEM", `Cannot grow the state tables beyond ${MAX_HEAP_BYTES} bytes`);
    }
    this.buffer.grow(Math.min(MAX_HEAP_BYTES, Math.max(need, this.buffer.byteLength * 2)));
  }

  u8(v: number): void {
    this.#ensure(1);
    this.#bytes[this.pos++] = v;
  }

  u32(v: number): void {
    this.#ensure(4);
    this.#view.setUint32(this.pos, v, true);
    this.pos += 4;
  }

  f64(v: number): void {
    this.#ensure(8);
    this.#view.setFloat64(this.pos, v, true);
    this.pos += 8;
  }

  bool(v: boolean): void {
    this.u8(v ? 1 : 0);
  }

  /** A number or null (null is written as a NaN with a marker byte). */
  num(v: number | null): void {
    this.u8(v === null ? 0 : 1);
    if (v !== null) this.f64(v);
  }

  str(s: string): void {
    let ascii = true;
    for (let i = 0; i < s.length; i++) {
      if (s.charCodeAt(i) > 0x7f) {
        ascii = false;
        break;
      }
    }
    if (ascii) {
      this.u32(s.length * 2 + 1);
      this.#ensure(s.length);
      for (let i = 0; i < s.length; i++) this.#bytes[this.pos + i] = s.charCodeAt(i);
      this.pos += s.length;
      return;
    }
    const at = this.pos;
    this.u32(0);
    this.#ensure(s.length * 3);
    const { written } = encoder.encodeInto(s, this.#bytes.subarray(this.pos));
    this.#view.setUint32(at, written * 2, true);
    this.pos += written;
  }

  strOrNull(s: string | null): void {
    this.u8(s === null ? 0 : 1);
    if (s !== null) this.str(s);
  }

  strList(list: readonly string[]): void {
    this.u32(list.length);
    for (const s of list) this.str(s);
  }

  strListOrNull(list: readonly string[] | null): void {
    this.u8(list === null ? 0 : 1);
    if (list !== null) this.strList(list);
  }

  /** Copies `src` at the end. */
  raw(src: Uint8Array): void {
    this.#ensure(src.length);
    this.#bytes.set(src, this.pos);
    this.pos += src.length;
  }
}

/** Reads what {@linkcode ByteWriter} wrote; throws HamError EIO past the end. */
export class ByteReader {
  readonly #bytes: Uint8Array;
  readonly #view: DataView;
  #end: number;
  pos: number;

  constructor(bytes: Uint8Array, start = 0, end = bytes.length) {
    this.#bytes = bytes;
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = start;
    this.#end = end;
  }

  /** Moves the reader to the bytes `[start, end)` of the same buffer. */
  range(start: number, end: number): this {
    if (end > this.#bytes.length) throw new HamError("EIO", `row ends past ${this.#bytes.length}`);
    this.pos = start;
    this.#end = end;
    return this;
  }

  /** True when every byte up to the end was read. */
  get done(): boolean {
    return this.pos === this.#end;
  }

  #need(n: number): number {
    const at = this.pos;
    if (at + n > this.#end) throw new HamError("EIO", `row ends at ${this.#end}, read ${at + n}`);
    this.pos += n;
    return at;
  }

  u8(): number {
    return this.#bytes[this.#need(1)];
  }

  u32(): number {
    return this.#view.getUint32(this.#need(4), true);
  }

  f64(): number {
    return this.#view.getFloat64(this.#need(8), true);
  }

  bool(): boolean {
    return this.u8() !== 0;
  }

  num(): number | null {
    return this.u8() === 0 ? null : this.f64();
  }

  str(): string {
    const head = this.u32();
    const length = head >>> 1;
    const at = this.#need(length);
    if ((head & 1) === 0) return decoder.decode(this.#bytes.slice(at, at + length));
    if (length > 256) return latin1.decode(this.#bytes.slice(at, at + length));
    // Short ASCII: one fromCharCode call over a plain array beats both TextDecoder and
    // per-character concatenation (measured by bench/snapshot_size.ts).
    const codes = new Array<number>(length);
    for (let i = 0; i < length; i++) codes[i] = this.#bytes[at + i];
    return String.fromCharCode(...codes);
  }

  strOrNull(): string | null {
    return this.u8() === 0 ? null : this.str();
  }

  strList(): string[] {
    const n = this.u32();
    if (n > this.#end - this.pos) {
      throw new HamError("EIO", `list of ${n} strings overruns the row`);
    }
    const out = new Array<string>(n);
    for (let i = 0; i < n; i++) out[i] = this.str();
    return out;
  }

  strListOrNull(): string[] | null {
    return this.u8() === 0 ? null : this.strList();
  }
}
