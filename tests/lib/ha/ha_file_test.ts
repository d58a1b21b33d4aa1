import assert from "node:assert/strict";
import type { HamError } from "../../../lib/core/errors.ts";
import {
  type FopenMode,
  haCreate,
  type HaFile,
  haFopen,
  haOpen,
  haReopen,
} from "../../../lib/ha/ha_file.ts";
import { HA_RECOVERY_ACOUNT } from "../../../lib/ha/recovery_core.ts";

/** A temporary directory, removed at the end. */
async function tempDir(): Promise<AsyncDisposable & { path: string }> {
  const path = await Deno.makeTempDir({ prefix: "ha-file-" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

/** The handle of the documented example: recoveries made and the offset reached. */
interface H {
  recoveries: number;
  offset: number;
}

/** The documented recovery function: reopen, seek to the saved offset. */
async function reopenAtOffset(failed: HaFile<H>, h: H): Promise<boolean> {
  await haReopen(failed);
  await failed.raw.seek(h.offset, Deno.SeekMode.Start);
  h.recoveries++;
  return true;
}

const text = (p: Uint8Array) => new TextDecoder().decode(p);

Deno.test("HaFile.read() continues at the saved offset after the handle went stale", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/data`;
  await Deno.writeTextFile(path, "abcdefghijklmnopqrstuvwxyz");
  const h: H = { recoveries: 0, offset: 0 };
  using file = await haOpen(path, { read: true }, reopenAtOffset, h);
  const buf = new Uint8Array(5);
  let got = "";
  for (let n; (n = await file.read(buf)) !== null;) {
    got += text(buf.subarray(0, n));
    h.offset += n;
    if (h.offset === 10 || h.offset === 20) file.raw.close(); // the file server "restarts"
  }
  assert.equal(got, "abcdefghijklmnopqrstuvwxyz");
  assert.equal(h.recoveries, 2);
  assert.equal(file.stats.acount, 2);
});

Deno.test("HaFile.write() re-issues a failed write after recovery, in full", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/out`;
  const h: H = { recoveries: 0, offset: 0 };
  using file = await haCreate(path, reopenAtOffset, h);
  await file.writeAll(new TextEncoder().encode("hello "));
  h.offset = 6;
  file.raw.close();
  await file.writeAll(new TextEncoder().encode("world"));
  assert.equal(await Deno.readTextFile(path), "hello world", "reopening did not truncate");
  assert.equal(h.recoveries, 1);
});

Deno.test("HaFile.seek() and stat() recover like reads", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/data`;
  await Deno.writeTextFile(path, "0123456789");
  const h: H = { recoveries: 0, offset: 4 };
  using file = await haOpen(path, { read: true }, reopenAtOffset, h);
  file.raw.close();
  assert.equal(await file.seek(2, Deno.SeekMode.Current), 6, "relative to the recovered offset");
  file.raw.close();
  assert.equal((await file.stat()).size, 10);
  assert.equal(h.recoveries, 2);
});

Deno.test("HaFile.write() does not recover EBADF from a file opened read-only", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/ro`;
  await Deno.writeTextFile(path, "x");
  const h: H = { recoveries: 0, offset: 0 };
  using file = await haOpen(path, { read: true }, reopenAtOffset, h);
  await assert.rejects(
    file.write(new Uint8Array(1)),
    (e) => (e as { code?: string }).code === "EBADF",
  );
  assert.equal(h.recoveries, 0);
});

Deno.test("HaFile.read() surfaces BadResource once ACOUNT recoveries were made", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/data`;
  await Deno.writeTextFile(path, "abc");
  const h: H = { recoveries: 0, offset: 0 };
  using file = await haOpen(path, { read: true }, reopenAtOffset, h);
  file.control(HA_RECOVERY_ACOUNT, 1);
  file.raw.close();
  assert.equal(await file.read(new Uint8Array(1)), 1);
  file.raw.close();
  await assert.rejects(file.read(new Uint8Array(1)), Deno.errors.BadResource);
  assert.equal(h.recoveries, 1);
});

Deno.test("HaFile.dup() shares the offset, and closing one leaves the other open", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/data`;
  await Deno.writeTextFile(path, "abcdef");
  const h: H = { recoveries: 0, offset: 0 };
  const a = await haOpen(path, { read: true }, reopenAtOffset, h);
  const b = a.dup();
  const buf = new Uint8Array(2);
  await a.read(buf);
  a.close();
  assert.equal(await b.read(buf), 2);
  assert.equal(text(buf), "cd");
  b.close();
});

Deno.test("HaFile.readable streams the rest of the file across a recovery", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/data`;
  const content = "x".repeat(40_000);
  await Deno.writeTextFile(path, content);
  const h: H = { recoveries: 0, offset: 0 };
  using file = await haOpen(path, { read: true }, reopenAtOffset, h);
  let got = "";
  for await (const chunk of file.readable) {
    got += text(chunk);
    h.offset += chunk.length;
    if (h.recoveries === 0) file.raw.close();
  }
  assert.equal(got, content);
  assert.equal(h.recoveries, 1);
});

Deno.test("HaFile.writable writes every chunk across a recovery and closes the file", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/out`;
  const h: H = { recoveries: 0, offset: 0 };
  const file = await haCreate(path, reopenAtOffset, h);
  const w = file.writable.getWriter();
  await w.write(new TextEncoder().encode("ab"));
  h.offset = 2;
  file.raw.close();
  await w.write(new TextEncoder().encode("cd"));
  await w.close();
  assert.equal(file.closed, true);
  assert.equal(await Deno.readTextFile(path), "abcd");
});

Deno.test("haFopen() opens with the fopen mode and throws EINVAL on a bad mode", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/f`;
  const h: H = { recoveries: 0, offset: 0 };
  using w = await haFopen(path, "w", reopenAtOffset, h);
  await w.writeAll(new TextEncoder().encode("12"));
  using a = await haFopen(path, "a", reopenAtOffset, h);
  await a.writeAll(new TextEncoder().encode("34"));
  using r = await haFopen(path, "r", reopenAtOffset, h);
  const buf = new Uint8Array(8);
  assert.equal(text(buf.subarray(0, (await r.read(buf))!)), "1234");
  assert.deepEqual(w.reopenOptions, {
    write: true,
    create: false,
    truncate: false,
    createNew: false,
  });
  assert.equal(a.reopenOptions.create, true, "an append-only file is created again");
  await assert.rejects(
    haFopen(path, "rw" as FopenMode, reopenAtOffset, h),
    (e) => (e as HamError).code === "EINVAL",
  );
});

Deno.test("haFopen() accepts the binary modes as their text modes", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/f`;
  const h: H = { recoveries: 0, offset: 0 };
  using w = await haFopen(path, "wb", reopenAtOffset, h);
  await w.writeAll(new Uint8Array([0, 1, 2]));
  using a = await haFopen(path, "ab", reopenAtOffset, h);
  await a.writeAll(new Uint8Array([3]));
  for (const mode of ["rb", "r+b", "rb+"] as const) {
    using r = await haFopen(path, mode, reopenAtOffset, h);
    const buf = new Uint8Array(8);
    assert.deepEqual([...buf.subarray(0, (await r.read(buf))!)], [0, 1, 2, 3], mode);
  }
  using rw = await haFopen(path, "r+b", reopenAtOffset, h);
  await rw.writeAll(new Uint8Array([9]));
  assert.deepEqual([...await Deno.readFile(path)], [9, 1, 2, 3], "r+b writes in place");
  using _t = await haFopen(path, "w+b", reopenAtOffset, h);
  assert.deepEqual([...await Deno.readFile(path)], [], "w+b truncates");
  for (const bad of ["bw", "rbb", "r+bb", "b", "rb++"]) {
    await assert.rejects(
      haFopen(path, bad as FopenMode, reopenAtOffset, h),
      (e) => (e as HamError).code === "EINVAL",
      bad,
    );
  }
});

Deno.test("haReopen() opens another path when given one and keeps it", async () => {
  await using dir = await tempDir();
  await Deno.writeTextFile(`${dir.path}/one`, "1");
  await Deno.writeTextFile(`${dir.path}/two`, "2");
  using file = await haOpen(`${dir.path}/one`, { read: true }, () => false, null);
  assert.equal(await haReopen(file, `${dir.path}/two`), file);
  assert.equal(file.path, `${dir.path}/two`);
  const buf = new Uint8Array(1);
  await file.read(buf);
  assert.equal(text(buf), "2");
});

Deno.test("haReopen() keeps the options it was given for later reopens without truncating again", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/out`;
  await Deno.writeTextFile(path, "old contents");
  const h: H = { recoveries: 0, offset: 0 };
  using file = await haOpen(path, { read: true, write: true }, reopenAtOffset, h);
  // Reopened by hand with O_TRUNC, as asked (the same options as the first open, say).
  await haReopen(file, path, { read: true, write: true, create: true, truncate: true });
  await file.writeAll(new TextEncoder().encode("kept"));
  h.offset = 4;
  file.raw.close(); // the file server restarts
  await file.writeAll(new TextEncoder().encode("!"));
  assert.equal(await Deno.readTextFile(path), "kept!", "the recovery did not truncate");
  assert.deepEqual(file.reopenOptions, {
    read: true,
    write: true,
    create: false,
    truncate: false,
    createNew: false,
  });
});

Deno.test("HaFile does not create again on recovery a file written at offsets that was removed", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/out`;
  const h: H = { recoveries: 0, offset: 0 };
  using out = await haCreate(path, reopenAtOffset, h);
  await out.writeAll(new TextEncoder().encode("hello"));
  h.offset = 5;
  await Deno.remove(path); // the data is gone: recovery must not hide it
  out.raw.close(); // the file server restarts
  await assert.rejects(out.writeAll(new TextEncoder().encode("world")), Deno.errors.BadResource);
  assert.ok(out.stats.lastRecoveryError instanceof Deno.errors.NotFound);
  // Not a new file of 5 zero bytes and "world".
  await assert.rejects(Deno.stat(path), Deno.errors.NotFound);
});

Deno.test("HaFile creates again on recovery an append-only file that was removed", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/log`;
  using log = await haFopen(path, "a", (failed) => haReopen(failed), null);
  await log.writeAll(new TextEncoder().encode("one\n"));
  await Deno.remove(path); // rotated away
  log.raw.close();
  await log.writeAll(new TextEncoder().encode("two\n"));
  assert.equal(await Deno.readTextFile(path), "two\n");
});
