import assert from "node:assert/strict";
import { libc, WAIT } from "../../../lib/os/libc.ts";
import {
  childrenOf,
  execState,
  isAlive,
  parseStat,
  processStartTime,
  processStat,
  readCmdline,
  readCwd,
  readEnviron,
  threadGroupOf,
} from "../../../lib/os/proc.ts";
import { readDirNames } from "../../../lib/os/proc_fs.ts";
import { ProcessWatcher, setChildSubreaper } from "../../../lib/os/process_watcher.ts";
import { within } from "../../support/within.ts";

const NO_SUCH_PID = 0x3fff_fff0; // above PID_MAX_LIMIT: never a process

/** Starts `/bin/sh -c script` as a child of Deno; the script prints pids and closes stdout. */
async function spawnHelper(script: string): Promise<{ helper: Deno.ChildProcess; pids: number[] }> {
  const helper = new Deno.Command("/bin/sh", {
    args: ["-c", script],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const out = (await new Response(helper.stdout).text()).trim();
  return { helper, pids: out.split(/\s+/).map(Number) };
}

/**
 * Starts `sh -c 'echo ready; read x' ...extra` and waits for its "ready": only then are its
 * command line and environment those of the shell (Deno's spawn() can return before exec).
 * Disposing closes its stdin, which ends the `read`.
 */
async function startShell(extra: string[], options: Deno.CommandOptions = {}) {
  const child = new Deno.Command("/bin/sh", {
    ...options,
    args: ["-c", "echo ready; read x", ...extra],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const reader = child.stdout.getReader();
  assert.equal(new TextDecoder().decode((await reader.read()).value), "ready\n");
  return {
    pid: child.pid,
    async [Symbol.asyncDispose](): Promise<void> {
      await child.stdin.close();
      while (!(await reader.read()).done) continue;
      await child.status;
    },
  };
}

/** A `/proc/PID/stat` line whose command name holds spaces and parentheses. */
function statLine(pid: number, comm: string, startTime: string): string {
  const fields = ["S", "1", "40", "41", "0", "-1", "4194560"];
  while (fields.length < 19) fields.push(String(fields.length));
  return `${pid} (${comm}) ${fields.join(" ")} ${startTime} 1234 56 ${"0 ".repeat(30)}\n`;
}

Deno.test("parseStat() reads the fields after the last parenthesis of the command name", () => {
  assert.deepEqual(parseStat(statLine(42, "a) S 9 9 (b", "987654")), {
    pid: 42,
    ppid: 1,
    pgid: 40,
    sid: 41,
    state: "S",
    startTime: "987654",
    kernelThread: false,
  });
});

Deno.test("parseStat() returns null for malformed text", () => {
  assert.equal(parseStat(""), null);
  assert.equal(parseStat("42 (sleep S 1 2 3"), null);
  assert.equal(parseStat("42 (sleep) S 1 2 3"), null);
});

Deno.test("processStat() reads the parent, group, session and start time of a process", async () => {
  await using child = new Deno.Command("/bin/sleep", { args: ["30"] }).spawn();
  const self = processStat(Deno.pid);
  assert.ok(self !== null);
  assert.equal(self.pid, Deno.pid);
  assert.equal(self.ppid, Deno.ppid);
  assert.match(self.startTime, /^\d+$/);
  const stat = processStat(child.pid);
  assert.ok(stat !== null);
  assert.deepEqual([stat.pid, stat.ppid, stat.pgid, stat.sid], [
    child.pid,
    Deno.pid,
    self.pgid,
    self.sid,
  ]);
  assert.match(stat.state, /^[RSD]$/);
  assert.equal(processStartTime(child.pid), stat.startTime);
});

Deno.test("processStat() and the other readers return null for a pid that does not exist", () => {
  for (const pid of [NO_SUCH_PID, 0, -1, 1.5]) {
    assert.equal(processStat(pid), null);
    assert.equal(processStartTime(pid), null);
    assert.equal(readCmdline(pid), null);
    assert.equal(readCwd(pid), null);
    assert.equal(readEnviron(pid), null);
    assert.equal(isAlive(pid, null), false);
  }
  assert.deepEqual(childrenOf(NO_SUCH_PID), []);
});

Deno.test("threadGroupOf() is the pid of a process, and the process of one of its threads", () => {
  assert.equal(threadGroupOf(Deno.pid), Deno.pid);
  const threads = (readDirNames(`/proc/${Deno.pid}/task`) ?? []).map(Number);
  const other = threads.find((tid) => tid !== Deno.pid);
  assert.ok(other !== undefined, `Deno runs more than one thread: ${threads}`);
  assert.equal(threadGroupOf(other), Deno.pid);
  for (const pid of [NO_SUCH_PID, 0, -1, 1.5]) assert.equal(threadGroupOf(pid), null);
});

Deno.test("readCmdline() returns the argument vector, empty arguments included", async () => {
  await using shell = await startShell(["sh", "with space", ""]);
  assert.deepEqual(readCmdline(shell.pid), [
    "/bin/sh",
    "-c",
    "echo ready; read x",
    "sh",
    "with space",
    "",
  ]);
});

Deno.test("readCwd() and readEnviron() return what a process started with", async () => {
  const dir = Deno.realPathSync(Deno.makeTempDirSync({ prefix: "ham_proc_test_" }));
  try {
    const env = { HAM_TEST: "a=b", EMPTY: "" };
    await using shell = await startShell([], { cwd: dir, clearEnv: true, env });
    assert.equal(readCwd(shell.pid), dir);
    assert.deepEqual(readEnviron(shell.pid), new Map(Object.entries(env)));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("childrenOf() lists the children of a process in ascending order", async () => {
  const { helper, pids } = await spawnHelper(
    "/bin/sleep 30 >/dev/null & a=$!; /bin/sleep 30 >/dev/null & b=$!; " +
      "echo $a $b; exec 1>&-; wait",
  );
  try {
    assert.deepEqual(childrenOf(helper.pid), [...pids].sort((x, y) => x - y));
    assert.ok(childrenOf(Deno.pid).includes(helper.pid));
  } finally {
    for (const pid of pids) Deno.kill(pid, "SIGKILL");
    await within(helper.status, "the helper's exit");
  }
});

Deno.test("isAlive() is true only for the same live process", async () => {
  await using child = new Deno.Command("/bin/sleep", { args: ["30"] }).spawn();
  const startTime = processStartTime(child.pid);
  assert.equal(isAlive(child.pid, null), true);
  assert.equal(isAlive(child.pid, startTime), true);
  assert.equal(isAlive(child.pid, "1"), false);
});

Deno.test("isAlive() is false and readEnviron() null for a zombie", async () => {
  // Adopt the zombie when its parent is killed, so the test can reap it.
  assert.equal(setChildSubreaper(), true);
  await using watcher = new ProcessWatcher();
  // The helper becomes a sleep that never reaps its child.
  const { helper, pids: [pid] } = await spawnHelper(
    "/bin/sleep 30 >/dev/null 2>&1 & echo $!; exec 1>&- /bin/sleep 31",
  );
  try {
    const startTime = processStartTime(pid);
    const watch = watcher.watch(pid, startTime, { reap: false });
    Deno.kill(pid, "SIGKILL");
    await within(watch.exited, "the child's death");
    assert.equal(processStat(pid)?.state, "Z");
    assert.equal(processStartTime(pid), startTime);
    assert.equal(isAlive(pid, null), false);
    assert.equal(readEnviron(pid), null);
    assert.deepEqual(readCmdline(pid), []);
  } finally {
    await helper[Symbol.asyncDispose]();
    // This process inherited the zombie: reap it.
    libc().waitid(WAIT.P_PID, pid, new Uint8Array(128), WAIT.WEXITED);
  }
});

/**
 * A fake `/proc` for one process: its `stat` line (state, flags), and what its `cmdline`
 * and `environ` read, each a list of answers (the last repeats); counts the reads.
 */
function fakeProc(
  state: string,
  flags: number,
  cmdline: string[],
  environ: string[],
): { read: (path: string) => Uint8Array | null; reads: Map<string, number> } {
  const reads = new Map<string, number>();
  const next = (file: string, answers: string[]) => {
    const n = reads.get(file) ?? 0;
    reads.set(file, n + 1);
    return new TextEncoder().encode(answers[Math.min(n, answers.length - 1)]);
  };
  const stat = `77 (sh) ${state} 1 77 77 0 -1 ${flags} 0 0 0 0 0 0 0 0 20 0 1 0 555 0 0`;
  return {
    reads,
    read: (path) => {
      const file = path.slice(path.lastIndexOf("/") + 1);
      if (file === "stat") return next(file, [stat]);
      if (file === "cmdline") return next(file, cmdline);
      if (file === "environ") return next(file, environ);
      return null;
    },
  };
}

Deno.test("readEnviron() reads again a process in the middle of an execve(), until its environment is there", () => {
  // Mid-exec, the new memory has no arguments and no environment yet: both read empty.
  const p = fakeProc("R", 0x40_0000, ["", "", "", "sleep\u00001001\u0000"], [
    "",
    "",
    "A=1\u0000M=x\u0000",
  ]);
  assert.equal(execState(77, p.read), "exec");
  assert.deepEqual(readEnviron(77, 250, p.read), new Map([["A", "1"], ["M", "x"]]));
  assert.equal(p.reads.get("environ"), 3);
});

Deno.test("readEnviron() gives up on a process still mid-exec after the settle time", () => {
  const p = fakeProc("R", 0x40_0000, [""], [""]);
  const t0 = performance.now();
  assert.deepEqual(readEnviron(77, 30, p.read), new Map());
  const took = performance.now() - t0;
  assert.ok(took >= 30, `it waited ${took} ms`);
  assert.ok((p.reads.get("environ") ?? 0) >= 2);
});

Deno.test("readEnviron() does not wait for an empty environment that is not an exec's", () => {
  // A kernel thread (PF_KTHREAD) and a zombie: read once.
  for (const p of [fakeProc("S", 0x20_8040, [""], [""]), fakeProc("Z", 0x40_0000, [""], [""])]) {
    assert.equal(execState(77, p.read), "none");
    assert.deepEqual(readEnviron(77, 1_000, p.read), new Map());
    assert.equal(p.reads.get("environ"), 1);
  }
  // A process started with no environment (its arguments are there): read once more, as
  // an exec that wrote its arguments and not yet its environment would be.
  const bare = fakeProc("S", 0x40_0000, ["sleep\u00001\u0000"], [""]);
  assert.equal(execState(77, bare.read), "args");
  assert.deepEqual(readEnviron(77, 1_000, bare.read), new Map());
  assert.equal(bare.reads.get("environ"), 2);
  const late = fakeProc("R", 0x40_0000, ["sleep\u00001\u0000"], ["", "M=x\u0000"]);
  assert.deepEqual(readEnviron(77, 1_000, late.read), new Map([["M", "x"]]));
});

Deno.test("execState() of a live process that runs, and of one that does not exist", async () => {
  assert.equal(execState(Deno.pid), "args");
  assert.equal(execState(NO_SUCH_PID), "none");
  const child = new Deno.Command("/bin/sleep", { args: ["30"], env: {}, clearEnv: true }).spawn();
  try {
    await within(
      (async () => {
        while (readCmdline(child.pid)?.[0] !== "/bin/sleep") {
          await new Promise((r) => setTimeout(r, 5));
        }
      })(),
      "the child's exec",
    );
    assert.equal(execState(child.pid), "args");
    assert.deepEqual(readEnviron(child.pid), new Map());
  } finally {
    child.kill("SIGKILL");
    await child.status;
  }
});
