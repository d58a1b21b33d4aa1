/**
 * Integration-test harness: a real `ham` process (with its Guardian, unless told not to)
 * on a temporary state directory, `hamctl` run as a real process, helpers to kill the HAM
 * or the Guardian and wait for the takeover, and cleanup that stops both with
 * `hamctl stop` and kills every process that carries the state directory in its
 * environment (the HAM, Guardians, workers, restarted workers, daemons).
 *
 * @module
 */

import { HamClient } from "../../lib/client/client.ts";
import type { HamEvent, WaitFor, WaitResult } from "../../lib/core/protocol.ts";
import { connect } from "../../lib/client/ham.ts";
import { isAlive, processStat, readCmdline } from "../../lib/os/proc.ts";
import { socketPath } from "../../lib/os/state_dir.ts";
import type { HamView } from "../../lib/core/status_view.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
/** The repository's `bin/` directory. */
export const BIN = `${ROOT}bin`;

/** What a `hamctl` run produced. */
export interface CtlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Races a promise against a deadline; the deadline fails with `what`. */
export async function deadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs `bin/hamctl --state-dir DIR ARGS...`. */
export async function hamctl(stateDir: string, ...args: string[]): Promise<CtlResult> {
  const out = await new Deno.Command(`${BIN}/hamctl`, {
    args: ["--state-dir", stateDir, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/**
 * Pids of live processes whose environment carries `HAM_STATE_DIR=dir` (scanned with grep,
 * since Deno refuses /proc reads without --allow-all).
 */
export async function processesOf(dir: string): Promise<number[]> {
  const out = await new Deno.Command("/bin/sh", {
    args: [
      "-c",
      'grep -lzx -- "HAM_STATE_DIR=$1" /proc/[0-9]*/environ 2>/dev/null; true',
      "sh",
      dir,
    ],
    stdout: "piped",
    stderr: "null",
  }).output();
  return new TextDecoder().decode(out.stdout).split("\n").map((l) => /^\/proc\/(\d+)\//.exec(l))
    .filter((m) => m !== null).map((m) => Number(m![1])).filter((p) => p !== Deno.pid);
}

/** True when the process exists and is not a zombie. */
export function alive(pid: number): boolean {
  return isAlive(pid, null);
}

/** Options of {@linkcode HamProcess.start}. */
export interface HamProcessOptions {
  /** The state directory. @default a new temporary directory */
  stateDir?: string;
  /** Extra arguments of `ham`. @default [] */
  args?: string[];
  /** Run with a Guardian (false: `--no-guardian`). @default true */
  guardian?: boolean;
  /** Extra environment of the HAM (and so of its Guardians). @default {} */
  env?: Record<string, string>;
  /** A command the HAM runs under, e.g. `["prlimit", "--nofile=64:64", "--"]`. @default [] */
  wrapper?: string[];
}

/** The pids of the HAM serving a state directory and of its Guardian. */
export interface HamPids {
  hamPid: number;
  guardianPid: number | null;
}

/** Polls `probe` (with backoff) until it returns a value (not null, undefined or false), or fails after `ms`. */
export async function until<T>(
  probe: () => Promise<T | null | undefined>,
  what: string,
  ms = 10_000,
): Promise<T> {
  const end = Date.now() + ms;
  let delay = 2;
  let last: unknown = null;
  while (Date.now() < end) {
    try {
      const v = await probe();
      // false too: a probe written `a && b` answers false, not null, while it waits.
      if (v !== null && v !== undefined && (v as unknown) !== false) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 50);
  }
  throw new Error(`Timed out after ${ms} ms waiting for ${what}${last ? ` (${last})` : ""}`);
}

/** The pids the HAM of `stateDir` answers with in its handshake. */
export async function pidsOf(stateDir: string): Promise<HamPids> {
  const c = await HamClient.connect({ stateDir, client: "test", timeoutMs: 2000 });
  const { hamPid, guardianPid } = c.server;
  await c.close();
  return { hamPid, guardianPid };
}

/** A real HAM for a test; `await using ham = await HamProcess.start()`. */
export class HamProcess implements AsyncDisposable {
  readonly stateDir: string;
  child: Deno.ChildProcess;
  #log: string;
  #opts: HamProcessOptions;

  private constructor(
    stateDir: string,
    child: Deno.ChildProcess,
    log: string,
    opts: HamProcessOptions,
  ) {
    this.stateDir = stateDir;
    this.child = child;
    this.#log = log;
    this.#opts = opts;
  }

  /** Starts `bin/ham --foreground` on a fresh (or given) state directory. */
  static async start(opts: HamProcessOptions = {}): Promise<HamProcess> {
    const stateDir = opts.stateDir ?? await Deno.makeTempDir({ prefix: "ham-test-" });
    const log = `${stateDir}.log`;
    const all = { ...opts, stateDir };
    const child = HamProcess.#spawn(all, log, opts.args ?? []);
    const h = new HamProcess(stateDir, child, log, all);
    try {
      await h.ready();
      if (all.guardian ?? true) await h.waitGuardian();
    } catch (err) {
      await h[Symbol.asyncDispose]();
      throw err;
    }
    return h;
  }

  static #spawn(opts: HamProcessOptions, log: string, extra: string[]): Deno.ChildProcess {
    const stateDir = opts.stateDir!;
    const args = [...(opts.guardian ?? true ? [] : ["--no-guardian"]), ...extra];
    return new Deno.Command("/bin/sh", {
      args: [
        "-c",
        'log="$1"; shift; exec "$@" >>"$log" 2>&1',
        "sh",
        log,
        ...opts.wrapper ?? [],
        `${BIN}/ham`,
        "--foreground",
        "--state-dir",
        stateDir,
        "-vv",
        ...args,
      ],
      stdin: "null",
      // So that the cleanup finds the HAM itself by its environment too.
      env: { ...opts.env, HAM_STATE_DIR: stateDir },
    }).spawn();
  }

  /**
   * Starts a new HAM process on the same state directory (after a stop or a kill); waits up
   * to `ms` for it to answer, and as long again for its Guardian.
   */
  async restart(args: string[] = [], ms = 15_000): Promise<void> {
    this.child = HamProcess.#spawn(this.#opts, this.#log, args);
    await this.ready(ms);
    if (this.#opts.guardian ?? true) await this.waitGuardian(null, ms);
  }

  /** Waits until the control socket answers (or the HAM exits, which fails). */
  async ready(ms = 15_000): Promise<void> {
    let exited: number | null = null;
    this.child.status.then((s) => (exited = s.code));
    const answered = await until(
      async () => exited !== null ? "exited" : await pidsOf(this.stateDir).then(() => "ok"),
      "ham to answer",
      ms,
    ).catch(() => "late");
    if (answered === "ok") return;
    throw new Error(
      `ham ${answered === "exited" ? `exited with ${exited}` : `did not answer within ${ms} ms`}` +
        `:\n${this.log()}`,
    );
  }

  /** The pids of the HAM serving now and of its Guardian. */
  pids(): Promise<HamPids> {
    return pidsOf(this.stateDir);
  }

  /** The pid of the HAM serving now (it changes with a takeover). */
  async hamPid(): Promise<number> {
    return (await this.pids()).hamPid;
  }

  /** The pid of the Guardian of the HAM serving now, or null. */
  async guardianPid(): Promise<number | null> {
    return (await this.pids()).guardianPid;
  }

  /** The whole status, as `hamctl status --json` prints it. */
  async status(): Promise<HamView> {
    await using c = await this.client();
    return await c.request("status", { path: null }) as HamView;
  }

  /** Sends `signal` to the HAM serving now; returns its pid. */
  async killHam(signal: Deno.Signal = "SIGKILL"): Promise<number> {
    const pid = await this.hamPid();
    Deno.kill(pid, signal);
    return pid;
  }

  /** Sends `signal` to the Guardian of the HAM serving now; returns its pid. */
  async killGuardian(signal: Deno.Signal = "SIGKILL"): Promise<number> {
    const pid = await this.guardianPid();
    if (pid === null) throw new Error("The HAM has no Guardian");
    Deno.kill(pid, signal);
    return pid;
  }

  /**
   * Waits until the socket answers with a HAM other than `since` (the pid of the HAM that
   * was killed), with a Guardian of its own; returns the new pids.
   */
  waitTakeover(since: number, ms = 15_000): Promise<HamPids> {
    return until(
      async () => {
        const p = await pidsOf(this.stateDir);
        return p.hamPid !== since && p.guardianPid !== null ? p : null;
      },
      `a HAM other than ${since} to answer:\n${this.log()}`,
      ms,
    );
  }

  /** Waits until the HAM has a Guardian other than `since`; returns its pid. */
  waitGuardian(since: number | null = null, ms = 15_000): Promise<number> {
    return until(
      async () => {
        const g = (await pidsOf(this.stateDir)).guardianPid;
        return g !== null && g !== since ? g : null;
      },
      `a Guardian other than ${since}:\n${this.log()}`,
      ms,
    );
  }

  /** The HAM's log so far. */
  log(): string {
    try {
      return Deno.readTextFileSync(this.#log);
    } catch {
      return "";
    }
  }

  /** Runs hamctl against this HAM. */
  ctl(...args: string[]): Promise<CtlResult> {
    return hamctl(this.stateDir, ...args);
  }

  /** Runs hamctl and fails unless it exits 0; returns parsed JSON when it printed JSON. */
  // deno-lint-ignore no-explicit-any
  async ok(...args: string[]): Promise<any> {
    const r = await this.ctl(...args);
    if (r.code !== 0) {
      throw new Error(`hamctl ${args.join(" ")} exited ${r.code}: ${r.stderr}${r.stdout}`);
    }
    const s = r.stdout.trim();
    return s.startsWith("{") || s.startsWith("[") ? JSON.parse(s) : s;
  }

  /** The sequence number the next event will get. */
  async seq(): Promise<number> {
    await using c = await this.client();
    const r = await c.request("events", { since: 0, limit: 1 });
    const all = await c.request("events", { since: r.next, limit: 100_000 });
    return all.next;
  }

  /**
   * Waits for an entity to reach `what` through an event with sequence ≥ `since` (take
   * `since` from {@linkcode seq} before causing the event, so it cannot be missed).
   */
  async waitEvent(
    entity: string,
    what: WaitFor,
    since: number,
    timeoutMs = 10_000,
  ): Promise<WaitResult> {
    await using c = await this.client();
    return await c.request("wait", { entity, for: what, since, timeoutMs }, {
      timeoutMs: timeoutMs + 2000,
    });
  }

  /**
   * Resolves with the first event with sequence ≥ `since` that satisfies `pred`, read from a
   * subscription (event-driven); fails after `ms`.
   */
  async nextEvent(
    pred: (ev: HamEvent) => boolean,
    since: number,
    what: string,
    ms = 10_000,
  ): Promise<HamEvent> {
    await using lib = await connect({ stateDir: this.stateDir, client: "test" });
    const events = await lib.subscribe({ since });
    return await deadline(
      (async () => {
        for await (const ev of events) if (pred(ev)) return ev;
        throw new Error(`the HAM closed the subscription before ${what}`);
      })(),
      ms,
      what,
    );
  }

  /** A library client connected to this HAM. */
  client(): Promise<HamClient> {
    return HamClient.connect({ stateDir: this.stateDir, client: "test" });
  }

  /** The socket path. */
  get socket(): string {
    return socketPath(this.stateDir);
  }

  /**
   * Stops the HAM and its Guardian with `hamctl stop --wait` (if one answers), ends the
   * monitored processes (left running by `stop`, by design) and removes the directory.
   * Any other process left with the state directory in its environment — a HAM or
   * Guardian that outlived the stop, an orphan no entity owns, a duplicate worker — is a
   * leak: it is killed and the test fails, naming it.
   */
  async [Symbol.asyncDispose](): Promise<void> {
    const monitored = new Set<number>();
    // A HAM killed just before (a takeover under way) answers again within seconds; when no
    // process has the state directory any more (a HAM the test stopped), none will answer.
    const anyone = (await processesOf(this.stateDir)).length > 0;
    const view = anyone
      ? await until(() => deadline(this.status(), 5_000, "status"), "status", 10_000)
        .catch(() => null)
      : null;
    for (const e of view?.entities ?? []) {
      if (e.pid !== null) monitored.add(e.pid);
      // Kept by design too: what an entity left behind with kill mode `process`.
      for (const pid of e.leftovers ?? []) monitored.add(pid);
    }
    await deadline(this.ctl("stop", "--wait", "--timeout", "10s"), 15_000, "hamctl stop")
      .catch(() => {});
    // A restart that was under way when the status was taken: its pid is in the HAM's log.
    for (const m of this.log().matchAll(/Restarted entity "[^"]*" as pid (\d+)/g)) {
      monitored.add(Number(m[1]));
    }
    const leaks: string[] = [];
    await deadline(this.child.status, 5_000, "ham to exit").catch(() => {
      leaks.push(`the HAM (pid ${this.child.pid}) did not exit on stop`);
      try {
        this.child.kill("SIGKILL");
      } catch { /* gone */ }
    });
    // What stop leaves running by design: the monitored processes and their children.
    const owned = (pid: number): boolean => {
      for (let p = pid, hops = 0; p > 1 && hops < 64; hops++) {
        if (monitored.has(p)) return true;
        p = processStat(p)?.ppid ?? 0;
      }
      return false;
    };
    for (let round = 0; round < 5; round++) {
      const pids = await processesOf(this.stateDir);
      if (pids.length === 0) break;
      // Ownership is judged before anything is killed: killing a monitored `sh -c` first
      // would re-parent its child and make it look like an orphan.
      if (round === 0) {
        for (const pid of pids.filter((p) => !owned(p) && alive(p))) {
          leaks.push(`pid ${pid} (${readCmdline(pid)?.join(" ") ?? "?"})`);
        }
      }
      for (const pid of pids) {
        try {
          Deno.kill(pid, "SIGKILL");
        } catch { /* gone */ }
      }
    }
    await this.child.status;
    const log = leaks.length > 0 ? this.log().split("\n").slice(-20).join("\n") : "";
    await Deno.remove(this.stateDir, { recursive: true }).catch(() => {});
    await Deno.remove(this.#log).catch(() => {});
    if (leaks.length > 0) {
      throw new Error(`Leaked past the end of the test: ${leaks.join("; ")}\n${log}`);
    }
  }
}
