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

/** A pidfd on an entity's process, and the start time it was verified to have. */
export interface MirroredPidfd {
  pid: number;
  startTime: string;
  fd: number;
}

/** One pidfd per monitored process of a mirrored state, kept in step with it. */
export class PidfdMirror {
  #lib: Libc | null;
  #byEntity = new Map<string, MirroredPidfd>();

  /** A mirror; it holds nothing (and does nothing) where pidfds cannot be opened. */
  constructor() {
    const lib = libcAvailable() ? libc() : null;
    this.#lib = lib !== null && pidfdWorks(lib) ? lib : null;
  }

  /** How many pidfds it holds. */
  get size(): number {
    return this.#byEntity.size;
  }

  /**
   * Brings the pidfds of `names` (every entity when null) in step with `state`: a pidfd
   * for each entity with a pid and a start time, opened when its pid or start time changed,
   * kept only when the process has that start time; closed for entities gone or stopped.
   */
  sync(state: HamState, names: Iterable<string> | null): void {
    if (this.#lib === null) return;
    if (names === null) {
      for (const name of [...this.#byEntity.keys()]) {
        if (!state.entities.has(name)) this.#close(name);
      }
    }
    for (const name of names ?? state.entities.keys()) {
      const e = state.entities.get(name);
      const have = this.#byEntity.get(name);
      if (e?.pid == null || !e.startTime) {
        if (have) this.#close(name);
        continue;
      }
      if (have?.pid === e.pid && have.startTime === e.startTime) continue;
      if (have) this.#close(name);
      this.#open(name, e.pid, e.startTime);
    }
  }

  /** Hands over every pidfd (the caller owns them from now on) and empties the mirror. */
  take(): MirroredPidfd[] {
    const all = [...this.#byEntity.values()];
    this.#byEntity.clear();
    return all;
  }

  /** Closes every pidfd. */
  close(): void {
    for (const name of [...this.#byEntity.keys()]) this.#close(name);
  }

  #open(name: string, pid: number, startTime: string): void {
    let fd: number;
    try {
      fd = openPidfd(this.#lib!, "mirror", pid);
    } catch {
      return; // Gone already: the takeover's own watch will say so.
    }
    // After opening: the start time now describes the process the pidfd refers to.
    if (processStat(pid)?.startTime !== startTime) {
      this.#lib!.close(fd);
      return;
    }
    this.#byEntity.set(name, { pid, startTime, fd });
  }

  #close(name: string): void {
    const have = this.#byEntity.get(name);
    if (have === undefined) return;
    this.#byEntity.delete(name);
    this.#lib!.close(have.fd);
  }
}
