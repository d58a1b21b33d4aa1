import assert from "node:assert/strict";
import { ProcFile, readDirNames, readFileBytes, readLinkText } from "../../../lib/os/proc_fs.ts";

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

Deno.test("ProcFile reads a process's children list anew at every read, through one descriptor", async () => {
  const sh = new Deno.Command("/bin/sh", {
    args: ["-c", "read a; sleep 1013 & echo $!; read b; kill $!; wait; echo gone; read c"],
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const writer = sh.stdin.getWriter();
  const lines = sh.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const say = () => writer.write(new TextEncoder().encode("go\n"));
  const file = new ProcFile(`/proc/${sh.pid}/task/${sh.pid}/children`);
  const text = () => new TextDecoder().decode(file.read()!).trim();
  try {
    assert.equal(text(), "");
    await say();
    const sleeper = (await lines.read()).value!.trim();
    assert.equal(text(), sleeper);
    await say();
    assert.equal((await lines.read()).value!.trim(), "gone");
    assert.equal(text(), "");
    await say();
    await sh.status;
    assert.equal(file.read()?.length ?? 0, 0, "the process is gone: nothing listed");
  } finally {
    file.close();
    await writer.close().catch(() => {});
    await lines.cancel().catch(() => {});
    try {
      sh.kill("SIGKILL");
    } catch { /* gone */ }
    await sh.status;
  }
});

Deno.test("ProcFile reads a file larger than its first buffer, byte for byte, and null when missing", () => {
  using dir = tempDir();
  const content = new Uint8Array(100_000).map((_, i) => (i * 11) & 0xff);
  Deno.writeFileSync(`${dir.path}/big`, content);
  const big = new ProcFile(`${dir.path}/big`);
  assert.deepEqual(big.read(), content);
  assert.deepEqual(big.read(), content, "again, from the start");
  big.close();
  assert.equal(new ProcFile(`${dir.path}/missing`).read(), null);
});
