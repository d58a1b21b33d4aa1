import assert from "node:assert/strict";
import type { HamError } from "../../../lib/core/errors.ts";
import {
  haAttach,
  haClose,
  haConnectionCtrl,
  haDetach,
  haDup,
  haFclose,
} from "../../../lib/ha/covers.ts";
import { HaConn } from "../../../lib/ha/ha_conn.ts";
import { HaFile, haOpen } from "../../../lib/ha/ha_file.ts";
import { HA_RECOVERY_ICOUNT, HAREPLACERECOVERYFN } from "../../../lib/ha/recovery_core.ts";
import { line, LocalEcho, readLine } from "../../support/local_echo.ts";

const code = (c: string) => (e: unknown) => (e as HamError).code === c;

async function tempDir(): Promise<AsyncDisposable & { path: string }> {
  const path = await Deno.makeTempDir({ prefix: "ha-covers-" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}

Deno.test("haAttach() makes a plain Deno.Conn HA-aware, reconnecting to its remote address", async () => {
  await using dir = await tempDir();
  await using echo = LocalEcho.unix(`${dir.path}/s.sock`);
  const plain = await Deno.connect(echo.address as Deno.UnixConnectOptions);
  const h = { recoveries: 0 };
  using conn = haAttach(plain, async (failed, h) => {
    echo.start();
    await failed.reconnect();
    h.recoveries++;
    return true;
  }, h);
  assert.ok(conn instanceof HaConn);
  assert.equal(conn.raw, plain);
  await echo.die();
  await conn.writeAll(line("again"));
  assert.equal(await readLine((p) => conn.read(p)), "again");
  assert.equal(h.recoveries, 1);
});

Deno.test("haAttach() replaces the recovery function with HAREPLACERECOVERYFN and throws EEXIST without it", async () => {
  await using dir = await tempDir();
  await Deno.writeTextFile(`${dir.path}/f`, "abc");
  using file = await haOpen(`${dir.path}/f`, { read: true }, () => false, null);
  const replaced = (f: HaFile<null>) => f.reopen().then(() => true);
  assert.throws(() => haAttach(file, replaced, null), code("EEXIST"));
  assert.equal(haAttach(file, replaced, null, { flags: HAREPLACERECOVERYFN }), file);
  file.raw.close();
  assert.equal(await file.read(new Uint8Array(3)), 3, "the replacement recovered");
});

Deno.test("haAttach() makes a plain Deno.FsFile HA-aware and needs its path", async () => {
  await using dir = await tempDir();
  const path = `${dir.path}/f`;
  await Deno.writeTextFile(path, "abc");
  const plain = await Deno.open(path);
  assert.throws(
    () => haAttach(plain, () => true, null, {} as { path: string }),
    code("EINVAL"),
  );
  using file = haAttach(plain, (f) => f.reopen(), null, { path });
  assert.ok(file instanceof HaFile);
  plain.close();
  assert.equal(await file.read(new Uint8Array(3)), 3);
});

Deno.test("haAttach() throws EBADF when asked to replace on a plain object", async () => {
  await using dir = await tempDir();
  using plain = await Deno.open(`${dir.path}`);
  assert.throws(
    () => haAttach(plain, () => true, null, { path: dir.path, replace: true }),
    code("EBADF"),
  );
});

Deno.test("haDetach(), haConnectionCtrl() and haDup() throw EBADF on an object that is not HA-aware", async () => {
  await using dir = await tempDir();
  await Deno.writeTextFile(`${dir.path}/f`, "abc");
  using plain = await Deno.open(`${dir.path}/f`);
  using file = await haOpen(`${dir.path}/f`, { read: true }, () => false, null);
  for (const target of [plain, { close() {} }, null]) {
    assert.throws(() => haDetach(target), code("EBADF"));
    assert.throws(() => haConnectionCtrl(target, HA_RECOVERY_ICOUNT, 1), code("EBADF"));
  }
  haConnectionCtrl(file, HA_RECOVERY_ICOUNT, 2);
  assert.equal(file.stats.icountLimit, 2);
  const dup = haDup(file);
  haDetach(file);
  assert.throws(() => haDetach(file), code("EBADF"));
  assert.throws(() => haDup(file), code("EBADF"));
  assert.equal(dup.attached, true, "detaching one dup leaves the other HA-aware");
  haFclose(dup);
});

Deno.test("haClose() closes an HA object and a plain one", async () => {
  await using dir = await tempDir();
  await Deno.writeTextFile(`${dir.path}/f`, "abc");
  const plain = await Deno.open(`${dir.path}/f`);
  const file = await haOpen(`${dir.path}/f`, { read: true }, () => false, null);
  haClose(plain);
  haClose(file);
  assert.equal(file.closed, true);
  assert.throws(() => haClose(file), Deno.errors.BadResource);
});
