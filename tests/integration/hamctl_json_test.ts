/**
 * `hamctl --json` with real `ham` and `hamctl` processes: before the subcommand as after it,
 * and on `logs` (one JSON array, or one object per line with `--follow`).
 */

import assert from "node:assert/strict";
import { BIN, HamProcess, until } from "../support/ham_process.ts";
import { LineReader } from "../support/line_reader.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

Deno.test("hamctl takes --json before the subcommand as after it", opts, async () => {
  await using h = await HamProcess.start({ guardian: false });
  await h.ok("entity", "web");
  for (const args of [["--json", "list"], ["list", "--json"]]) {
    const r = await h.ctl(...args);
    assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
    assert.deepEqual(JSON.parse(r.stdout).entities.map((e: { name: string }) => e.name), ["web"]);
  }
  const status = await h.ctl("--json", "status", "web");
  assert.equal(status.code, 0, status.stderr);
  assert.equal(JSON.parse(status.stdout).name, "web");
  // Any other option before the subcommand is still refused.
  assert.equal((await h.ctl("--jsonx", "list")).code, 2);
});

Deno.test(
  "hamctl logs --json prints one array of lines, and with --follow one object per line",
  opts,
  async () => {
    await using h = await HamProcess.start({ guardian: false });
    const go = `${h.stateDir}.go`;
    const script = `echo first; echo 'second "quoted"' >&2; ` +
      `while :; do if [ -e "${go}" ]; then rm "${go}"; echo third; fi; sleep 0.05; done`;
    await h.ok("attach", "w", "--", "/bin/sh", "-c", script);
    const log = `${h.stateDir}/logs/w.log`;
    await until(
      async () => (await Deno.readTextFile(log).catch(() => "")).includes('"quoted"\n') || null,
      "both lines in the log",
    );
    const time = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
    for (const args of [["logs", "w", "--json"], ["--json", "logs", "w"]]) {
      const r = await h.ctl(...args);
      assert.equal(r.code, 0, r.stderr);
      const lines = JSON.parse(r.stdout);
      assert.deepEqual(lines.map((l: { stream: string; text: string }) => [l.stream, l.text]), [
        ["stdout", "first"],
        ["stderr", 'second "quoted"'],
      ]);
      for (const l of lines) assert.match(l.time, time);
    }
    assert.deepEqual(JSON.parse((await h.ctl("logs", "w", "-n", "0", "--json")).stdout), []);

    const child = new Deno.Command(`${BIN}/hamctl`, {
      args: ["--state-dir", h.stateDir, "logs", "w", "-n", "1", "--follow", "--json"],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const lines = new LineReader(child.stdout);
    try {
      const last = JSON.parse((await lines.next(15_000, "the last line"))!);
      assert.deepEqual([last.stream, last.text], ["stderr", 'second "quoted"']);
      await Deno.writeTextFile(go, "");
      const followed = JSON.parse((await lines.next(15_000, "the followed line"))!);
      assert.deepEqual([followed.stream, followed.text], ["stdout", "third"]);
      assert.match(followed.time, time);
    } finally {
      child.kill();
      await child.status;
      await child.stdout.cancel().catch(() => {});
      await Deno.remove(go).catch(() => {});
    }
  },
);
