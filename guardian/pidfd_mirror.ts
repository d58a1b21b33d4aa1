/**
 * The Guardian's hot standby of process watches: as it mirrors the journal, it keeps one
 * pidfd per monitored process, opened while the HAM is alive, and the process's start
 * time verified right after opening it (so the pidfd is known to refer to the process the
 * state names, not to a new one on a recycled pid). A takeover hands them to the new HAM's
 * watcher (`ProcessWatcher.adopt`) and re-watches every entity without a system call per
 * entity; a process that died meanwhile is reported by the poll at once.
 *
 * @module
 */

import type { HamState } from "../lib/core/model.ts";
import { type Libc, libc, libcAvailable } from "../lib/os/libc.ts";
import { openPidfd, pidfdWorks } from "../lib/os/pidfd.ts";
import { processStat } from "../lib/os/proc.ts";
import { FdBudget } from "./fd_budget.ts";

/** A pidfd on an entity's process, and the start time it was verified to have. */
export interface MirroredPidfd {
  pid: number;
  startTime: string;
  fd: number;
}

/** A held pidfd and the entities that share it (one process attached under several names). */
interface Held extends MirroredPidfd {
  entities: Set<string>;
}

/** One pidfd per monitored process of a mirrored state, kept in step with it. */
export class PidfdMirror {
  #lib: Libc | null;
  #budget: FdBudget;
  /** By `pid:startTime`. */
  #byProcess = new Map<string, Held>();
  #byEntity = new Map<string, Held>();

  /**
   * A mirror holding at most what `budget` allows; it holds nothing (and does nothing)
   * where pidfds cannot be opened.
   */
  constructor(budget: FdBudget = new FdBudget(Infinity)) {
    const lib = libcAvailable() ? libc() : null;
    this.#lib = lib !== null && pidfdWorks(lib) ? lib : null;
    this.#budget = budget;
  }

  /** How many monitored processes it holds a pidfd on. */
  get size(): number {
    return this.#byProcess.size;
  }

  /**
   * Brings the pidfds of `names` (every entity when null) in step with `state`: a pidfd
   * for each entity with a pid and a start time (shared by the entities of one process),
   * opened when its pid or start time changed, kept only when the process has that start
   * time; closed once no entity (gone or stopped) uses it.
   */
  sync(state: HamState, names: Iterable<string> | null): void {
    if (this.#lib === null) return;
    if (names === null) {
      for (const name of [...this.#byEntity.keys()]) {
        if (!state.entities.has(name)) this.#release(name);
      }
    }
    for (const name of names ?? state.entities.keys()) {
      const e = state.entities.get(name);
      const have = this.#byEntity.get(name);
      if (e?.pid == null || !e.startTime) {
        if (have) this.#release(name);
        continue;
      }
      if (have?.pid === e.pid && have.startTime === e.startTime) continue;
      if (have) this.#release(name);
      this.#hold(name, e.pid, e.startTime);
    }
  }

  /** Hands over every pidfd (the caller owns them from now on) and empties the mirror. */
  take(): MirroredPidfd[] {
    const all = [...this.#byProcess.values()].map(({ pid, startTime, fd }) => ({
      pid,
      startTime,
      fd,
    }));
    this.#budget.give(this.#byProcess.size);
    this.#byProcess.clear();
    this.#byEntity.clear();
    return all;
  }

  /** Closes every pidfd. */
  close(): void {
    for (const name of [...this.#byEntity.keys()]) this.#release(name);
  }

  #hold(name: string, pid: number, startTime: string): void {
    const key = `${pid}:${startTime}`;
    let held = this.#byProcess.get(key);
    if (held === undefined) {
      if (!this.#budget.take(1)) return; // Watched at the takeover instead.
      let fd: number;
      try {
        fd = openPidfd(this.#lib!, "mirror", pid);
      } catch {
        this.#budget.give(1);
        return; // Gone already: the takeover's own watch will say so.
      }
      // After opening: the start time now describes the process the pidfd refers to.
      if (processStat(pid)?.startTime !== startTime) {
        this.#lib!.close(fd);
        this.#budget.give(1);
        return;
      }
      held = { pid, startTime, fd, entities: new Set() };
      this.#byProcess.set(key, held);
    }
    held.entities.add(name);
    this.#byEntity.set(name, held);
  }

  #release(name: string): void {
    const held = this.#byEntity.get(name);
    if (held === undefined) return;
    this.#byEntity.delete(name);
    held.entities.delete(name);
    if (held.entities.size > 0) return;
    this.#byProcess.delete(`${held.pid}:${held.startTime}`);
    this.#lib!.close(held.fd);
    this.#budget.give(1);
  }
}
