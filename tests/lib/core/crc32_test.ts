import assert from "node:assert/strict";
import { crc32 as nodeCrc32 } from "node:zlib";
import { crc32 } from "../../../lib/core/crc32.ts";

Deno.test("crc32() gives the IEEE check value of the standard test string", () => {
  assert.equal(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
  assert.equal(crc32(new Uint8Array(0)), 0);
});

Deno.test("crc32() equals node:zlib's crc32 for every length and continues from a value", () => {
  for (let len = 0; len < 70; len++) {
    const data = crypto.getRandomValues(new Uint8Array(len));
    assert.equal(crc32(data), nodeCrc32(data), `length ${len}`);
    assert.equal(crc32(data, 0xdeadbeef), nodeCrc32(data, 0xdeadbeef), `length ${len}, continued`);
  }
  const all = crypto.getRandomValues(new Uint8Array(1000));
  assert.equal(crc32(all.subarray(300), crc32(all.subarray(0, 300))), crc32(all));
});
