import { deepEqual as assertEquals } from "node:assert/strict";
import { sha256 } from "../../../lib/core/sha256.ts";

const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, "0")).join("");

Deno.test("sha256() matches Web Crypto for lengths around every block boundary", async () => {
  for (const n of [0, 1, 3, 55, 56, 63, 64, 65, 119, 120, 128, 255, 256, 1000, 4097]) {
    const data = new Uint8Array(n).map((_, i) => (i * 31 + n) & 0xff);
    const expected = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
    assertEquals(hex(sha256(data)), hex(expected), `length ${n}`);
  }
});
