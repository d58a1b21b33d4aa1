import assert from "node:assert/strict";
import {
  fileError,
  fsyncDir,
  fsyncDirSync,
  writeFileAtomic,
  writeFileAtomicSync,
  writeFileDurable,
} from "../../../lib/store/durable.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ham-durable-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function names(dir: string): string[] {
  return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
}

Deno.test("writeFileAtomic() replaces a file and leaves no temp file", async () => {
  await withDir(async (dir) => {
    await writeFileAtomic(`${dir}/a.json`, "one");
    await writeFileAtomic(`${dir}/a.json`, new TextEncoder().encode("two"));
    assert.equal(Deno.readTextFileSync(`${dir}/a.json`), "two");
    assert.deepEqual(names(dir), ["a.json"]);
  });
});

Deno.test("writeFileAtomicSync() replaces a file and leaves no temp file", async () => {
  await withDir((dir) => {
    writeFileAtomicSync(`${dir}/c`, "one");
    writeFileAtomicSync(`${dir}/c`, "two");
    assert.equal(Deno.readTextFileSync(`${dir}/c`), "two");
    assert.deepEqual(names(dir), ["c"]);
    return Promise.resolve();
  });
});

Deno.test("writeFileAtomicSync() throws EIO and leaves no temp file when the rename fails", async () => {
  await withDir((dir) => {
    Deno.mkdirSync(`${dir}/d/inside`, { recursive: true });
    assert.throws(() => writeFileAtomicSync(`${dir}/d`, "x"), (e) => {
      assert.equal((e as { code?: string }).code, "EIO");
      return true;
    });
    assert.deepEqual(names(dir), ["d"]);
    return Promise.resolve();
  });
});

Deno.test("writeFileDurable() replaces a file and leaves no temp file", async () => {
  await withDir(async (dir) => {
    await writeFileDurable(`${dir}/b`, "first");
    await writeFileDurable(`${dir}/b`, "second");
    assert.equal(Deno.readTextFileSync(`${dir}/b`), "second");
    assert.deepEqual(names(dir), ["b"]);
  });
});

Deno.test("writeFileDurable() throws EIO naming the file when its directory is missing", async () => {
  await withDir(async (dir) => {
    await assert.rejects(writeFileDurable(`${dir}/none/c`, "x"), (err: Error) => {
      assert.equal((err as { code?: string }).code, "EIO");
      assert.match(err.message, /^Cannot write ".*\/none\/c": /);
      return true;
    });
    assert.deepEqual(names(dir), []);
  });
});

Deno.test("fsyncDir() syncs a directory and throws EIO naming a missing one", async () => {
  await withDir(async (dir) => {
    await fsyncDir(dir);
    fsyncDirSync(dir);
    await assert.rejects(
      fsyncDir(`${dir}/missing`),
      /^HamError: Cannot sync directory ".*missing": /,
    );
    assert.throws(() => fsyncDirSync(`${dir}/missing`), { code: "EIO" });
  });
});

Deno.test("fileError() says ENOSPC for a full disk and EIO for anything else", () => {
  const full = fileError(
    "Cannot append to journal",
    "/s/j.log",
    new Error("No space left on device (os error 28)"),
  );
  assert.equal(full.code, "ENOSPC");
  assert.equal(full.message, 'Cannot append to journal "/s/j.log": no space left on device');
  const io = fileError("Cannot write", "/s/x", new Error("Input/output error (os error 5)"));
  assert.equal(io.code, "EIO");
  assert.equal(io.message, 'Cannot write "/s/x": Input/output error (os error 5)');
  assert.equal(fileError("Cannot write", "/s/x", new Deno.errors.NotFound("gone")).code, "EIO");
});
