/**
 * Integration-test harness: a real `ham` process on a temporary state directory, `hamctl`
 * run as a real process, and cleanup that stops the HAM and kills every process that
 * carries the state directory in its environment (workers, restarted workers, daemons).
 *
 * @module
 */

import { HamClient } from "../../lib/client.ts";
import { isAlive } from "../../lib/proc.ts";
import { socketPath } from "../../lib/state_dir.ts";

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

/** A real HAM for a test; `await using ham = await HamProcess.start()`. */
export class HamProcess implements AsyncDisposable {
  readonly stateDir: string;
  child: Deno.ChildProcess;
  #log: string;

  private constructor(stateDir: string, child: Deno.ChildProcess, log: string) {
    this.stateDir = stateDir;
    this.child = child;
    this.#log = log;
  }

  /** Starts `bin/ham --foreground` on a fresh (or given) state directory. */
  static async start(opts: { stateDir?: string; args?: string[] } = {}): Promise<HamProcess> {
    const stateDir = opts.stateDir ?? await Deno.makeTempDir({ prefix: "ham-test-" });
    const log = `${stateDir}.log`;
    const child = HamProcess.#spawn(stateDir, log, opts.args ?? []);
    const h = new HamProcess(stateDir, child, log);
    await h.ready();
    return h;
  }

  static #spawn(stateDir: string, log: string, args: string[]): Deno.ChildProcess {
    return new Deno.Command("/bin/sh", {
      args: [
        "-c",
        'log="$1"; shift; exec "$@" >>"$log" 2>&1',
        "sh",
        log,
        `${BIN}/ham`,
        "--foreground",
        "--state-dir",
        stateDir,
        "-vv",
        ...args,
      ],
      stdin: "null",
    }).spawn();
  }

  /** Starts a new HAM process on the same state directory (after a stop or a kill). */
  async restart(args: string[] = []): Promise<void> {
    this.child = HamProcess.#spawn(this.stateDir, this.#log, args);
    await this.ready();
  }

  /** Waits until the control socket answers (or the HAM exits, which fails). */
  async ready(ms = 15_000): Promise<void> {
    let exited: number | null = null;
    this.child.status.then((s) => (exited = s.code));
    const end = Date.now() + ms;
    let delay = 5;
    while (Date.now() < end) {
      if (exited !== null) throw new Error(`ham exited with ${exited}:\n${this.log()}`);
      try {
        const c = await HamClient.connect({
          stateDir: this.stateDir,
          client: "test",
          timeoutMs: 2000,
        });
        await c.close();
        return;
      } catch {
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 50);
      }
    }
    throw new Error(`ham did not answer within ${ms} ms:\n${this.log()}`);
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
    const r = await c.request<{ next: number }>("events", { since: 0, limit: 1 });
    const all = await c.request<{ next: number }>("events", { since: r.next, limit: 100_000 });
    return all.next;
  }

  /**
   * Waits for an entity to reach `what` through an event with sequence ≥ `since` (take
   * `since` from {@linkcode seq} before causing the event, so it cannot be missed).
   */
  async waitEvent(
    entity: string,
    what: string,
    since: number,
    timeoutMs = 10_000,
  ): Promise<unknown> {
    await using c = await this.client();
    return await c.request("wait", { entity, for: what, since, timeoutMs }, {
      timeoutMs: timeoutMs + 2000,
    });
  }

  /** A library client connected to this HAM. */
  client(): Promise<HamClient> {
    return HamClient.connect({ stateDir: this.stateDir, client: "test" });
  }

  /** The socket path. */
  get socket(): string {
    return socketPath(this.stateDir);
  }

  /** Stops the HAM (if running), kills every process it left, removes the directory. */
  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.child.kill("SIGTERM");
    } catch { /* already exited */ }
    await deadline(this.child.status, 10_000, "ham to exit").catch(() => {
      try {
        this.child.kill("SIGKILL");
      } catch { /* gone */ }
    });
    for (let round = 0; round < 3; round++) {
      const pids = await processesOf(this.stateDir);
      if (pids.length === 0) break;
      for (const pid of pids) {
        try {
          Deno.kill(pid, "SIGKILL");
        } catch { /* gone */ }
      }
    }
    await Deno.remove(this.stateDir, { recursive: true }).catch(() => {});
    await Deno.remove(this.#log).catch(() => {});
  }
}
