/**
 * Logs with real processes: each entity's output in `<state-dir>/logs/NAME.log` (never in
 * `ham.log`), `hamctl logs`, output read on by the HAM that takes over, and the HAM's own
 * log recording deaths, restarts, takeovers and refusals at the default verbosity, as text
 * or JSON.
 */

import { deepEqual as assertEquals, match as assertMatch, ok as assert } from "node:assert/strict";
import { DEFAULTS } from "../../lib/core/defaults.ts";
import { BIN, deadline, hamctl, HamProcess, processesOf, until } from "../support/ham_process.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

const LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (stdout|stderr) (.*)$/;

function read(path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return "";
  }
}

/** Waits until the file holds a line matching `re`. */
function lineIn(path: string, re: RegExp, what: string): Promise<string> {
  return until(
    () => Promise.resolve(read(path).split("\n").find((l) => re.test(l)) ?? null),
    `${what} in ${path}:\n${read(path)}`,
  );
}

const TALKER = 'echo "hello out $1"; echo "hello err $1" >&2; read -r _ </dev/null; ' +
  "while sleep 0.05; do :; done";

Deno.test(
  "an entity's stdout and stderr go to logs/NAME.log, prefixed, not to ham.log",
  opts,
  async () => {
    await using ham = await HamProcess.start();
    await ham.ok("attach", "web", "--", "/bin/sh", "-c", TALKER, "sh", "one");
    const log = `${ham.stateDir}/logs/web.log`;
    await lineIn(log, /stdout hello out one$/, "the stdout line");
    await lineIn(log, /stderr hello err one$/, "the stderr line");
    for (const line of read(log).trimEnd().split("\n")) assertMatch(line, LINE);
    assert(!ham.log().includes("hello out"), "worker output must not reach the HAM's log");
    const r = await ham.ctl("logs", "web", "-n", "1");
    assertEquals(r.code, 0);
    assertEquals(r.stdout.trimEnd().split("\n").length, 1);
    assertMatch(r.stdout.trimEnd(), LINE);
    assertEquals((await ham.ctl("logs", "nobody")).code, 5);
    assertEquals((await ham.ctl("logs", "web", "-n", "-3")).code, 2);
    // An entity that has written nothing yet has no log: nothing to print, not ENOENT.
    await ham.ok("attach", "quiet", "--", "/bin/sleep", "1000");
    const quiet = await ham.ctl("logs", "quiet", "-n", "20");
    assertEquals([quiet.code, quiet.stdout], [0, ""], quiet.stderr);
  },
);

Deno.test("hamctl logs --follow prints the lines written after it started", opts, async () => {
  await using ham = await HamProcess.start();
  const go = `${ham.stateDir}.go`;
  const script = `echo first; while :; do if [ -e "${go}" ]; then rm "${go}"; echo second; fi; ` +
    "sleep 0.05; done";
  await ham.ok("attach", "w", "--", "/bin/sh", "-c", script);
  await lineIn(`${ham.stateDir}/logs/w.log`, /first$/, "the first line");
  const child = new Deno.Command(`${BIN}/hamctl`, {
    args: ["--state-dir", ham.stateDir, "logs", "w", "-n", "1", "--follow"],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  try {
    let seen = "";
    const until = async (word: string) => {
      while (!seen.includes(word)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`hamctl logs ended before "${word}": ${seen}`);
        seen += value;
      }
    };
    await deadline(until("first"), 15_000, "the last line");
    await Deno.writeTextFile(go, "");
    await deadline(until("second"), 15_000, "the followed line");
    for (const line of seen.trimEnd().split("\n")) assertMatch(line, LINE);
  } finally {
    child.kill();
    await reader.cancel().catch(() => {});
    await child.status;
    await Deno.remove(go).catch(() => {});
  }
});

/**
 * Hands `each` the lines of `stream` until it returns true (then the reader is let go);
 * fails if the stream ends first. Keeps no line: for streams of many megabytes.
 */
async function eachLine(
  stream: ReadableStream<Uint8Array<ArrayBuffer>>,
  each: (line: string) => boolean,
): Promise<void> {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error("The stream ended");
      buffer += value;
      let start = 0;
      for (let nl = buffer.indexOf("\n"); nl >= 0; nl = buffer.indexOf("\n", start)) {
        const line = buffer.slice(start, nl);
        start = nl + 1;
        if (each(line)) return;
      }
      buffer = buffer.slice(start);
    }
  } finally {
    reader.releaseLock();
  }
}

Deno.test(
  "hamctl logs -n 0 --follow prints every line once, in order, across rotations",
  opts,
  async () => {
    await using ham = await HamProcess.start();
    const go = `${ham.stateDir}.go`;
    // About 1 KiB a line, enough of them for the log to rotate twice (entityLogBytes).
    const count = Math.ceil(2.2 * DEFAULTS.entityLogBytes / 1_040);
    const script = `until [ -e "${go}" ]; do echo waiting; sleep 0.05; done; ` +
      `awk 'BEGIN { for (i = 0; i < ${count}; i++) printf "line %06d %01000d\\n", i, 0 }'; ` +
      "echo done; exec sleep 600";
    await ham.ok("attach", "rot", "--", "/bin/sh", "-c", script);
    const child = new Deno.Command(`${BIN}/hamctl`, {
      args: ["--state-dir", ham.stateDir, "logs", "rot", "-n", "0", "--follow"],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const numbers: number[] = [];
    const odd: string[] = [];
    let last = "";
    const seen = () =>
      `${numbers.length} numbered lines, the last ${JSON.stringify(last.slice(0, 60))}`;
    try {
      // A line written after hamctl began shows it follows; then the burst, to "done".
      const following = eachLine(child.stdout, (line) => {
        last = line;
        if (!LINE.test(line)) odd.push(line.slice(0, 80));
        if (line.endsWith(" waiting")) Deno.writeTextFileSync(go, "");
        const m = /stdout line (\d{6}) 0{1000}$/.exec(line);
        if (m !== null) numbers.push(Number(m[1]));
        return line.endsWith(" done");
      });
      await deadline(following, 120_000, "the last line").catch((err) => {
        throw new Error(`${err.message}: ${seen()}`);
      });
      const missing = count - new Set(numbers).size;
      const outOfPlace = numbers.findIndex((n, i) => n !== i);
      assertEquals(
        { lines: numbers.length, missing, outOfPlace, odd },
        { lines: count, missing: 0, outOfPlace: -1, odd: [] },
        `around line ${outOfPlace}: ${
          JSON.stringify(numbers.slice(outOfPlace - 2, outOfPlace + 3))
        }`,
      );
      assert(Deno.statSync(`${ham.stateDir}/logs/rot.log.2`).isFile, "the log rotated twice");
    } finally {
      child.kill();
      await child.stdout.cancel().catch(() => {});
      await child.status;
      await Deno.remove(go).catch(() => {});
    }
  },
);

Deno.test("a Guardian that takes over reads the entities' output on", opts, async () => {
  await using ham = await HamProcess.start();
  const script = "i=0; while :; do echo tick $i; i=$((i+1)); sleep 0.05; done";
  await ham.ok("attach", "t", "--", "/bin/sh", "-c", script);
  const log = `${ham.stateDir}/logs/t.log`;
  await lineIn(log, /tick 2$/, "a tick");
  const old = await ham.killHam();
  await ham.waitTakeover(old);
  const n = read(log).trimEnd().split("\n").length;
  await until(
    () => Promise.resolve(read(log).trimEnd().split("\n").length > n + 3 || null),
    "more ticks after the takeover",
  );
  const ticks = read(log).trimEnd().split("\n").map((l) => Number(/tick (\d+)$/.exec(l)?.[1]));
  // Nothing lost: the pipe kept what was written while no HAM read it.
  ticks.forEach((t, i) => assertEquals(t, i));
});

/** A detached `ham` at the default verbosity, with `args`; cleans up after `body`. */
async function withDefaultHam(args: string[], body: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "ham-test-" });
  try {
    const out = await new Deno.Command(`${BIN}/ham`, {
      args: ["--state-dir", dir, ...args],
      env: { HAM_STATE_DIR: dir },
      stdout: "null",
      stderr: "piped",
    }).output();
    assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
    await body(dir);
  } finally {
    await deadline(hamctl(dir, "stop"), 15_000, "stop").catch(() => {});
    for (const pid of await processesOf(dir)) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* gone */ }
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

async function ok(dir: string, ...args: string[]): Promise<string> {
  const r = await hamctl(dir, ...args);
  assertEquals(r.code, 0, `hamctl ${args.join(" ")}: ${r.stderr}`);
  return r.stdout.trim();
}

Deno.test(
  "ham.log records death, restart, takeover and refusal at the default verbosity",
  opts,
  async () => {
    await withDefaultHam([], async (dir) => {
      const log = `${dir}/ham.log`;
      await ok(dir, "attach", "web", "--", "/bin/sleep", "1000");
      await ok(dir, "condition", "web/death", "death", "--rearm");
      await ok(dir, "action", "web/death/restart", "restart", "--rearm");
      const pid = JSON.parse(await ok(dir, "status", "web", "--json")).pid;
      await ok(dir, "kill", "web", "--signal", "KILL");
      await ok(dir, "wait", "web", "--for", "restarted", "--pid", String(pid));
      await lineIn(
        log,
        new RegExp(`notice: Entity "web" \\(pid ${pid}\\) died: killed by SIGKILL`),
        "death",
      );
      await lineIn(log, /notice: Restarted entity "web" as pid \d+/, "restart");
      assertEquals((await hamctl(dir, "attach", "web", "--", "/bin/true")).code, 6);
      await lineIn(
        log,
        /notice: Refused "attach" from hamctl (uid \d+ )?pid \d+: EEXIST: /,
        "refusal",
      );
      const status = JSON.parse(await ok(dir, "status", "--json"));
      Deno.kill(status.hamPid, "SIGKILL");
      await lineIn(log, /warn: Guardian \d+ took over from HAM \d+/, "takeover");
      assert(!/ info: | debug: /.test(read(log)), "only default-verbosity lines");
    });
  },
);

Deno.test(
  "ham.log records the HAM's start and its stop at the default verbosity",
  opts,
  async () => {
    await withDefaultHam([], async (dir) => {
      const log = `${dir}/ham.log`;
      const { hamPid } = JSON.parse(await ok(dir, "status", "--json"));
      await lineIn(
        log,
        new RegExp(`notice: HAM ${hamPid} started on "${dir}": 0 entities, `),
        "the start",
      );
      await ok(dir, "stop");
      await lineIn(log, new RegExp(`notice: HAM ${hamPid} stopping$`), "the stop");
    });
  },
);

Deno.test("ham --log-format json writes one JSON object per line", opts, async () => {
  await withDefaultHam(["--log-format", "json"], async (dir) => {
    await ok(dir, "attach", "w", "--", "/bin/sleep", "1000");
    await ok(dir, "kill", "w");
    const log = `${dir}/ham.log`;
    await lineIn(log, /died: killed by SIGTERM/, "death");
    const lines = read(log).trimEnd().split("\n");
    for (const line of lines) {
      const o = JSON.parse(line);
      assertEquals(Object.keys(o), ["time", "pid", "level", "msg"]);
      assert(typeof o.pid === "number" && !Number.isNaN(Date.parse(o.time)));
    }
    const death = lines.map((l) => JSON.parse(l)).find((o) => o.msg.includes("died"));
    assertEquals(death.level, "notice");
  });
});

Deno.test("the output of 40 spawned entities is collected, and the HAM keeps answering", {
  sanitizeOps: false,
  sanitizeResources: false,
}, async () => {
  // Each FIFO read once held one of Deno's blocking threads for good: past ~16 entities
  // every file operation of the HAM (its journal's fsync) stalled.
  await using h = await HamProcess.start({ guardian: false });
  for (let i = 0; i < 40; i++) {
    const r = await h.ctl(
      "attach",
      `talker${i}`,
      "--",
      "/bin/sh",
      "-c",
      `echo hello ${i}; exec sleep 1000`,
    );
    assertEquals(r.code, 0, r.stderr);
  }
  await until(async () => {
    const text = await Deno.readTextFile(`${h.stateDir}/logs/talker39.log`).catch(() => "");
    return text.includes("stdout hello 39") ? true : null;
  }, "talker39's line in its log");
  assertEquals((await h.ctl("ping")).code, 0);
});
