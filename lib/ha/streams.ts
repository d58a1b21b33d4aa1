/**
 * Web streams backed by an HA object's recovering read and write, so that a `readable`
 * and a `writable` keep flowing across a server's death and restart.
 *
 * @module
 */

/** The size of each read a readable stream issues, in bytes. */
export const READ_CHUNK_SIZE = 16 * 1024;

/**
 * A byte stream that pulls with `read` (a recovering read). Each chunk is exactly what
 * one read returned: the stream neither buffers nor repeats bytes, so it never duplicates
 * what was read. It ends when `read` answers null and errors when `read` throws.
 * Cancelling it stops reading; it does not close the object it reads from.
 */
export function recoveringReadable(
  read: (p: Uint8Array) => Promise<number | null>,
): ReadableStream<Uint8Array<ArrayBuffer>> {
  return new ReadableStream<Uint8Array<ArrayBuffer>>({
    async pull(controller) {
      const buf = new Uint8Array(READ_CHUNK_SIZE);
      const n = await read(buf);
      if (n === null) controller.close();
      else controller.enqueue(buf.subarray(0, n));
    },
  }, { highWaterMark: 0 });
}

/**
 * A byte sink that writes each chunk with `writeAll` (a recovering write of the whole
 * chunk: after a recovery the chunk is re-issued in full, so the new server sees whole
 * chunks). Closing the stream calls `close`; aborting it calls `abort`.
 */
export function recoveringWritable(
  writeAll: (p: Uint8Array) => Promise<void>,
  close: () => Promise<void> | void,
  abort: () => Promise<void> | void,
): WritableStream<Uint8Array> {
  return new WritableStream<Uint8Array>({
    async write(chunk) {
      await writeAll(chunk);
    },
    async close() {
      await close();
    },
    async abort() {
      await abort();
    },
  });
}

/**
 * Writes all of `p` with `write`, one call after another. Used as the operation that a
 * recovering `writeAll` re-issues in full when it fails.
 */
export async function writeAllWith(
  write: (p: Uint8Array) => Promise<number>,
  p: Uint8Array,
): Promise<void> {
  let done = 0;
  while (done < p.length) done += await write(p.subarray(done));
}
