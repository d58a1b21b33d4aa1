import assert from "node:assert/strict";
import { readDirNames, readFileBytes, readLinkText } from "../../../lib/os/proc_fs.ts";

/** A temporary directory, removed on disposal. */
function tempDir(): { path: string } & Disposable {
  const path = Deno.makeTempDirSync({ prefix: "ham_proc_fs_test_" });
  return { path, [Symbol.dispose]: () => Deno.removeSync(path, { recursive: true }) };
}

Deno.test("readFileBytes() reads /proc files without --allow-all", () => {
  const stat = readFileBytes(`/proc/${Deno.pid}/stat`);
  assert.ok(stat !== null);
  assert.match(new TextDecoder().decode(stat), new RegExp(`^${Deno.pid} \\(`));
  const cmdline = readFileBytes("/proc/self/cmdline");
  assert.ok(cmdline !== null && cmdline.length > 0);
});

Deno.test("readFileBytes() reads a file larger than its first buffer, byte for byte", () => {
  using dir = tempDir();
  const content = new Uint8Array(100_000).map((_, i) => (i * 7) & 0xff);
  Deno.writeFileSync(`${dir.path}/big`, content);
  assert.deepEqual(readFileBytes(`${dir.path}/big`), content);
  Deno.writeFileSync(`${dir.path}/empty`, new Uint8Array(0));
  assert.deepEqual(readFileBytes(`${dir.path}/empty`), new Uint8Array(0));
});

Deno.test("readFileBytes() returns null for a missing file or a directory", () => {
  using dir = tempDir();
  assert.equal(readFileBytes(`${dir.path}/missing`), null);
  assert.equal(readFileBytes(dir.path), null);
});

Deno.test("readLinkText() returns the target of a link, null for anything else", () => {
  using dir = tempDir();
  const target = `${dir.path}/target with spaces é`;
  Deno.symlinkSync(target, `${dir.path}/link`);
  assert.equal(readLinkText(`${dir.path}/link`), target);
  assert.equal(readLinkText("/proc/self/cwd"), Deno.cwd());
  assert.equal(readLinkText(dir.path), null);
  assert.equal(readLinkText(`${dir.path}/missing`), null);
});

Deno.test("readDirNames() lists every entry of a directory larger than one getdents64 call", () => {
  using dir = tempDir();
  const names = Array.from({ length: 1000 }, (_, i) => `entry-${i}-${"x".repeat(40)}`);
  for (const name of names) Deno.writeFileSync(`${dir.path}/${name}`, new Uint8Array(0));
  assert.deepEqual(readDirNames(dir.path)?.sort(), names.sort());
});

Deno.test("readDirNames() lists the processes of /proc, this one among them", () => {
  const names = readDirNames("/proc");
  assert.ok(names !== null);
  assert.ok(names.includes(String(Deno.pid)));
  assert.ok(!names.includes(".") && !names.includes(".."));
});

Deno.test("readDirNames() returns null for a missing directory or a file", () => {
  using dir = tempDir();
  Deno.writeFileSync(`${dir.path}/file`, new Uint8Array(0));
  assert.equal(readDirNames(`${dir.path}/missing`), null);
  assert.equal(readDirNames(`${dir.path}/file`), null);
});
