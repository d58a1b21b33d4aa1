/**
 * The HAM's side of the Guardian: starts the Guardian process, watches it through the
 * child's status promise, and starts a new one whenever it exits while the HAM is not
 * stopping (QNX: "if the Guardian dies, the HAM re-creates it"). A stop ends it first.
 *
 * @module
 */

import type { Logger } from "../os/logger.ts";
import { selfCommand } from "../os/self_command.ts";
import { denoChildren } from "../os/spawner.ts";

/** Options of the {@linkcode GuardianKeeper} constructor. */
export interface GuardianKeeperOptions {
  /** The state directory the Guardian follows. */
  stateDir: string;
  /** Where log lines go. */
  log: Logger;
  /**
   * Called when a Guardian exits while the HAM is not stopping, to journal the failure; the
   * next Guardian starts once it settles (so a new Guardian means a durable failure).
   */
  onFailure: (at: number) => Promise<unknown> | void;
  /**
   * The Guardian's command line.
   * @default `[...selfCommand(), "guardian", "--state-dir", DIR, "--ham-pid", PID, ...args]`
   */
  command?: string[];
  /** Extra arguments of the default command line (`--log FILE`, `--timestamps S`). @default [] */
  args?: string[];
  /** A Guardian that lived less than this died young: the next start is delayed. @default 1000 */
  minUptimeMs?: number;
  /** The delay after the second young death in a row; it doubles after each. @default 250 */
  firstBackoffMs?: number;
  /** The longest delay between two starts. @default 4000 */
  maxBackoffMs?: number;
  /** How long {@linkcode GuardianKeeper.stop} waits after SIGTERM before SIGKILL. @default 5000 */
  stopTimeoutMs?: number;
}

function describeExit(s: Deno.CommandStatus): string {
  return s.signal !== null ? `killed by ${s.signal}` : `exited with code ${s.code}`;
}

/**
 * Keeps one Guardian process running. Restarts are immediate, except after young deaths in
 * a row, which back off from `firstBackoffMs` up to `maxBackoffMs`.
 */
export class GuardianKeeper {
  #opts: GuardianKeeperOptions;
  #child: Deno.ChildProcess | null = null;
  #exited: Promise<void> = Promise.resolve();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #youngDeaths = 0;
  #stopping = false;
  #starts = 0;

  /** Creates a keeper; nothing runs until {@linkcode start}. */
  constructor(opts: GuardianKeeperOptions) {
    this.#opts = opts;
  }

  /** The running Guardian's pid, or null (none yet, or between two). */
  get pid(): number | null {
    return this.#child?.pid ?? null;
  }

  /** How many Guardian processes were started. */
  get starts(): number {
    return this.#starts;
  }

  /** Starts the first Guardian, at once or after `delayMs`. Idempotent. */
  start(delayMs = 0): void {
    if (this.#stopping || this.#child || this.#timer !== undefined) return;
    if (delayMs > 0) this.#timer = setTimeout(() => this.#spawn(), delayMs);
    else this.#spawn();
  }

  /**
   * Ends the Guardian for a stop of the HAM: SIGTERM (it exits 0 without taking over),
   * SIGKILL if it has not exited after `stopTimeoutMs`; resolves once it is gone and no
   * other will start. Idempotent.
   */
  async stop(): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const child = this.#child;
    if (!child) return;
    try {
      child.kill("SIGTERM");
    } catch { /* already exited */ }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), this.#opts.stopTimeoutMs ?? 5000);
    });
    const killed = await Promise.race([this.#exited.then(() => false), late]);
    clearTimeout(timer);
    if (killed) {
      this.#opts.log.log("warn", `Guardian ${child.pid} did not exit on SIGTERM: killing it`);
      try {
        child.kill("SIGKILL");
      } catch { /* exited meanwhile */ }
      await this.#exited;
    }
  }

  #command(): string[] {
    if (this.#opts.command) return this.#opts.command;
    return [
      ...selfCommand(),
      "guardian",
      "--state-dir",
      this.#opts.stateDir,
      "--ham-pid",
      String(Deno.pid),
      ...this.#opts.args ?? [],
    ];
  }

  #spawn(): void {
    this.#timer = undefined;
    if (this.#stopping) return;
    const [cmd, ...args] = this.#command();
    let child: Deno.ChildProcess;
    try {
      // Not with the HAM's malloc tuning (`daemonEnv`): its one arena cost a takeover ~5–8 ms
      // of CPU at 1,000 entities for 0.3 MiB of the Guardian's memory.
      child = new Deno.Command(cmd, {
        args,
        stdin: "null",
        stdout: "inherit",
        stderr: "inherit",
      }).spawn();
    } catch (err) {
      this.#opts.log.log("error", `Cannot start a Guardian: ${(err as Error).message}`);
      this.#retry(true);
      return;
    }
    // Deno collects its status: the zombie reaper must leave it alone.
    denoChildren.add(child.pid);
    this.#child = child;
    this.#starts++;
    // Monotonic: a wall clock set while it ran would make its life look longer or shorter.
    const startedAt = performance.now();
    this.#opts.log.log("info", `Started Guardian ${child.pid}`);
    this.#exited = child.status.then((status) => {
      denoChildren.delete(child.pid);
      this.#child = null;
      if (this.#stopping) return;
      const young = performance.now() - startedAt < (this.#opts.minUptimeMs ?? 1000);
      this.#opts.log.log(
        "warn",
        `Guardian ${child.pid} ${describeExit(status)}: starting a new one`,
      );
      return Promise.resolve(this.#opts.onFailure(Date.now())).catch(() => {}).then(() => {
        this.#retry(young);
      });
    });
  }

  #retry(young: boolean): void {
    this.#youngDeaths = young ? this.#youngDeaths + 1 : 0;
    const first = this.#opts.firstBackoffMs ?? 250;
    const delay = this.#youngDeaths <= 1
      ? 0
      : Math.min(first * 2 ** (this.#youngDeaths - 2), this.#opts.maxBackoffMs ?? 4000);
    if (delay > 0) this.#opts.log.log("info", `Starting the next Guardian in ${delay} ms`);
    this.#timer = setTimeout(() => this.#spawn(), delay);
  }
}
