/**
 * The `bundle` task: one JS file that `deno run` executes in every role.
 */

import * as assert from "node:assert/strict";
import { DAEMON_PERMISSIONS } from "../../lib/os/self_command.ts";
import { deadline } from "../support/ham_process.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const DENO = `${ROOT}bin/deno`;
const PERMS = DAEMON_PERMISSIONS;

async function run(args: string[]): Promise<{ code: number; out: string }> {
  const o = await new Deno.Command(DENO, { args, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  return { code: o.code, out: dec.decode(o.stdout) + dec.decode(o.stderr) };
}

Deno.test("the bundle runs the HAM and hamctl from one JS file", {
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "ham-bundle-" });
  const js = `${dir}/ham.js`;
  const state = `${dir}/state`;
  try {
    const b = await run(["bundle", "--quiet", "--output", js, `${ROOT}cli/main.ts`]);
    assert.equal(b.code, 0, b.out);
    const start = await run([
      "run",
      "--quiet",
      "--no-config",
      ...PERMS,
      js,
      "ham",
      "--state-dir",
      state,
    ]);
    assert.equal(start.code, 0, start.out);
    const ctl = (...a: string[]) =>
      run(["run", "--quiet", "--no-config", ...PERMS, js, "hamctl", "--state-dir", state, ...a]);
    const attach = await ctl("attach", "w", "--", "/bin/sleep", "1000");
    assert.equal(attach.code, 0, attach.out);
    const pid = Number(attach.out.trim());
    const status = await ctl("status", "w", "--json");
    assert.equal(JSON.parse(status.out).pid, pid);
    Deno.kill(pid, "SIGKILL");
    const stop = await deadline(ctl("stop", "--wait"), 15_000, "the bundled HAM to stop");
    assert.equal(stop.code, 0, stop.out);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
