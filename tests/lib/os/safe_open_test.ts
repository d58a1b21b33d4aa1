import assert from "node:assert/strict";
import { HamError } from "../../../lib/core/errors.ts";
import { openNoFollowSync, writeTextNoFollowSync } from "../../../lib/os/safe_open.ts";

Deno.test("openNoFollowSync() creates and opens a regular file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const f = openNoFollowSync(`${dir}/log`, { append: true, create: true, mode: 0o600 });
    f.writeSync(new TextEncoder().encode("one\n"));
    f.close();
    const g = openNoFollowSync(`${dir}/log`, { append: true, create: true });
    g.writeSync(new TextEncoder().encode("two\n"));
    g.close();
    assert.equal(Deno.readTextFileSync(`${dir}/log`), "one\ntwo\n");
    assert.equal(Deno.statSync(`${dir}/log`).mode! & 0o777, 0o600);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("openNoFollowSync() refuses a planted symbolic link and leaves its target alone", async () => {
  const dir = await Deno.makeTempDir();
  try {
    Deno.writeTextFileSync(`${dir}/victim`, "precious\n");
    Deno.symlinkSync(`${dir}/victim`, `${dir}/ham.log`);
    Deno.symlinkSync(`${dir}/nowhere`, `${dir}/dangling`);
    for (const path of [`${dir}/ham.log`, `${dir}/dangling`]) {
      assert.throws(
        () => openNoFollowSync(path, { append: true, create: true }),
        (e) => e instanceof HamError && e.code === "EPERM" && /symbolic link/.test(e.message),
      );
    }
    assert.throws(() => writeTextNoFollowSync(`${dir}/ham.log`, "owned"), /symbolic link/);
    assert.equal(Deno.readTextFileSync(`${dir}/victim`), "precious\n");
    assert.throws(() => Deno.statSync(`${dir}/nowhere`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
