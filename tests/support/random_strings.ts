/**
 * Random strings for property tests: well-formed UTF-16 drawn from ASCII, Latin, the rest of
 * the BMP (without surrogates), astral characters and the awkward ones (`%`, `.`, U+FFFD,
 * U+FEFF, combining marks), and item names valid for `validateName()`.
 *
 * @module
 */

import { Rng } from "./fault_model.ts";

const AWKWARD = ["%", ".", "%2E", "%25", "\uFFFD", "\uFEFF", "\u0301", "😀", "𝄞", " ", "~", "\\"];

/** One random code point as a string (never a lone surrogate). */
function randomChar(rng: Rng): string {
  switch (rng.int(5)) {
    case 0:
      return String.fromCharCode(0x20 + rng.int(0x5f));
    case 1:
      return String.fromCodePoint(0xa0 + rng.int(0x700));
    case 2: {
      const cp = 0x800 + rng.int(0xfffe - 0x800);
      return String.fromCodePoint(cp >= 0xd800 && cp <= 0xdfff ? cp + 0x800 : cp);
    }
    case 3:
      return String.fromCodePoint(0x10000 + rng.int(0xfffff));
    default:
      return rng.pick(AWKWARD);
  }
}

/** A well-formed string of up to `maxChars` characters. */
export function randomString(rng: Rng, maxChars: number): string {
  let s = "";
  const n = rng.int(maxChars + 1);
  for (let i = 0; i < n; i++) s += randomChar(rng);
  return s;
}

/** UTF-8 length of `s` (counted in JS: a TextEncoder call per character is slow). */
export function utf8Bytes(s: string): number {
  let n = 0;
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    n += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
  }
  return n;
}

/** A valid item name (no `/`, no control character, not `.`/`..`) of at most `maxBytes`. */
export function randomName(rng: Rng, maxBytes = 255): string {
  for (;;) {
    let s = rng.int(4) === 0 ? "." : "";
    let bytes = s.length;
    const target = rng.int(3) === 0 ? maxBytes : 1 + rng.int(maxBytes);
    while (bytes < target) {
      const ch = randomChar(rng).replaceAll("/", "_");
      const n = utf8Bytes(ch);
      if (bytes + n > maxBytes) break;
      s += ch;
      bytes += n;
    }
    if (s !== "" && s !== "." && s !== "..") return s;
  }
}
