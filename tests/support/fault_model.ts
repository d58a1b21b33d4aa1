/**
 * What the fault-injection test expects: a seeded PRNG (the same seed replays the same
 * run), the model of everything the HAM acknowledged, and the invariants a status view and
 * the live processes must satisfy after every recovery.
 *
 * @module
 */

import type { HamView } from "../../lib/core/status_view.ts";

/** mulberry32: a small, fast, seeded PRNG. */
export class Rng {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** A number in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** One of `items`. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
}

/** An entity as acknowledged by the HAM. */
export interface ExpectedEntity {
  kind: "worker" | "placeholder";
  /** Acknowledged conditions and, for each, its acknowledged actions. */
  conditions: Map<string, Set<string>>;
  /** Its death condition's restart action was acknowledged: each kill is one restart. */
  restarts: boolean;
  /**
   * How its death is answered: `plain` (wait, then restart), `flaky` (restart with a
   * command whose first run ever exits at once, so a second death arrives while the first
   * death's list still runs; then wait) or `doomed` (a restart command that cannot start:
   * the entity is removed at its first death).
   */
  recovery: "plain" | "flaky" | "doomed";
  /** A doomed worker was killed: it must be gone, with no process left. */
  removed: boolean;
  /** Times the test killed its process. */
  kills: number;
  /** Its pid at the last check, and `kills` then: unchanged kills mean an unchanged pid. */
  checkedPid: number | null;
  checkedKills: number;
  /** States published, in the order sent; `acked` once answered. */
  states: { to: number; acked: boolean }[];
}

/** The live processes of the state directory, by their `HAM_ENTITY`. */
export type ProcessesByEntity = Map<string, number[]>;

/** Everything the HAM acknowledged, and the faults injected. */
export class FaultModel {
  readonly entities = new Map<string, ExpectedEntity>();
  hamKills = 0;
  guardianKills = 0;
  bothKills = 0;
  workerKills = 0;

  /** Records an acknowledged entity. */
  add(name: string, kind: ExpectedEntity["kind"]): ExpectedEntity {
    const e: ExpectedEntity = {
      kind,
      conditions: new Map(),
      restarts: false,
      recovery: "plain",
      removed: false,
      kills: 0,
      checkedPid: null,
      checkedKills: 0,
      states: [],
    };
    this.entities.set(name, e);
    return e;
  }

  /** Records an acknowledged condition or action. */
  ack(entity: string, condition: string, action?: string): void {
    const c = this.entities.get(entity)!.conditions;
    if (!c.has(condition)) c.set(condition, new Set());
    if (action) c.get(condition)!.add(action);
  }

  /** Workers whose death is answered by a restart, and so may be killed. */
  killable(): string[] {
    return [...this.entities].filter(([, e]) => e.kind === "worker" && e.restarts && !e.removed)
      .map(([n]) => n);
  }

  /**
   * Checks a status view taken once every kill has been handled, and the live processes.
   *
   * @throws {Error} naming the first broken invariant.
   */
  check(view: HamView, processes: ProcessesByEntity, alive: (pid: number) => boolean): void {
    const fail = (what: string) => {
      throw new Error(`Invariant broken: ${what}`);
    };
    if (!alive(view.hamPid)) fail(`the HAM ${view.hamPid} is not running`);
    if (view.guardianPid === null || !alive(view.guardianPid)) fail("the HAM has no Guardian");
    if (view.hamFailures !== this.hamKills) {
      fail(`hamFailures is ${view.hamFailures}, ${this.hamKills} HAMs were killed`);
    }
    if (view.guardianFailures !== this.guardianKills) {
      fail(`guardianFailures is ${view.guardianFailures}, ${this.guardianKills} were killed`);
    }
    const byName = new Map(view.entities.map((e) => [e.name, e]));
    for (const [entity, pids] of processes) {
      const e = this.entities.get(entity);
      if (!byName.has(entity) && (!e || e.removed || e.kind === "worker")) {
        fail(`orphan: entity "${entity}" is not monitored, its live processes are ${pids}`);
      }
    }
    for (const [name, want] of this.entities) {
      const got = byName.get(name);
      if (want.removed) {
        if (got) fail(`worker "${name}" was not restarted and is still there`);
        continue;
      }
      if (!got) fail(`acknowledged entity "${name}" is missing`);
      for (const [cond, actions] of want.conditions) {
        const c = got!.conditions.find((c) => c.path === `${name}/${cond}`);
        if (!c) fail(`acknowledged condition "${name}/${cond}" is missing`);
        for (const a of actions) {
          if (!c!.actions.some((x) => x.path === `${name}/${cond}/${a}`)) {
            fail(`acknowledged action "${name}/${cond}/${a}" is missing`);
          }
        }
      }
      this.#checkState(name, want, got!.state, fail);
      if (want.kind !== "worker") continue;
      const pid = got!.pid;
      if (pid === null || !alive(pid)) fail(`worker "${name}" is not running (pid ${pid})`);
      const kills = want.restarts ? want.kills : 0;
      // A flaky worker's first restart ever dies at once: one more death, answered by one
      // more restart (unless the HAM died before that restart was journaled).
      const extra = want.recovery === "flaky" && kills > 0 ? [0, 1] : [0];
      const procs = processes.get(name) ?? [];
      if (!extra.some((x) => got!.deaths === kills + x && got!.restarts === kills + x)) {
        fail(
          `worker "${name}" (${want.recovery}) has ${got!.deaths} deaths and ` +
            `${got!.restarts} restarts; it was killed ${kills} times (monitored at pid ${pid}, ` +
            `its live processes are ${procs}, its last exit ${JSON.stringify(got!.lastExit)})`,
        );
      }
      if (procs.length !== 1 || procs[0] !== pid) {
        fail(`worker "${name}" is monitored at pid ${pid}, its live processes are ${procs}`);
      }
      if (want.checkedKills === want.kills && want.checkedPid !== null && want.checkedPid !== pid) {
        fail(`worker "${name}" moved from pid ${want.checkedPid} to ${pid} without a kill`);
      }
      want.checkedPid = pid;
      want.checkedKills = want.kills;
    }
  }

  /** The state must be the last acknowledged one, or one sent after it. */
  #checkState(name: string, want: ExpectedEntity, got: number, fail: (w: string) => void): void {
    const lastAck = want.states.findLastIndex((s) => s.acked);
    const allowed = lastAck < 0
      ? [0, ...want.states.map((s) => s.to)]
      : want.states.slice(lastAck).map((s) => s.to);
    if (!allowed.includes(got)) fail(`entity "${name}" is in state ${got}, not one of ${allowed}`);
    want.states = [{ to: got, acked: true }];
  }
}
