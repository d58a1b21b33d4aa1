import assert from "node:assert/strict";
import { readCmdline } from "../../lib/os/proc.ts";
import { deadline, hamctl, pidsOf, processesOf, until } from "../support/ham_process.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

/** A copy of the parts of the tree `bin/ham` reads, in a temporary directory. */
async function copyTree(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "ham-bin-test-" });
  const parts = ["bin", "cli", "lib", "guardian", "deno.json"].map((p) => `${ROOT}${p}`);
  const cp = await new Deno.Command("cp", { args: ["-r", ...parts, dir] }).output();
  assert.ok(cp.success, "cp failed");
  await Deno.mkdir(`${dir}/node_modules/@deno/linux-x64-glibc`, { recursive: true });
  await Deno.symlink(Deno.execPath(), `${dir}/node_modules/@deno/linux-x64-glibc/deno`);
  return dir;
}

async function ham(dir: string, ...args: string[]): Promise<{ code: number; out: string }> {
  const env = { HAM_NO_BUNDLE: "" };
  const r = await new Deno.Command(`${dir}/bin/ham`, { args, env, stderr: "piped" }).output();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout) + dec.decode(r.stderr) };
}

Deno.test("bin/ham runs the HAM and its Guardian from its bundle, rebuilt when a source is newer", {
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  const dir = await copyTree();
  const state = `${dir}/state`;
  try {
    const bundle = `${dir}/dist/ham.js`;
    const started = await new Deno.Command(`${dir}/bin/ham`, {
      args: ["--state-dir", state],
      env: { HAM_NO_BUNDLE: "", HAM_STATE_DIR: state },
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.equal(started.code, 0, new TextDecoder().decode(started.stderr));
    const built = (await Deno.stat(bundle)).mtime!.getTime();
    const pids = await until(async () => {
      const p = await pidsOf(state);
      return p.guardianPid !== null ? p : null;
    }, "the HAM and its Guardian");
    for (const pid of [pids.hamPid, pids.guardianPid!]) {
      assert.ok(readCmdline(pid)?.includes(bundle), `pid ${pid}: ${readCmdline(pid)}`);
    }
    await deadline(hamctl(state, "stop", "--wait"), 15_000, "hamctl stop");

    // A changed source is what the next run executes.
    const guardian = `${dir}/cli/guardian.ts`;
    const text = await Deno.readTextFile(guardian);
    await Deno.writeTextFile(
      guardian,
      text.replace("The HAM's Guardian.", "The Guardian, changed."),
    );
    await Deno.utime(guardian, new Date(), new Date(Date.now() + 2_000));
    const r = await new Deno.Command(`${dir}/node_modules/@deno/linux-x64-glibc/deno`, {
      args: ["run", "-A", "--quiet", "--config", `${dir}/deno.json`, bundle, "guardian"],
      stderr: "piped",
    }).output();
    assert.doesNotMatch(new TextDecoder().decode(r.stderr), /changed/);
    assert.equal((await ham(dir, "--help")).code, 0);
    assert.ok((await Deno.stat(bundle)).mtime!.getTime() > built, "the bundle was not rebuilt");
    const again = await new Deno.Command(`${dir}/node_modules/@deno/linux-x64-glibc/deno`, {
      args: ["run", "-A", "--quiet", "--config", `${dir}/deno.json`, bundle, "guardian"],
      stderr: "piped",
    }).output();
    assert.match(new TextDecoder().decode(again.stderr), /The Guardian, changed\./);
  } finally {
    await hamctl(state, "stop").catch(() => {});
    for (const pid of await processesOf(state)) Deno.kill(pid, "SIGKILL");
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("bin/ham runs the sources when the bundle cannot be written", async () => {
  const dir = await copyTree();
  try {
    await Deno.writeTextFile(`${dir}/dist`, "a file where the dist directory would be");
    const r = await ham(dir, "--help");
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /^Usage: ham /);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
