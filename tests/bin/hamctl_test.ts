import assert from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url).pathname;

/** A copy of the parts of the tree `bin/hamctl` reads, in a temporary directory. */
async function copyTree(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "ham-bin-test-" });
  const cp = await new Deno.Command("cp", {
    args: ["-r", `${ROOT}bin`, `${ROOT}cli`, `${ROOT}lib`, `${ROOT}deno.json`, dir],
  }).output();
  assert.ok(cp.success, "cp failed");
  await Deno.mkdir(`${dir}/node_modules/@deno/linux-x64-glibc`, { recursive: true });
  await Deno.symlink(Deno.execPath(), `${dir}/node_modules/@deno/linux-x64-glibc/deno`);
  return dir;
}

async function hamctl(dir: string, ...args: string[]): Promise<{ code: number; out: string }> {
  const env = { HAM_NO_BUNDLE: "" };
  const r = await new Deno.Command(`${dir}/bin/hamctl`, { args, env, stderr: "inherit" }).output();
  return { code: r.code, out: new TextDecoder().decode(r.stdout) };
}

Deno.test("bin/hamctl builds its bundle, runs it while fresh, and rebuilds it when a source is newer", async () => {
  const dir = await copyTree();
  try {
    const bundle = `${dir}/dist/hamctl.js`;
    const help = await hamctl(dir, "help");
    assert.equal(help.code, 0);
    assert.match(help.out, /^Usage: hamctl /);
    const built = (await Deno.stat(bundle)).mtime!.getTime();
    // No npm code in it (yaml is imported only when needed), so no static node: import (as
    // Deno's createRequire for npm code) loading the compatibility layer at every start.
    const js = await Deno.readTextFile(bundle);
    assert.doesNotMatch(js, /\bimport\s*\{?[^();"]*\}?\s*from\s*"node:/);
    assert.doesNotMatch(js, /\bimport\s*"node:/);

    assert.deepEqual(await hamctl(dir, "help"), help);
    assert.equal((await Deno.stat(bundle)).mtime!.getTime(), built, "a fresh bundle was rebuilt");

    // A changed source is what the next run executes.
    const control = `${dir}/cli/hamctl/control.ts`;
    const text = await Deno.readTextFile(control);
    await Deno.writeTextFile(control, text.replace('usage: "ping"', 'usage: "ping-changed"'));
    await Deno.utime(control, new Date(), new Date(Date.now() + 2_000));
    const changed = await hamctl(dir, "help");
    assert.equal(changed.code, 0);
    assert.match(changed.out, /ping-changed/);
    assert.ok((await Deno.stat(bundle)).mtime!.getTime() > built, "the bundle was not rebuilt");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bin/hamctl runs the sources when the bundle cannot be written", async () => {
  const dir = await copyTree();
  try {
    await Deno.writeTextFile(`${dir}/dist`, "a file where the dist directory would be");
    const r = await hamctl(dir, "help");
    assert.equal(r.code, 0);
    assert.match(r.out, /^Usage: hamctl /);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
