import assert from "node:assert/strict";
import { concatBytes } from "../../../lib/core/bytes.ts";

Deno.test("concatBytes() joins the parts in order, and returns a lone part as it is", () => {
  const a = new Uint8Array([1, 2]);
  assert.deepEqual(
    concatBytes([a, new Uint8Array(), new Uint8Array([3])]),
    new Uint8Array([1, 2, 3]),
  );
  assert.equal(concatBytes([a]), a);
  assert.deepEqual(concatBytes([]), new Uint8Array());
});
