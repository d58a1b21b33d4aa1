/**
 * Set-up and packaging: `npm ci` accepts the lockfile on a fresh checkout (every
 * platform's Deno build is in it), the LICENSE is the package's, and `deno task compile`
 * leaves node_modules out of the binary.
 */

import { deepEqual as assertEquals, match as assertMatch, ok as assert } from "node:assert/strict";

const ROOT = new URL("../../", import.meta.url);

Deno.test("package-lock.json carries every platform's Deno build, so npm ci works anywhere", async () => {
  const lock = JSON.parse(await Deno.readTextFile(new URL("package-lock.json", ROOT)));
  const pkg = JSON.parse(await Deno.readTextFile(new URL("package.json", ROOT)));
  assertEquals(lock.version, pkg.version);
  assertEquals(lock.packages[""].version, pkg.version);
  for (const build of ["linux-x64-glibc", "linux-arm64-glibc"]) {
    assert(lock.packages[`node_modules/@deno/${build}`], build);
  }
  // npm itself checks the lockfile against package.json (no download, no node_modules).
  const dir = await Deno.makeTempDir();
  try {
    for (const f of ["package.json", "package-lock.json"]) {
      await Deno.copyFile(new URL(f, ROOT), `${dir}/${f}`);
    }
    const npm = await new Deno.Command("npm", {
      args: ["ci", "--dry-run", "--ignore-scripts", "--no-audit", "--no-fund"],
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
    }).output().catch(() => null);
    if (npm === null) {
      console.log("npm not found: skipping the npm ci --dry-run check");
      return;
    }
    assertEquals(npm.code, 0, new TextDecoder().decode(npm.stderr));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("LICENSE is the MIT license package.json names", async () => {
  const pkg = JSON.parse(await Deno.readTextFile(new URL("package.json", ROOT)));
  assertEquals(pkg.license, "MIT");
  assertMatch(await Deno.readTextFile(new URL("LICENSE", ROOT)), /^MIT License\n/);
});

Deno.test("deno task compile excludes node_modules and includes the config module", async () => {
  const deno = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT)));
  assertMatch(deno.tasks.compile, /--exclude node_modules /);
  assertMatch(deno.tasks.compile, /--include lib\/os\/config_file\.ts /);
  assertEquals(deno.imports.yaml.startsWith("npm:yaml@"), true);
});
