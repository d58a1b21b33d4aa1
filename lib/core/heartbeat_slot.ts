/**
 * The heartbeat slot, pure: a few bytes of a file both the HAM and a beating process can
 * reach, through which a beat costs the HAM nothing when it is made. The HAM writes the
 * current accounting of the entity into the slot (where its periods start, how long they
 * are); the process, at each beat, marks the period its clock is in; the HAM looks at the
 * slot once per period, when that period ends. A beat is then a store into memory in the
 * beating process, with no message, no system call and no wake-up of the HAM.
 *
 * Layout of one slot ({@linkcode SLOT_BYTES} bytes, little-endian, at an offset the HAM
 * hands out; never straddling a page):
 *
 * | offset | type | written by | what |
 * |---|---|---|---|
 * | 0 | f64 | HAM | origin: the accounting's periods count from here (ms since the epoch) |
 * | 8 | f64 | HAM | period in ms; 0 while not armed, −1 once revoked (beat over the socket) |
 * | 16 | f64 | process | the last beat (ms since the epoch, `Date.now()`) |
 * | 32 | u32 × 16 | process | ring of marked periods: index k stored at `k % 16` as `k + 1` (mod 2³²) |
 *
 * A beat in period k (the period `[origin + k·period, origin + (k+1)·period)`, a beat
 * before the origin counting in period 0) stores `k + 1` at ring position `k % 16`. When
 * period k ends, the HAM reads position `k % 16`: the beat counts in the period it was
 * made in, however late the HAM looks (up to {@linkcode SLOT_RING} periods late), as
 * beats over the socket do. The HAM clears the ring when it arms the slot.
 *
 * @module
 */

/** Bytes of one slot (a power of two: slots never straddle a page). */
export const SLOT_BYTES = 128;
/** Periods the ring remembers: how late the HAM may look at a period end. */
export const SLOT_RING = 16;
/** Byte offsets of the fields of a slot. */
export const SLOT = { origin: 0, period: 8, lastBeat: 16, ring: 32 } as const;
/** The period field of a revoked slot: the process beats over the socket again. */
export const SLOT_REVOKED = -1;
/** Bytes the HAM reads at a period end: the header and the ring. */
export const SLOT_READ_BYTES = SLOT.ring + 4 * SLOT_RING;

/** Where the HAM put an entity's slot: a file and the slot's offset in it. */
export interface SlotPlace {
  path: string;
  offset: number;
}

/** One slot, as the HAM uses it (the effect shell reads and writes the file). */
export interface BeatSlot {
  /** Starts an accounting: writes its origin and period and clears the ring. */
  arm(origin: number, periodMs: number): void;
  /** Ends the slot's use: the process beats over the socket from its next beat. */
  revoke(): void;
  /** The slot's bytes ({@linkcode SLOT_READ_BYTES} of them), or null when they cannot be read. */
  read(): DataView | null;
}

/** The index of the period that ends at `end` (an end the accounting computed). */
export function periodIndexEnding(origin: number, periodMs: number, end: number): number {
  return Math.round((end - origin) / periodMs) - 1;
}

/** The index of the period holding time `t` (0 for a time before the origin). */
export function periodIndexAt(origin: number, periodMs: number, t: number): number {
  return t <= origin ? 0 : Math.floor((t - origin) / periodMs);
}

/** The ring's mark of period `k`. */
function mark(k: number): number {
  return (k + 1) % 2 ** 32;
}

/** The bytes that arm a slot: header and a cleared ring. */
export function armedBytes(origin: number, periodMs: number): Uint8Array {
  const bytes = new Uint8Array(SLOT_READ_BYTES);
  const v = new DataView(bytes.buffer);
  v.setFloat64(SLOT.origin, origin, true);
  v.setFloat64(SLOT.period, periodMs, true);
  return bytes;
}

/** True when the slot shows a beat in period `k`. */
export function slotSeen(v: DataView, k: number): boolean {
  if (k < 0) return false;
  return v.getUint32(SLOT.ring + 4 * (k % SLOT_RING), true) === mark(k);
}

/**
 * The slot's last beat, when there is one and it is a plausible time: after `after` (the
 * last beat the HAM knew) and not ahead of `now` by more than a second (a process may
 * write anything, NaN included).
 */
export function slotLastBeat(v: DataView, after: number | null, now: number): number | null {
  const t = v.getFloat64(SLOT.lastBeat, true);
  if (!(t > 0) || t > now + 1000 || (after !== null && t <= after)) return null;
  return t;
}

/** What a beat into a slot did: marked, or why the process must beat over the socket. */
export type SlotBeat = "marked" | "revoked" | "unarmed";

/**
 * A beat at `now` (ms since the epoch) into the slot `v`, as the beating process makes
 * it: marks the period `now` is in and records the time.
 */
export function beatSlot(v: DataView, now: number): SlotBeat {
  const periodMs = v.getFloat64(SLOT.period, true);
  if (periodMs === SLOT_REVOKED) return "revoked";
  if (!(periodMs > 0)) return "unarmed";
  const k = periodIndexAt(v.getFloat64(SLOT.origin, true), periodMs, now);
  v.setFloat64(SLOT.lastBeat, now, true);
  v.setUint32(SLOT.ring + 4 * (k % SLOT_RING), mark(k), true);
  return "marked";
}
