/**
 * CLI basics with real `hamctl` processes: "did you mean" with exit 2, numbers and
 * durations checked naming the option, completion scripts, `help SUBCOMMAND` with an
 * example for each, and man pages made from the same help text.
 */

import { deepEqual as assertEquals, match as assertMatch, ok as assert } from "node:assert/strict";
import { hamctlManPage, hamManPage } from "../../cli/man_pages.ts";
import { allSubcommandNames } from "../../cli/hamctl/registry.ts";
import { BIN } from "../support/ham_process.ts";
import { DEFAULTS } from "../../lib/core/defaults.ts";
import { formatDuration } from "../../lib/core/duration.ts";

async function run(cmd: string, args: string[], stdin?: string) {
  const child = new Deno.Command(cmd, {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

const hamctl = (...args: string[]) =>
  run(`${BIN}/hamctl`, ["--state-dir", "/nonexistent/ham", ...args]);

Deno.test("hamctl prints one did-you-mean line and exits 2 for a mistyped subcommand", async () => {
  for (
    const [typo, meant] of [["stauts", "status"], ["restrat", "restart"], ["lst", "list"], [
      "metric",
      "metrics",
    ]]
  ) {
    const r = await hamctl(typo);
    assertEquals([r.code, r.stdout], [2, ""]);
    assertEquals(r.stderr, `hamctl: Unknown subcommand "${typo}": did you mean "${meant}"?\n`);
  }
});

Deno.test("hamctl stop NAME is a usage error that says how to stop one entity", async () => {
  const r = await hamctl("stop", "web");
  assertEquals([r.code, r.stdout], [2, ""]);
  assertEquals(
    r.stderr.split("\n")[0],
    'hamctl: stop: Unexpected argument "web": stop takes none, it stops the HAM and its ' +
      'Guardian (to stop entity "web" and keep it: hamctl disable web && hamctl kill web)',
  );
});

Deno.test("hamctl names the option of a negative or malformed number or duration", async () => {
  const cases: [string[], RegExp][] = [
    [["wait", "web", "--for", "running", "--timeout", "-5s"], /--timeout/],
    [
      ["wait", "web", "--for", "running", "--timeout", "5 parsecs"],
      /Invalid duration "5 parsecs" for --timeout/,
    ],
    [["logs", "web", "-n", "x"], /Invalid -n "x"/],
    [["kill", "web", "--signal", "NOPE"], /Invalid signal "NOPE"/],
    [["wait", "web", "--for", "restarted", "--pid", "-1"], /--pid/],
    [["events", "--since", "1.5"], /--since/],
  ];
  for (const [args, re] of cases) {
    const r = await hamctl(...args);
    assertEquals(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assertMatch(r.stderr.split("\n")[0], re);
  }
  // 1h and 500us are durations: these get past parsing (and find no HAM: exit 3).
  assertEquals((await hamctl("wait", "web", "--for", "running", "--timeout", "1h")).code, 3);
  assertEquals((await hamctl("wait", "web", "--for", "running", "--timeout", "500us")).code, 3);
});

Deno.test("hamctl completion prints bash, zsh and fish scripts that parse", async () => {
  const script = await hamctl("completion", "bash");
  assertEquals(script.code, 0);
  assertMatch(script.stdout, /complete -o default -F _hamctl hamctl/);
  for (const name of allSubcommandNames()) assert(script.stdout.includes(name), name);
  assertEquals((await run("bash", ["-n"], script.stdout)).code, 0);
  const zsh = await hamctl("completion", "zsh");
  assertMatch(zsh.stdout, /^#compdef hamctl/);
  const fish = await hamctl("completion", "fish");
  assertMatch(fish.stdout, /^complete -c hamctl -n '__fish_seen_subcommand_from kill' -l signal$/m);
  for (const [shell, text] of [["zsh", zsh.stdout], ["fish", fish.stdout]]) {
    const has = await run("/bin/sh", ["-c", `command -v ${shell}`]);
    if (has.code === 0) assertEquals((await run(shell, ["-n"], text)).code, 0, shell);
  }
  assertEquals((await hamctl("completion", "tcsh")).code, 2);
});

Deno.test("hamctl help SUBCOMMAND explains every subcommand with an example", async () => {
  for (const name of allSubcommandNames()) {
    const r = await hamctl("help", name);
    assertEquals(r.code, 0, name);
    assertMatch(r.stdout, new RegExp(`^Usage: hamctl .*${name}`), name);
    assertMatch(r.stdout, /\n\nExample:\n {2}hamctl /, name);
  }
});

Deno.test("hamctl help SUBCOMMAND puts --json on the usage's first line", async () => {
  for (const name of allSubcommandNames()) {
    const usage = (await hamctl("help", name)).stdout.split("\n\n")[0].split("\n");
    assertMatch(usage[0], / \[--json\]$/, name);
    // Not after the last line, where `wait` and `condition` list their types.
    for (const line of usage.slice(1)) assert(!line.includes("--json"), `${name}: ${line}`);
  }
});

Deno.test("hamctl help says the default time limits, as DEFAULTS has them", async () => {
  const s = (ms: number) => formatDuration(ms);
  const cases: [string, string][] = [
    ["attach", `--timeout: ${s(DEFAULTS.attachWaitMs)} by default`],
    ["stop", `--timeout: ${s(DEFAULTS.stopWaitMs)} by default`],
    ["wait", `--timeout: ${s(DEFAULTS.waitTimeoutMs)} by default`],
    ["restart", `SIGKILL after ${s(DEFAULTS.restartStopTimeoutMs)}`],
    ["restart", `--timeout: ${s(DEFAULTS.waitTimeoutMs)} by default`],
    ["kill", "SIGTERM by default"],
    ["logs", "10 by default"],
  ];
  for (const [name, words] of cases) {
    const r = await hamctl("help", name);
    assert(r.stdout.includes(words), `${name}: ${words}: ${r.stdout}`);
  }
});

Deno.test("hamctl help logs names the -f and --lines that logs takes", async () => {
  const usage = (await hamctl("help", "logs")).stdout.split("\n")[0];
  for (const option of ["-n", "--lines", "-f", "--follow"]) {
    assert(usage.includes(`${option}`), `${option}: ${usage}`);
  }
  // Both parse (and find no log: exit 5), as the usage says.
  assertEquals((await hamctl("logs", "web", "--lines", "3")).code, 5);
  assertEquals((await hamctl("logs", "web", "-n", "3")).code, 5);
});

Deno.test("ham --help says what its signals do, and its exit codes", async () => {
  const r = await run(`${BIN}/ham`, ["--help"]);
  assertEquals(r.code, 0);
  assertMatch(r.stdout, /^ {2}-h, --help /m);
  assertMatch(r.stdout, /^ {2}-V, --version /m);
  assertMatch(r.stdout, /^Signals: SIGHUP reopens the --log file/m);
  assertMatch(r.stdout, /SIGTERM or SIGINT\nto a HAM that has a Guardian is taken for a crash/);
  assertMatch(r.stdout, /^Exit codes: 0 ok/m);
  const bad = await run(`${BIN}/ham`, ["--timestamps", "iso"]);
  assertEquals(bad.code, 2);
  assertEquals(
    bad.stderr.split("\n")[0],
    'ham: Invalid --timestamps "iso": expected none, relative or absolute',
  );
});

Deno.test("ham names the log or config file it cannot open, and why, in one line", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ham-test-" });
  try {
    const log = await run(`${BIN}/ham`, [
      "--state-dir",
      dir,
      "--foreground",
      "--log",
      "/nonexistent/dir/ham.log",
    ]);
    assertEquals([log.code, log.stderr], [
      1,
      'ham: ENOENT: Cannot open log file "/nonexistent/dir/ham.log": no such file or directory\n',
    ]);
    const config = await run(`${BIN}/ham`, ["--state-dir", dir, "--config", "/nonexistent.yaml"]);
    assertEquals([config.code, config.stderr], [
      1,
      'ham: ENOENT: Cannot read config file "/nonexistent.yaml": no such file or directory\n',
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the man pages are the ones made from the help text", async () => {
  const dir = new URL("../../man/", import.meta.url);
  assertEquals(await Deno.readTextFile(new URL("ham.8", dir)), hamManPage());
  const hamctlPage = await hamctlManPage();
  assertEquals(await Deno.readTextFile(new URL("hamctl.8", dir)), hamctlPage);
  for (const name of allSubcommandNames()) {
    assert(hamctlPage.includes(`.B ${name.replaceAll("-", "\\-")}`), name);
  }
  assertMatch(hamManPage(), /\\-\\-metrics\\-listen/);
  // The synopsis is the usage line: --node too.
  assertMatch(hamctlPage, /^\.SH SYNOPSIS\nhamctl \[\\-\\-state\\-dir DIR\] \[\\-\\-node NAME\]/m);
});

Deno.test("ham names its log file and exits 1 when it cannot open it, detached or not", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ham-log-" });
  try {
    const log = `${dir}/missing/ham.log`;
    for (const extra of [[], ["--foreground", "--no-guardian"]]) {
      const r = await run(`${BIN}/ham`, ["--state-dir", `${dir}/state`, "--log", log, ...extra]);
      assertEquals(r.code, 1, r.stderr);
      assertMatch(r.stderr, /^ham: ENOENT: .*missing\/ham\.log/);
      assert(!/uncaught|fatal/.test(r.stderr), r.stderr);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
