/**
 * Byte buffers: joining pieces into one (a journal batch, the event log's lines of a turn,
 * a status answer's head and first entity, an output line with its prefix).
 *
 * @module
 */

/** `parts` joined into one buffer; the part itself when there is only one. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
