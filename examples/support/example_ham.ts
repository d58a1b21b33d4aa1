/**
 * A HAM of an example's own: started with `bin/ham --state-dir DIR` on a fresh temporary
 * directory (it detaches, as it would for a user), reached through the public library
 * (`mod.ts`) and `bin/hamctl`, and cleaned up with `await using`: the HAM is stopped, every
 * worker it was monitoring is killed by pid, and the directory is removed, even when the
 * scenario fails half-way.
 *
 * Not an example itself: the examples import it.
 *
 * @module
 */

import { connect, type EntityView, type Ham, type HamEvent, type HamView } from "../../mod.ts";
import { ScenarioError, type Timeline, within } from "./scenario.ts";

/** The repository's root directory, with a trailing slash. */
export const REPO: string = new URL("../../", import.meta.url).pathname;
/** The repository's `bin/` directory: `ham`, `hamctl`, `deno`. */
export const BIN = `${REPO}bin`;

/** What a command printed, and its exit code. */
export interface CommandOutput {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion, its output captured. */
export async function runCommand(cmd: string, args: string[]): Promise<CommandOutput> {
  const out = await new Deno.Command(cmd, { args, stdin: "null", stdout: "piped", stderr: "piped" })
    .output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/**
 * Pulls events from a subscription until one satisfies `pred` (each event pulled is
 * passed to `seen` first). Throws when the stream ends or `ms` pass first.
 */
export function nextEvent(
  events: AsyncIterableIterator<HamEvent>,
  pred: (ev: HamEvent) => boolean,
  ms: number,
  what: string,
  seen: (ev: HamEvent) => void = () => {},
): Promise<HamEvent> {
  return within(
    (async () => {
      for (;;) {
        const r = await events.next();
        if (r.done) throw new ScenarioError(`The event stream ended before ${what}`);
        seen(r.value);
        if (pred(r.value)) return r.value;
      }
    })(),
    ms,
    what,
  );
}

/** A HAM on a temporary state directory; `await using h = await ExampleHam.start(tl)`. */
export class ExampleHam implements AsyncDisposable {
  /** The HAM's state directory (a fresh temporary directory). */
  readonly stateDir: string;
  /** A library connection to the HAM (`connect({ stateDir })`). */
  ham: Ham;
  /** The HAM's pid, as it answered the handshake. */
  hamPid: number;
  readonly #timeline: Timeline;
  readonly #workers = new Set<number>();
  #stopped = false;

  private constructor(stateDir: string, ham: Ham, timeline: Timeline) {
    this.stateDir = stateDir;
    this.ham = ham;
    this.hamPid = ham.client.server.hamPid;
    this.#timeline = timeline;
    Deno.addSignalListener("SIGINT", this.#onInterrupt);
  }

  /** Ctrl-C: `await using` cannot run its course, so clean up at once with what is known. */
  #onInterrupt = (): void => {
    // A stop, not a signal: SIGTERM to a HAM with a Guardian is a takeover.
    const stop = new Deno.Command(`${BIN}/hamctl`, {
      args: ["--state-dir", this.stateDir, "stop", "--wait", "--timeout", "5s"],
      stdout: "null",
      stderr: "null",
    }).outputSync();
    if (!stop.success) {
      try {
        Deno.kill(this.hamPid, "SIGKILL");
      } catch { /* already gone */ }
    }
    for (const pid of this.#workers) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* already gone */ }
    }
    try {
      Deno.removeSync(this.stateDir, { recursive: true });
    } catch { /* the HAM may still be writing; it is a temporary directory */ }
    this.#timeline.mark(
      `interrupted: stopped the HAM, killed the workers, removed ${this.stateDir}`,
    );
    Deno.exit(130);
  };

  /** Creates a temporary state directory and starts a HAM on it with `bin/ham`. */
  static async start(timeline: Timeline): Promise<ExampleHam> {
    const stateDir = await Deno.makeTempDir({ prefix: "ham-example-" });
    timeline.mark(`created the state directory ${stateDir}`);
    try {
      const out = await runCommand(`${BIN}/ham`, ["--state-dir", stateDir]);
      if (out.code !== 0) {
        throw new ScenarioError(`bin/ham exited with ${out.code}: ${out.stderr.trim()}`);
      }
      const ham = await connect({ stateDir, client: "example" });
      const h = new ExampleHam(stateDir, ham, timeline);
      timeline.mark(`started the HAM: bin/ham --state-dir DIR -> pid ${h.hamPid}`);
      return h;
    } catch (err) {
      // It may have started before the failure: stopping a HAM that is not there is harmless.
      await runCommand(`${BIN}/hamctl`, ["--state-dir", stateDir, "stop", "--wait"]);
      await Deno.remove(stateDir, { recursive: true }).catch(() => {});
      throw err;
    }
  }

  /** Runs `bin/hamctl --state-dir DIR ARGS...`. */
  ctl(...args: string[]): Promise<CommandOutput> {
    return runCommand(`${BIN}/hamctl`, ["--state-dir", this.stateDir, ...args]);
  }

  /** Remembers a process to kill at cleanup (one the HAM may no longer monitor). */
  /**
   * Connects again, to whichever HAM serves the state directory now (after a takeover the
   * Guardian has become the HAM), waiting up to `ms` for one other than `oldPid`.
   */
  async reconnect(oldPid: number, ms = 10_000): Promise<number> {
    const end = Date.now() + ms;
    for (;;) {
      try {
        const ham = await connect({ stateDir: this.stateDir, client: "example" });
        if (ham.client.server.hamPid !== oldPid) {
          this.ham.close();
          this.ham = ham;
          this.hamPid = ham.client.server.hamPid;
          return this.hamPid;
        }
        ham.close();
      } catch { /* not answering yet */ }
      if (Date.now() > end) throw new ScenarioError(`no HAM took over within ${ms} ms`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  track(pid: number | null | undefined): void {
    if (pid) this.#workers.add(pid);
  }

  /** The sequence number the next event will get: take it before causing an event. */
  async nextSeq(): Promise<number> {
    const r = await this.ham.events({ since: Number.MAX_SAFE_INTEGER, limit: 1 });
    return r.next;
  }

  /** Remembers the pid of every entity the HAM monitors now, to kill them at cleanup. */
  async trackEntities(): Promise<void> {
    const view = await this.ham.status() as HamView;
    for (const e of view.entities) this.track(e.pid);
  }

  /** The status of entity `name` (`hamctl status NAME --json`). */
  async entity(name: string): Promise<EntityView> {
    return await this.ham.status(name) as EntityView;
  }

  /** Stops the HAM with `hamctl stop --wait`, remembering its workers first. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    await this.trackEntities().catch(() => {});
    this.#stopped = true;
    const out = await this.ctl("stop", "--wait");
    await this.ham[Symbol.asyncDispose]();
    if (out.code !== 0) {
      throw new ScenarioError(`hamctl stop exited with ${out.code}: ${out.stderr.trim()}`);
    }
    this.#timeline.mark(`stopped the HAM: hamctl stop --wait`);
  }

  /** Stops the HAM (killing it if it will not stop), kills the workers, removes the directory. */
  async [Symbol.asyncDispose](): Promise<void> {
    Deno.removeSignalListener("SIGINT", this.#onInterrupt);
    try {
      await this.stop();
    } catch {
      try {
        Deno.kill(this.hamPid, "SIGKILL");
        this.#timeline.mark(`killed the HAM (pid ${this.hamPid}): it did not stop`);
      } catch { /* already gone */ }
    }
    const killed: number[] = [];
    for (const pid of this.#workers) {
      try {
        Deno.kill(pid, "SIGKILL");
        killed.push(pid);
      } catch { /* already gone */ }
    }
    if (killed.length > 0) this.#timeline.mark(`killed the workers: pid ${killed.join(", ")}`);
    await Deno.remove(this.stateDir, { recursive: true });
    this.#timeline.mark(`removed ${this.stateDir}`);
  }
}

/** One HAM event as a line of the timeline. */
export function describeEvent(ev: HamEvent): string {
  const d = ev.detail ?? {};
  switch (ev.type) {
    case "attach":
      return `HAM: "${ev.entity}" attached, pid ${d.pid}`;
    case "death":
      return `HAM: "${ev.entity}" (pid ${d.pid}) died${
        d.signal ? `: ${d.signal}` : typeof d.code === "number" ? `: exit code ${d.code}` : ""
      }`;
    case "condition":
      return `HAM: condition ${ev.condition} fired`;
    case "restart":
      return `HAM: restarted "${ev.entity}" as pid ${d.pid}`;
    case "action":
      return `HAM: action ${ev.condition}/${ev.action} (${d.kind}${d.now ? ", do-now" : ""}) ${
        d.ok ? "ran" : "FAILED"
      }`;
    case "remove":
      return `HAM: removed "${ev.entity}" (${d.reason ?? "detached"})`;
    default:
      return `HAM: ${ev.type} "${ev.entity}" ${JSON.stringify(d)}`;
  }
}
