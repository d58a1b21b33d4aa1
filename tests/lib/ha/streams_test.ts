import assert from "node:assert/strict";
import {
  READ_CHUNK_SIZE,
  recoveringReadable,
  recoveringWritable,
  writeAllWith,
} from "../../../lib/ha/streams.ts";

Deno.test("recoveringReadable() yields exactly what each read answered and ends at null", async () => {
  const parts = [[1, 2, 3], [4], null];
  const sizes: number[] = [];
  const stream = recoveringReadable((p) => {
    sizes.push(p.length);
    const next = parts.shift();
    if (!next) return Promise.resolve(null);
    p.set(next);
    return Promise.resolve(next.length);
  });
  const chunks = [];
  for await (const chunk of stream) chunks.push([...chunk]);
  assert.deepEqual(chunks, [[1, 2, 3], [4]]);
  assert.deepEqual(sizes, [READ_CHUNK_SIZE, READ_CHUNK_SIZE, READ_CHUNK_SIZE]);
});

Deno.test("recoveringReadable() reads only when asked", async () => {
  let reads = 0;
  const stream = recoveringReadable(() => (reads++, Promise.resolve(1)));
  await Promise.resolve();
  assert.equal(reads, 0);
  const reader = stream.getReader();
  await reader.read();
  assert.equal(reads, 1);
  await reader.cancel();
});

Deno.test("recoveringReadable() errors when the read throws", async () => {
  const stream = recoveringReadable(() => Promise.reject(new Deno.errors.BrokenPipe("gave up")));
  await assert.rejects(stream.getReader().read(), Deno.errors.BrokenPipe);
});

Deno.test("recoveringWritable() writes each chunk whole and calls close or abort", async () => {
  const log: string[] = [];
  const sink = recoveringWritable(
    (p) => (log.push(`write ${p.length}`), Promise.resolve()),
    () => void log.push("close"),
    () => void log.push("abort"),
  );
  const w = sink.getWriter();
  await w.write(new Uint8Array(3));
  await w.write(new Uint8Array(5));
  await w.close();
  const other = recoveringWritable(() => Promise.resolve(), () => {}, () => void log.push("abort"));
  await other.abort();
  assert.deepEqual(log, ["write 3", "write 5", "close", "abort"]);
});

Deno.test("writeAllWith() keeps writing until every byte is written", async () => {
  const got: number[] = [];
  await writeAllWith((p) => {
    got.push(p[0]);
    return Promise.resolve(Math.min(2, p.length));
  }, new Uint8Array([1, 2, 3, 4, 5]));
  assert.deepEqual(got, [1, 3, 5]);
});
