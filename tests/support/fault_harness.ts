/**
 * Fault injection: a real HAM with its Guardian, a scripted workload driven by a seeded
 * PRNG (attach, conditions, actions, raise, state, heartbeats, worker deaths by SIGKILL, a
 * self-attached client), and SIGKILLs of the HAM, the Guardian or both at random points:
 * between requests, with many requests in flight (mid journal append, and with frequent
 * compactions, mid compaction), and during an action list. After each fault it waits for
 * the recovery (a takeover, a new Guardian, or `ham` restarted when both died) and checks
 * the invariants of {@linkcode FaultModel.check}.
 *
 * @module
 */

import { connect, type Ham } from "../../lib/client/ham.ts";
import { readCmdline, readEnviron } from "../../lib/os/proc.ts";
import type { EntityView, HamView } from "../../lib/core/status_view.ts";
import { type SelfAttached, startSelfAttached } from "./fault_self_attach.ts";
import { FaultModel, type ProcessesByEntity, Rng } from "./fault_model.ts";
import { alive, HamProcess, processesOf, until } from "./ham_process.ts";

/**
 * The harness kills its workers far faster than the default restart policy allows (5 in
 * 10 s): it tests takeover, not restart limits, so its restarts are unlimited.
 */
const UNLIMITED = { backoffMs: 0, intensity: 0 };

/** Journal records between compactions: low, so that faults hit compactions too. */
const COMPACT_RECORDS = 64;
/**
 * How long a recovery (a takeover, a new Guardian, `ham` restarted, every kill answered)
 * may take. Generous: on a loaded machine a takeover's resume alone took 5 s (its scans of
 * `/proc` cost ~1 ms per process there), and one took longer than 15 s.
 */
const RECOVERY_MS = 60_000;
const MAX_WORKERS = 10;
/**
 * Step boundaries of a death's handling to kill the HAM at (`HAM_TEST_KILL_AT`, see
 * `lib/os/kill_point.ts`): the death and its runs written but not durable, durable, a
 * restart about to run, spawned but not journaled, journaled, a step's result, the end.
 */
const KILL_POINTS = [
  "wrote death, fire",
  "durable death, fire",
  "action restart",
  "restart spawned",
  "wrote restart",
  "durable restart",
  "wrote result",
  "action waitfor",
  "wrote run-end",
  "wrote death-done",
  "wrote remove",
];
const SELF = "selfie";

function pause(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A HAM under fault injection; `await using h = await FaultHarness.start(seed)`. */
export class FaultHarness implements AsyncDisposable {
  readonly rng: Rng;
  readonly model = new FaultModel();
  readonly ham: HamProcess;
  /** HAMs that died at their kill point (inside a step window). */
  stepKills = 0;
  #conn: Ham;
  #self: SelfAttached;
  #n = 0;
  #round = 0;
  #killed = new Set<number>();
  /** What the harness did, one line each (with the time, to read beside the HAM's log). */
  #trail: string[] = [];

  #killFile: string;

  private constructor(
    rng: Rng,
    ham: HamProcess,
    conn: Ham,
    self: SelfAttached,
    killFile: string,
  ) {
    this.#killFile = killFile;
    this.rng = rng;
    this.ham = ham;
    this.#conn = conn;
    this.#self = self;
  }

  /** Starts a HAM with its Guardian and a self-attached client. */
  static async start(seed: number): Promise<FaultHarness> {
    // The kill point's file lives beside the state directory; absent means not armed.
    const killFile = await Deno.makeTempFile({ prefix: "ham-kill-at-" });
    await Deno.remove(killFile);
    const ham = await HamProcess.start({
      env: { HAM_COMPACT_RECORDS: String(COMPACT_RECORDS), HAM_TEST_KILL_AT: killFile },
    });
    try {
      const self = await startSelfAttached(ham.stateDir, SELF);
      const conn = await connect({ stateDir: ham.stateDir, client: "fault" });
      return new FaultHarness(new Rng(seed), ham, conn, self, killFile);
    } catch (err) {
      await ham[Symbol.asyncDispose]();
      throw err;
    }
  }

  /** Notes what the harness does, for {@linkcode trail}. */
  #note(what: string): void {
    this.#trail.push(`${new Date().toISOString()} ${what}`);
    if (this.#trail.length > 400) this.#trail.splice(0, 100);
  }

  /** The last `lines` things the harness did (kills, faults, rounds), oldest first. */
  trail(lines = 80): string {
    return this.#trail.slice(-lines).join("\n");
  }

  /** One round: some requests, one fault, the recovery, the invariants. */
  async round(): Promise<void> {
    this.#note(`round ${++this.#round}`);
    for (let i = 4 + this.rng.int(8); i > 0; i--) await this.#op(false);
    await this.#fault();
    await this.check();
  }

  /** One request (or short sequence) of the workload; in a burst, failures are expected. */
  async #op(burst: boolean): Promise<void> {
    const names = [...this.model.entities].filter(([, e]) => !e.removed).map(([n]) => n);
    const workers = names.filter((n) => this.model.entities.get(n)!.kind === "worker");
    const kinds = [
      ...(workers.length < MAX_WORKERS ? ["attach", "attach"] : []),
      ...(names.length > 0 ? ["condition", "state", "state", "raise", "heartbeat"] : []),
      ...(this.model.killable().length > 0 ? ["kill", "kill"] : []),
      "placeholder",
    ];
    const kind = this.rng.pick(kinds);
    const name = this.rng.pick(names.length > 0 ? names : [SELF]);
    const n = this.#n++;
    try {
      await this.#run(kind, name, n);
    } catch (err) {
      if (!burst) throw err;
    }
  }

  async #run(kind: string, name: string, n: number): Promise<void> {
    const c = this.#conn;
    const m = this.model;
    switch (kind) {
      case "attach": {
        const w = `w${n}`;
        const heartbeat = this.rng.int(3) === 0 ? { periodMs: 60_000, low: 0, high: 0 } : null;
        const recovery = this.rng.pick(["plain", "plain", "flaky", "doomed"] as const);
        const h = await c.attach(w, { argv: ["/bin/sleep", "1000"] }, { heartbeat });
        m.add(w, "worker").recovery = recovery;
        this.#note(`attached ${w} (${recovery})`);
        const death = await h.condition("death", "death", { flags: ["rearm"] });
        m.ack(w, "death");
        if (recovery === "doomed") {
          // A restart command that cannot start: the restart fails, its fail list runs, and
          // the entity is removed.
          const r = await death.restart("restart", {
            argv: ["/nonexistent/ham-fault-worker"],
            flags: ["rearm"],
          });
          m.ack(w, "death", "restart");
          await r.failLog("note", `${w} was not restarted`);
          m.entities.get(w)!.restarts = true;
          return;
        }
        if (recovery === "flaky") {
          // Issue 8's entity: a restart whose command fails once (its first run ever exits
          // at once: a second death arrives while this list still waits), then a wait; and
          // a `restart` condition with a log action.
          const once = `${this.ham.stateDir}/ran-${w}`;
          const argv = [
            "/bin/sh",
            "-c",
            `if [ -e "${once}" ]; then exec /bin/sleep 1000; fi; : >"${once}"; exit 1`,
          ];
          await death.restart("restart", { argv, flags: ["rearm"], policy: UNLIMITED });
          m.ack(w, "death", "restart");
          m.entities.get(w)!.restarts = true;
          await death.waitfor("settle", 50 + this.rng.int(250), null, { flags: ["rearm"] });
          m.ack(w, "death", "settle");
          const up = await h.condition("up", "restart", { flags: ["rearm"] });
          m.ack(w, "up");
          await up.log("note", `${w} restarted`, { flags: ["rearm"] });
          m.ack(w, "up", "note");
          return;
        }
        // A delay before the restart: a fault right after a kill lands mid action list.
        await death.waitfor("settle", 50 + this.rng.int(250), null, { flags: ["rearm"] });
        m.ack(w, "death", "settle");
        await death.restart("restart", { flags: ["rearm"], policy: UNLIMITED });
        m.ack(w, "death", "restart");
        m.entities.get(w)!.restarts = true;
        return;
      }
      case "placeholder":
        await c.entity(`p${n}`);
        m.add(`p${n}`, "placeholder");
        return;
      case "condition": {
        const h = await c.entityHandle(name);
        // Rearmed: a restart of the entity keeps them.
        const rtype = 1 + this.rng.int(3);
        const cond = await h.conditionRaise(`c${n}`, { rtype, flags: ["rearm"] });
        m.ack(name, `c${n}`);
        await cond.log("note", `raised on ${name}`, { flags: ["rearm"] });
        m.ack(name, `c${n}`, "note");
        return;
      }
      case "state": {
        const sent = { to: this.rng.int(32), acked: false };
        m.entities.get(name)?.states.push(sent);
        await c.state(name, sent.to);
        sent.acked = true;
        return;
      }
      case "raise":
        return await c.raise(name, { rtype: 1 + this.rng.int(3) });
      case "heartbeat":
        return await c.heartbeat(name);
      case "kill": {
        const w = this.rng.pick(m.killable());
        const v = await c.status(w) as EntityView;
        // Only a live process, once: a dead one (its death not handled yet) or one another
        // request of the same burst is killing would not die again.
        if (v.pid === null || this.#killed.has(v.pid) || !alive(v.pid)) return;
        this.#killed.add(v.pid);
        Deno.kill(v.pid, "SIGKILL");
        this.#note(`killed ${w} (${m.entities.get(w)!.recovery}) pid ${v.pid}`);
        const e = m.entities.get(w)!;
        e.kills++;
        if (e.recovery === "doomed") e.removed = true;
        m.workerKills++;
        return;
      }
    }
  }

  /**
   * Kills the HAM, the Guardian or both, at a random point; waits for the recovery. Half
   * the faults are kill points inside the engine's own steps (`HAM_TEST_KILL_AT`): a
   * worker is killed and the HAM SIGKILLs itself at a seeded step boundary of that death's
   * handling (the death journaled but not durable, a restart spawned but not journaled,
   * ...), so the windows between acting and journaling are hit for certain.
   */
  async #fault(): Promise<void> {
    const { hamPid, guardianPid } = await until(
      () => this.ham.pids(),
      "the HAM's pids",
      RECOVERY_MS,
    );
    const stepped = this.model.killable().length > 0 && this.rng.int(2) === 0;
    if (stepped) await this.#stepFault(hamPid);
    const victim = stepped
      ? "ham"
      : this.rng.pick(["ham", "ham", "ham", "guardian", "both"] as const);
    const timing = stepped ? "step" : this.rng.pick(["quiet", "burst", "burst", "list"] as const);
    this.#note(`fault: ${victim} (HAM ${hamPid}, Guardian ${guardianPid}), ${timing}`);
    let inflight: Promise<void>[] = [];
    if (timing === "burst") {
      inflight = Array.from({ length: 10 + this.rng.int(40) }, () => this.#op(true));
      await pause(this.rng.int(40));
    } else if (timing === "list" && this.model.killable().length > 0) {
      const before = this.model.workerKills;
      await this.#run("kill", "", this.#n++);
      if (this.model.workerKills > before) await pause(this.rng.int(150));
    }
    if (timing === "step") {
      // Dead already, by its kill point or by #stepFault.
    } else if (victim === "ham") {
      Deno.kill(hamPid, "SIGKILL");
    } else if (victim === "guardian") {
      Deno.kill(guardianPid!, "SIGKILL");
    } else {
      Deno.kill(hamPid, "SIGSTOP"); // So that it cannot start another Guardian meanwhile.
      Deno.kill(guardianPid!, "SIGKILL");
      Deno.kill(hamPid, "SIGKILL");
    }
    await Promise.allSettled(inflight);
    this.#conn.close();
    if (victim === "ham") {
      await this.ham.waitTakeover(hamPid, RECOVERY_MS);
      this.model.hamKills++;
    } else if (victim === "guardian") {
      await this.ham.waitGuardian(guardianPid, RECOVERY_MS);
      this.model.guardianKills++;
    } else {
      await until(() => Promise.resolve(!alive(hamPid) && !alive(guardianPid!) || null), "both");
      await this.ham.restart([], RECOVERY_MS);
      this.model.bothKills++;
    }
    // A HAM just recovered on a loaded machine may answer its first hello late.
    this.#conn = await until(
      () => connect({ stateDir: this.ham.stateDir, client: "fault" }),
      "the recovered HAM to accept a connection",
      RECOVERY_MS,
    );
    const { hamPid: ham, guardianPid: guardian } = this.#conn.client.server;
    this.#note(`recovered: HAM ${ham}, Guardian ${guardian}`);
  }

  /**
   * Arms the kill point, kills a worker, and waits for the HAM to kill itself inside that
   * death's handling; when the handling ends before that step boundary (or no worker could
   * be killed), disarms it and kills the HAM.
   */
  async #stepFault(hamPid: number): Promise<void> {
    const point = this.rng.int(3) === 0
      ? String(1 + this.rng.int(16))
      : `${this.rng.pick(KILL_POINTS)}:${1 + this.rng.int(2)}`;
    await Deno.writeTextFile(this.#killFile, point);
    this.#note(`kill point armed: "${point}"`);
    const before = this.model.workerKills;
    // The HAM takes the kill point at its next step, which may come from work already under
    // way: it may die before it answers this kill's status request.
    // A HAM in the middle of exiting has closed its socket but is not a zombie yet: give
    // it a moment to be seen dead before taking the lost connection for a failure.
    await this.#run("kill", "", this.#n++).catch(async (err) => {
      await until(() => Promise.resolve(!alive(hamPid) || null), "the HAM to exit", 2_000)
        .catch(() => {
          throw err;
        });
    });
    if (this.model.workerKills > before) {
      await until(
        async () => !alive(hamPid) || await this.#settled(2000).then(() => true, () => null),
        `the HAM to die at step "${point}" or the death to be handled`,
        20_000,
      ).catch(() => {});
    }
    if (!alive(hamPid)) {
      this.#note(`the HAM ${hamPid} died at its kill point`);
      this.stepKills++;
      return;
    }
    this.#note(`the kill point was not reached: disarmed`);
    await Deno.remove(this.#killFile).catch(() => {});
    try {
      Deno.kill(hamPid, "SIGKILL");
    } catch { /* it reached the kill point meanwhile */ }
  }

  /** Waits until every kill has been answered: the death seen and the worker running again. */
  async #settled(ms = RECOVERY_MS): Promise<HamView> {
    let waiting = "";
    try {
      return await until(
        async () => {
          const view = await this.#conn.status() as HamView;
          waiting = this.#unsettled(view);
          return waiting === "" ? view : null;
        },
        "every killed worker to be restarted",
        ms,
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}; still waiting for ${waiting}`, { cause: err });
    }
  }

  /** The first worker whose kills are not answered yet, described; "" when none. */
  #unsettled(view: HamView): string {
    for (const [name, e] of this.model.entities) {
      if (e.kind !== "worker" || !e.restarts) continue;
      const v = view.entities.find((x) => x.name === name);
      if (e.removed) {
        if (v) return `${name} (${e.recovery}) to be removed`;
        continue;
      }
      const at = v ? `deaths=${v.deaths} restarts=${v.restarts} pid=${v.pid}` : "missing";
      const what = `${name} (${e.recovery}, killed ${e.kills} times; ${at})`;
      if (!v || v.deaths < e.kills || v.pid === null) return what;
      // Running its real command (not a flaky restart's first run, about to exit).
      if (readCmdline(v.pid)?.[0] !== "/bin/sleep") return `${what} to run /bin/sleep`;
    }
    return "";
  }

  /** The live processes of the state directory by `HAM_ENTITY`. */
  async #processes(): Promise<ProcessesByEntity> {
    const out: ProcessesByEntity = new Map();
    for (const pid of await processesOf(this.ham.stateDir)) {
      const entity = readEnviron(pid)?.get("HAM_ENTITY");
      if (!entity || !alive(pid)) continue;
      out.set(entity, [...out.get(entity) ?? [], pid]);
    }
    return out;
  }

  /** Waits for the recovery to settle, then checks every invariant. */
  async check(): Promise<void> {
    await this.#settled();
    await until(
      async () => {
        const s = await this.#conn.status(SELF) as EntityView;
        return s.type === "ATTACHEDSELF" && s.pid === this.#self.pid && s.deaths === 0 || null;
      },
      "the self-attached client to be attached with its pid",
      RECOVERY_MS,
    );
    const view = await this.#conn.status() as HamView;
    const processes = await this.#processes();
    this.model.check(view, processes, alive);
  }

  /** A one-line account of what was injected. */
  summary(): string {
    const m = this.model;
    return `ham kills=${m.hamKills} guardian kills=${m.guardianKills} both=${m.bothKills} ` +
      `worker kills=${m.workerKills} entities=${m.entities.size} ` +
      `kill points reached=${this.stepKills} orphans=0 duplicates=0`;
  }

  /** Stops the HAM and its Guardian, kills every process left, removes the directory. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.#conn.close();
    await this.#self[Symbol.asyncDispose]();
    await this.ham[Symbol.asyncDispose]();
    await Deno.remove(this.#killFile).catch(() => {});
  }
}
