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
import { readEnviron } from "../../lib/os/proc.ts";
import type { EntityView, HamView } from "../../lib/core/status_view.ts";
import { type SelfAttached, startSelfAttached } from "./fault_self_attach.ts";
import { FaultModel, type ProcessesByEntity, Rng } from "./fault_model.ts";
import { alive, HamProcess, processesOf, until } from "./ham_process.ts";

/** Journal records between compactions: low, so that faults hit compactions too. */
const COMPACT_RECORDS = 64;
const MAX_WORKERS = 10;
const SELF = "selfie";

function pause(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A HAM under fault injection; `await using h = await FaultHarness.start(seed)`. */
export class FaultHarness implements AsyncDisposable {
  readonly rng: Rng;
  readonly model = new FaultModel();
  readonly ham: HamProcess;
  /** Entities found with a live process but not in the HAM: spawned by a lost attach. */
  orphans = 0;
  #conn: Ham;
  #self: SelfAttached;
  #n = 0;
  #killed = new Set<number>();

  private constructor(rng: Rng, ham: HamProcess, conn: Ham, self: SelfAttached) {
    this.rng = rng;
    this.ham = ham;
    this.#conn = conn;
    this.#self = self;
  }

  /** Starts a HAM with its Guardian and a self-attached client. */
  static async start(seed: number): Promise<FaultHarness> {
    const ham = await HamProcess.start({ env: { HAM_COMPACT_RECORDS: String(COMPACT_RECORDS) } });
    try {
      const self = await startSelfAttached(ham.stateDir, SELF);
      const conn = await connect({ stateDir: ham.stateDir, client: "fault" });
      return new FaultHarness(new Rng(seed), ham, conn, self);
    } catch (err) {
      await ham[Symbol.asyncDispose]();
      throw err;
    }
  }

  /** One round: some requests, one fault, the recovery, the invariants. */
  async round(): Promise<void> {
    for (let i = 4 + this.rng.int(8); i > 0; i--) await this.#op(false);
    await this.#fault();
    await this.check();
  }

  /** One request (or short sequence) of the workload; in a burst, failures are expected. */
  async #op(burst: boolean): Promise<void> {
    const names = [...this.model.entities.keys()];
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
        const h = await c.attach(w, { argv: ["/bin/sleep", "1000"] }, { heartbeat });
        m.add(w, "worker");
        const death = await h.condition("death", "death", { flags: ["rearm"] });
        m.ack(w, "death");
        // A delay before the restart: a fault right after a kill lands mid action list.
        await death.waitfor("settle", 50 + this.rng.int(250), null, { flags: ["rearm"] });
        m.ack(w, "death", "settle");
        await death.restart("restart", { flags: ["rearm"] });
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
        m.entities.get(w)!.kills++;
        m.workerKills++;
        return;
      }
    }
  }

  /** Kills the HAM, the Guardian or both, at a random point; waits for the recovery. */
  async #fault(): Promise<void> {
    const victim = this.rng.pick(["ham", "ham", "ham", "guardian", "both"] as const);
    const timing = this.rng.pick(["quiet", "burst", "burst", "list"] as const);
    const { hamPid, guardianPid } = await this.ham.pids();
    let inflight: Promise<void>[] = [];
    if (timing === "burst") {
      inflight = Array.from({ length: 10 + this.rng.int(40) }, () => this.#op(true));
      await pause(this.rng.int(40));
    } else if (timing === "list" && this.model.killable().length > 0) {
      const before = this.model.workerKills;
      await this.#run("kill", "", this.#n++);
      if (this.model.workerKills > before) await this.#settled();
      await pause(this.rng.int(150));
    }
    if (victim === "ham") {
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
      await this.ham.waitTakeover(hamPid);
      this.model.hamKills++;
    } else if (victim === "guardian") {
      await this.ham.waitGuardian(guardianPid);
      this.model.guardianKills++;
    } else {
      await until(() => Promise.resolve(!alive(hamPid) && !alive(guardianPid!) || null), "both");
      await this.ham.restart();
      this.model.bothKills++;
    }
    this.#conn = await connect({ stateDir: this.ham.stateDir, client: "fault" });
  }

  /** Waits until every kill has been answered: the death seen and the worker running again. */
  async #settled(): Promise<HamView> {
    return await until(async () => {
      const view = await this.#conn.status() as HamView;
      for (const [name, e] of this.model.entities) {
        if (e.kind !== "worker" || !e.restarts) continue;
        const v = view.entities.find((x) => x.name === name);
        if (!v || v.deaths < e.kills || v.pid === null) return null;
      }
      return view;
    }, "every killed worker to be restarted");
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
    await until(async () => {
      const s = await this.#conn.status(SELF) as EntityView;
      return s.type === "ATTACHEDSELF" && s.pid === this.#self.pid && s.deaths === 0 || null;
    }, "the self-attached client to be attached with its pid");
    const view = await this.#conn.status() as HamView;
    const processes = await this.#processes();
    this.model.check(view, processes, alive);
    const known = new Set(view.entities.map((e) => e.name));
    this.orphans = [...processes.keys()].filter((e) => !known.has(e)).length;
  }

  /** A one-line account of what was injected. */
  summary(): string {
    const m = this.model;
    return `ham kills=${m.hamKills} guardian kills=${m.guardianKills} both=${m.bothKills} ` +
      `worker kills=${m.workerKills} entities=${m.entities.size} orphans=${this.orphans}`;
  }

  /** Stops the HAM and its Guardian, kills every process left, removes the directory. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.#conn.close();
    await this.#self[Symbol.asyncDispose]();
    await this.ham[Symbol.asyncDispose]();
  }
}
