/**
 * `hamctl batch` with real `ham` and `hamctl` processes: the lines of standard input run
 * over one connection, in order; the first failing line ends the batch with its exit code
 * unless `--keep-going`.
 */

import assert from "node:assert/strict";
import { BIN, HamProcess } from "../support/ham_process.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

async function batch(stateDir: string, input: string, ...args: string[]) {
  const child = new Deno.Command(`${BIN}/hamctl`, {
    args: ["--state-dir", stateDir, "batch", ...args],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(input));
  await writer.close();
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("hamctl batch runs each line of stdin over one connection, in order", opts, async () => {
  await using h = await HamProcess.start({ guardian: false });
  const r = await batch(
    h.stateDir,
    [
      "# a web server and its recovery",
      "entity web --keep-on-death",
      "condition web/death death --rearm",
      `action web/death/note log --message "web 'died'"`,
      "",
      "status web/death/note --json",
      "ping",
    ].join("\n"),
  );
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, "");
  assert.match(r.stdout, /"message": "web 'died'"|web 'died'/);
  assert.match(r.stdout, /pong\n$/);
  const view = await h.status();
  assert.ok(JSON.stringify(view).includes("note"));
});

Deno.test(
  "hamctl batch stops at the first failing line with its exit code, unless --keep-going",
  opts,
  async () => {
    await using h = await HamProcess.start({ guardian: false });
    const input = ["entity a", "detach nosuch", "entity b", "frobnicate", "entity c"].join("\n");
    const stopped = await batch(h.stateDir, input);
    assert.equal(stopped.code, 5);
    assert.match(stopped.stderr, /^hamctl: batch: line 2: ENOENT: /);
    assert.equal((await h.ctl("status", "b")).code, 5, "line 3 ran after a failure");

    const kept = await batch(h.stateDir, input.replaceAll("entity ", "entity k"), "--keep-going");
    assert.equal(kept.code, 5);
    const lines = kept.stderr.trimEnd().split("\n");
    assert.match(lines[0], /^hamctl: batch: line 2: ENOENT: /);
    assert.match(lines[1], /^hamctl: batch: line 4: Unknown subcommand "frobnicate"$/);
    assert.equal((await h.ctl("status", "kc")).code, 0, "line 5 did not run");
  },
);
