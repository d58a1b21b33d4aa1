/**
 * Every example, run the way its header says: each file in `examples/` (`*.ts`, `*.sh`)
 * is started as a subprocess with the exact run line of its header, from the repository
 * root, and must exit 0 within its time limit, print the key lines of its scenario, and
 * remove its state directory. An example added later is run too, with only those
 * general checks until it gets its own.
 */

import { deepEqual as assertEquals, match as assertMatch, ok as assert } from "node:assert/strict";

const REPO = new URL("../../", import.meta.url).pathname;
const EXAMPLES = `${REPO}examples`;
/** The longest any example may take. */
const LIMIT_MS = 20_000;

/** What an example printed, its exit code and how long it took. */
interface Run {
  code: number;
  out: string;
  ms: number;
}

/** The run line of an example's header: `Run: bin/deno run ... examples/x.ts`. */
function runLine(file: string): string[] {
  const m = /^(?:\s*\*|#) Run: (.+)$/m.exec(Deno.readTextFileSync(`${EXAMPLES}/${file}`));
  assert(m, `examples/${file} has a "Run:" line in its header`);
  return m[1].trim().split(/\s+/);
}

async function runExample(file: string): Promise<Run> {
  const [cmd, ...args] = runLine(file);
  assert(
    args.includes(`examples/${file}`),
    `the run line of examples/${file} runs it: ${cmd} ${args.join(" ")}`,
  );
  const started = Date.now();
  const child = new Deno.Command(cmd === "bin/deno" ? `${REPO}bin/deno` : cmd, {
    args,
    cwd: REPO,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), LIMIT_MS);
  });
  const output = child.output();
  const first = await Promise.race([output, timeout]);
  clearTimeout(timer);
  if (first === "timeout") child.kill("SIGKILL");
  const done = await output;
  const dec = new TextDecoder();
  const out = dec.decode(done.stdout) + dec.decode(done.stderr);
  assert(first !== "timeout", `examples/${file} finished within ${LIMIT_MS} ms:\n${out}`);
  return { code: done.code, out, ms: Date.now() - started };
}

/** Each number the pattern's first group captures, in order. */
function numbers(out: string, re: RegExp): number[] {
  return [...out.matchAll(new RegExp(re, "g"))].map((m) => Number(m[1]));
}

/** The checks of each example beyond exit code and cleanup, by file name. */
const CHECKS: Record<string, (out: string, ms: number) => void> = {
  "demo.ts": (out) => {
    const [killed] = numbers(out, /kill -KILL (\d+) \(ticker\)/);
    const [restarted] = numbers(out, /restarted "ticker" as pid (\d+)/);
    assert(killed > 0 && restarted > 0 && killed !== restarted, "the ticker got a new pid");
    assertMatch(out, /kill -> restarted: \d+ ms/);
    assertMatch(out, new RegExp(`ticker \\(pid ${restarted}\\) ticks again`));
    assertMatch(out, /Num Restarts\s+: 2\n/);
    assertMatch(out, /the Guardian took over: HAM \d+ answers on the same socket/);
    assertMatch(out, /ok: the ticker kept running through the takeover/);
    assertMatch(out, /ok: the new HAM restarted the ticker/);
    assertMatch(out, /stopped the HAM/);
    assertMatch(out, /ok: it beats again \(missed 0\) but the health stays latched: missed-low/);
    assertMatch(out, /action beater\/ack\/healthy \(heartbeat-healthy\) ran/);
    const [hung] = numbers(out, /kill -HUP (\d+): the beater hangs/);
    const [back] = numbers(out, /"beater" is back as pid (\d+)/);
    assert(hung > 0 && back > 0 && hung !== back, "the hung beater was replaced");
  },
  "simple_restart.ts": (out) => {
    const pids = [...numbers(out, /kill #\d: kill -KILL (\d+)/), ...numbers(out, /is pid (\d+)/)];
    assertEquals(new Set(pids).size, 4, "four different pids: the first and three restarts");
    assertMatch(out, /restart count = 3 \(Num Restarts: 3\)/);
    assertMatch(out, /Num Restarts\s+: 3\n/);
  },
  "compound_restart.ts": (out) => {
    const byPid = numbers(out, /mount \/export\/[ab] \(server pid (\d+)\)/);
    assertEquals(byPid.length, 4, "two mounts at registration, two after the restart");
    assert(byPid[0] === byPid[1] && byPid[2] === byPid[3] && byPid[0] !== byPid[2]);
    assertMatch(out, /ok: wait-ready held the mounts until the server was ready/);
  },
  "client_recovery.ts": (out) => {
    assertEquals(numbers(out, /client: recovery #(\d+): HAM reported the restart/), [1, 2]);
    assertEquals(numbers(out, /kill -KILL (\d+) \(echo\)/).length, 2, "two kills");
    assertMatch(out, /ok: every request got its echo, in order, once \(20 of 20\)/);
    assertMatch(out, /ok: the client recovered 2 times and never saw an error \(ACOUNT 2\)/);
    assertMatch(out, /ok: the HAM restarted "echo" 2 times \(Num Restarts: 2\)/);
    assertEquals(numbers(out, /file: recovery #\d+: haReopen, seek to offset (\d+)/), [256, 640]);
    assertMatch(out, /ok: the read continued at its offset: all 790 bytes, in order/);
    assertMatch(out, /ok: the file recovered 2 times/);
  },
  "death_notification.ts": (out) => {
    for (const c of ["client-1", "client-2"]) {
      assertMatch(out, new RegExp(`${c}: notified: "server" \\(pid \\d+\\) died`));
    }
    assertMatch(out, /as ATTACHEDSELF/);
  },
  "heartbeat_deadlock.ts": (out) => heartbeatStory(out, "mutex-deadlock", "deadlocked"),
  "heartbeat_starvation.ts": (out) =>
    heartbeatStory(out, "mutex-starvation", "thread 1 turns greedy"),
  "hamctl_setup.sh": (out) => {
    const [killed] = numbers(out, /kill -KILL (\d+) \(web\)/);
    const [restarted] = numbers(out, /--for restarted --since \d+ -> restarted: pid (\d+)/);
    assert(killed > 0 && restarted > 0 && killed !== restarted, "web got a new pid");
    assertMatch(out, /page: cannot restart flaky/);
    assertMatch(out, /Num Restarts\s+: 1\n/);
  },
};

/** The checks of examples 5 and 6: missed-low, missed-high, post-mortem, kill, restart, re-attach. */
function heartbeatStory(out: string, entity: string, trouble: string): void {
  assertMatch(out, new RegExp(`worker \\d+: ${trouble}`));
  assertMatch(out, new RegExp(`"${entity}" missed 3 periods in a row: hb-missed-low`));
  assertMatch(out, new RegExp(`"${entity}" missed 5 periods in a row: hb-missed-high`));
  assertMatch(out, new RegExp(`action ${entity}/missed-high/post-mortem \\(execute\\) ran`));
  assertMatch(out, new RegExp(`action ${entity}/missed-high/kill \\(signal\\) ran`));
  const [first, second] = numbers(out, /the restarted worker has a new pid \(\d+ -> (\d+)\)/)
    .concat(numbers(out, new RegExp(`"${entity}" \\(pid (\\d+)\\) attached itself again`)));
  assert(first > 0 && first === second, "the restarted worker attached itself again");
  assertMatch(out, /ok: post-mortem saved in DIR\/postmortem-\d+\.txt/);
  assertMatch(out, /HeartBeat State\s+: HEALTHY\n/);
  assertMatch(out, /Num Restarts\s+: 1\n/);
}

const files = [...Deno.readDirSync(EXAMPLES)]
  .filter((e) => e.isFile && /\.(ts|sh)$/.test(e.name))
  .map((e) => e.name)
  .sort();

Deno.test("examples/ holds every example these tests know", () => {
  for (const known of Object.keys(CHECKS)) assert(files.includes(known), `examples/${known}`);
});

for (const file of files) {
  Deno.test(`examples/${file} behaves as its header says and cleans up`, async () => {
    const { code, out, ms } = await runExample(file);
    assertEquals(code, 0, `examples/${file} exited ${code}:\n${out}`);
    assertMatch(out, /done: /);
    for (const dir of out.matchAll(/removed (\S+)/g)) {
      assert(!existsSync(dir[1]), `examples/${file} removed ${dir[1]}`);
    }
    assertMatch(out, /removed \S+/, `examples/${file} removes its state directory`);
    try {
      CHECKS[file]?.(out, ms);
    } catch (err) {
      throw new Error(`examples/${file}: ${(err as Error).message}\n${out}`, { cause: err });
    }
  });
}

function existsSync(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}
