/**
 * Golden tests of `hamctl`: the exact stdout, stderr and exit code of real `hamctl`
 * processes against a real HAM. Pids and times are normalised before comparing.
 */

import * as assert from "node:assert/strict";
import { hamctl, HamProcess } from "../support/ham_process.ts";

function normalise(text: string, dir: string): string {
  return text.replaceAll(dir, "DIR")
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/g, "TIME")
    .replace(/(Entity Pid\s+: )\d+/g, "$1PID");
}

interface Golden {
  args: string[];
  stdout: string;
  stderr: string;
  code: number;
}

const GOLDEN: Golden[] = [
  { args: ["attach", "web", "--", "/bin/sleep", "1000"], stdout: "PID\n", stderr: "", code: 0 },
  { args: ["condition", "web/death", "death", "--rearm"], stdout: "", stderr: "", code: 0 },
  { args: ["action", "web/death/restart", "restart", "--rearm"], stdout: "", stderr: "", code: 0 },
  { args: ["flags", "web/death", "get"], stdout: "0x1 rearm\n", stderr: "", code: 0 },
  { args: ["verbose", "get"], stdout: "3\n", stderr: "", code: 0 },
  {
    args: ["status", "nope"],
    stdout: "",
    stderr: 'hamctl: ENOENT: Cannot find entity "nope"\n',
    code: 5,
  },
  {
    args: ["attach", "web", "--", "/bin/true"],
    stdout: "",
    stderr: 'hamctl: EEXIST: Cannot attach entity "web": it already exists\n',
    code: 6,
  },
  {
    args: ["action", "web/death/again", "restart"],
    stdout: "",
    stderr:
      'hamctl: EEXIST: Cannot add action "web/death/again": entity "web" already has restart action "web/death/restart"\n',
    code: 6,
  },
  {
    args: ["status", "web/death/restart"],
    stdout: [
      "Path              : web/death/restart",
      "Action type       : restart",
      "Enabled           : ON",
      "Action ReArm      : ON",
      "Flags             : 0x1 (rearm)",
      "Restart Line      : (the entity's command)",
      "Num Runs          : 0",
      "Num Failures      : 0",
      "Num Fail Actions  : 0",
      "",
    ].join("\n"),
    stderr: "",
    code: 0,
  },
];

Deno.test("hamctl prints exactly the golden stdout, stderr and exit code", async () => {
  await using ham = await HamProcess.start();
  for (const g of GOLDEN) {
    const r = await ham.ctl(...g.args);
    const what = `hamctl ${g.args.join(" ")}`;
    const stdout = g.args[0] === "attach" ? r.stdout.replace(/^\d+$/m, "PID") : r.stdout;
    assert.equal(normalise(stdout, ham.stateDir), g.stdout, `${what}: stdout`);
    assert.equal(normalise(r.stderr, ham.stateDir), g.stderr, `${what}: stderr`);
    assert.equal(r.code, g.code, `${what}: exit code`);
  }
});

Deno.test("hamctl exits 3 with a clear line when no HAM runs there", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ham-none-" });
  try {
    const r = await hamctl(dir, "status");
    assert.equal(r.code, 3);
    assert.equal(r.stdout, "");
    assert.equal(
      normalise(r.stderr, dir),
      'hamctl: EBADF: Cannot connect to the HAM at "DIR/ham.sock": not running\n',
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test(
  "hamctl exits 2 with usage for an unknown subcommand or a missing argument",
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "ham-none-" });
    try {
      const bogus = await hamctl(dir, "bogus");
      assert.equal(bogus.code, 2);
      assert.match(bogus.stderr, /^hamctl: Unknown subcommand "bogus"\nUsage: hamctl /);
      const missing = await hamctl(dir, "attach");
      assert.equal(missing.code, 2);
      assert.match(missing.stderr, /^hamctl: attach: Missing NAME\nUsage: hamctl /);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
