/**
 * One look at `/proc` that answers many questions: the pids and the `stat` of every process
 * are read once, when the scan is made; an environment (for the spawn marker) is read only
 * when a question needs it, and once. A resume (start-up on a state directory, a takeover)
 * asks a question for each pending death, each unacknowledged spawn and each restart it
 * may adopt; a scan of its own for each costs hundreds of ms on a busy machine with a few
 * hundred processes, so they share one scan.
 *
 * A scan goes stale: a pid it found may have ended and been handed out again. What is
 * acted on is checked again: {@linkcode ProcScan.findSpawned} reads the found process's
 * `stat` and environment anew, and a leftover carries the start time the scan saw, which
 * the watch and the signal check through a pidfd (see `process_watcher.ts`).
 *
 * @module
 */

import { type ProcessStat, processStat, readEnviron } from "./proc.ts";
import { readDirNames } from "./proc_fs.ts";
import { carriesMarker } from "./spawner.ts";

/** How `/proc` is read: injectable, so a test can count the scans. */
export interface ProcReader {
  /** The pids listed in `/proc` (one scan). */
  pids(): number[];
  /** `/proc/PID/stat`; null when the process is gone. */
  stat(pid: number): ProcessStat | null;
  /** `/proc/PID/environ`; null when gone or not readable. */
  environ(pid: number): Map<string, string> | null;
}

/** The real `/proc`. */
export const procReader: ProcReader = {
  pids: () => (readDirNames("/proc") ?? []).filter((n) => /^\d+$/.test(n)).map((n) => Number(n)),
  stat: processStat,
  environ: readEnviron,
};

/** The processes of `/proc` as a view: what `findLeftovers` reads. */
export interface ProcView {
  pids(): number[];
  stat(pid: number): ProcessStat | null;
  environ(pid: number): Map<string, string> | null;
}

/** A snapshot of `/proc`: pid → stat, read once; environments read lazily, once each. */
export class ProcScan implements ProcView {
  #reader: ProcReader;
  #scanned: Map<number, ProcessStat> | null = null;
  #envs = new Map<number, Map<string, string> | null>();

  /**
   * A scan of `/proc` (through `reader`), made at the first question: a resume that asks
   * none (nothing was pending) reads nothing.
   */
  constructor(reader: ProcReader = procReader) {
    this.#reader = reader;
  }

  get #stats(): Map<number, ProcessStat> {
    if (this.#scanned === null) {
      this.#scanned = new Map();
      for (const pid of this.#reader.pids()) {
        const stat = this.#reader.stat(pid);
        if (stat !== null) this.#scanned.set(pid, stat);
      }
    }
    return this.#scanned;
  }

  /** The pids the scan saw, ascending. */
  pids(): number[] {
    return [...this.#stats.keys()].sort((a, b) => a - b);
  }

  /** The `stat` the scan saw (a pid it did not see: read now). */
  stat(pid: number): ProcessStat | null {
    return this.#stats.get(pid) ?? this.#reader.stat(pid);
  }

  /** The environment of `pid`, read the first time it is asked for. */
  environ(pid: number): Map<string, string> | null {
    if (this.#envs.has(pid)) return this.#envs.get(pid)!;
    const env = this.#reader.environ(pid);
    this.#envs.set(pid, env);
    return env;
  }

  /** True when the scan saw `pid` alive (with `startTime`, when given). */
  sawAlive(pid: number, startTime: string | null): boolean {
    const stat = this.#stats.get(pid);
    return stat !== undefined && live(stat) &&
      (startTime === null || stat.startTime === startTime);
  }

  /**
   * The lowest live pid (not a zombie) carrying this HAM's spawn
   * marker `spawnId`, checked again now: same start time, still not a zombie, still
   * carrying the marker. Null when none is.
   */
  findSpawned(spawnId: string, stateDir?: string | null): number | null {
    for (const pid of this.pids()) {
      const stat = this.#stats.get(pid)!;
      if (!live(stat)) continue;
      if (!carriesMarker(this.environ(pid), spawnId, stateDir)) continue;
      // Acted on (adopted or ended): not taken from a stale scan.
      const now = this.#reader.stat(pid);
      if (now === null || !live(now) || now.startTime !== stat.startTime) continue;
      if (!carriesMarker(this.#reader.environ(pid), spawnId, stateDir)) continue;
      return pid;
    }
    return null;
  }
}

function live(stat: ProcessStat): boolean {
  return stat.state !== "Z" && stat.state !== "X";
}
