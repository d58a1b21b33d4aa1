/**
 * A real HAM for a benchmark: `bin/ham --foreground` at its default verbosity on a fresh
 * temporary state directory, a library connection to it, and a cleanup that stops it with
 * `bin/hamctl stop` and then kills every process still carrying the state directory in
 * its environment (workers, restarted workers, a HAM that would not stop).
 *
 * @module
 */

import { connect, type Ham } from "../lib/client/ham.ts";
import { processesOf } from "../tests/support/ham_process.ts";
import { sleep } from "./sleep.ts";

const ROOT = new URL("../", import.meta.url).pathname;
/** The repository's `bin/` directory. */
export const BIN = `${ROOT}bin`;

/** HAMs started and not yet disposed, for cleanup on an interrupt. */
export const liveHams: Set<BenchHam> = new Set();

/** Resolves with `p`, or with null after `ms`. */
function within<T>(p: Promise<T>, ms: number): Promise<T | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p,
    new Promise<null>((r) => (timer = setTimeout(() => r(null), ms))),
  ]).finally(() => clearTimeout(timer));
}

/** What a `hamctl` run produced. */
export interface CtlResult {
  code: number;
  stdout: string;
}

/** Runs `bin/hamctl --state-dir DIR ARGS...`, its stderr discarded. */
export async function hamctl(stateDir: string, ...args: string[]): Promise<CtlResult> {
  const out = await new Deno.Command(`${BIN}/hamctl`, {
    args: ["--state-dir", stateDir, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).output();
  return { code: out.code, stdout: new TextDecoder().decode(out.stdout) };
}

/** A HAM started for a benchmark; `await using ham = await BenchHam.start()`. */
export class BenchHam implements AsyncDisposable {
  /** Its temporary state directory. */
  readonly stateDir: string;
  /** A library connection to it. */
  readonly ham: Ham;
  /** The HAM's pid, as it answered the handshake. */
  readonly pid: number;
  /** When it answered first (`performance.now()` of the bench). */
  readonly startedAt = performance.now();
  readonly #child: Deno.ChildProcess;
  #disposed: Promise<void> | null = null;

  private constructor(stateDir: string, child: Deno.ChildProcess, ham: Ham) {
    this.stateDir = stateDir;
    this.#child = child;
    this.ham = ham;
    this.pid = ham.client.server.hamPid;
  }

  /**
   * Starts a HAM on a fresh temporary state directory (after `prepare` has put what it
   * wants there); resolves once it answers.
   */
  static async start(
    opts: { prepare?: (stateDir: string) => void | Promise<void> } = {},
  ): Promise<BenchHam> {
    const stateDir = await Deno.makeTempDir({ prefix: "ham-bench-" });
    await opts.prepare?.(stateDir);
    const child = new Deno.Command("/bin/sh", {
      args: [
        "-c",
        'log="$1"; shift; exec "$@" >>"$log" 2>&1',
        "sh",
        `${stateDir}/bench.log`,
        `${BIN}/ham`,
        "--foreground",
        "--state-dir",
        stateDir,
      ],
      env: { HAM_STATE_DIR: stateDir },
      stdin: "null",
    }).spawn();
    let exited: number | null = null;
    child.status.then((s) => (exited = s.code));
    const end = performance.now() + 15_000;
    for (let delay = 5; performance.now() < end; delay = Math.min(delay * 2, 50)) {
      if (exited !== null) break;
      try {
        const ham = await connect({ stateDir, client: "bench", timeoutMs: 60_000 });
        const h = new BenchHam(stateDir, child, ham);
        liveHams.add(h);
        return h;
      } catch {
        await sleep(delay);
      }
    }
    const log = await Deno.readTextFile(`${stateDir}/bench.log`).catch(() => "");
    await cleanup(stateDir, child, false);
    throw new Error(`The HAM on "${stateDir}" did not start (exit ${exited}):\n${log}`);
  }

  /** Runs `bin/hamctl --state-dir DIR ARGS...`. */
  ctl(...args: string[]): Promise<CtlResult> {
    return hamctl(this.stateDir, ...args);
  }

  /** Stops the HAM, kills what it left, removes the state directory. Idempotent. */
  [Symbol.asyncDispose](): Promise<void> {
    this.#disposed ??= (async () => {
      this.ham.close();
      await cleanup(this.stateDir, this.#child, true);
      liveHams.delete(this);
    })();
    return this.#disposed;
  }
}

/**
 * Stops a HAM (with `hamctl stop` when `stop`, else by SIGKILL once it has not exited in
 * time), kills every process of its state directory, and removes the directory.
 */
async function cleanup(stateDir: string, child: Deno.ChildProcess, stop: boolean) {
  if (stop) await within(hamctl(stateDir, "stop"), 20_000);
  if (await within(child.status, stop ? 10_000 : 0) === null) {
    try {
      child.kill("SIGKILL");
    } catch { /* exited meanwhile */ }
    await child.status;
  }
  for (let round = 0; round < 5; round++) {
    const pids = await processesOf(stateDir);
    if (pids.length === 0) break;
    for (const pid of pids) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* gone */ }
    }
    await sleep(20);
  }
  await Deno.remove(stateDir, { recursive: true }).catch(() => {});
}
