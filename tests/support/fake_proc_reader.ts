/**
 * A fake `/proc` for {@linkcode ProcScan}: processes as the test sets them (stat fields and
 * environment), and a count of every read, so a test can tell how many scans were made.
 *
 * @module
 */

import type { ProcessStat } from "../../lib/os/proc.ts";
import type { ProcReader } from "../../lib/os/proc_scan.ts";

interface FakeProc {
  stat: ProcessStat;
  env: Map<string, string>;
}

/** A fake `/proc` that counts its reads. */
export class FakeProcReader implements ProcReader {
  /** Scans of the process list (`readdir("/proc")`). */
  scans = 0;
  /** Reads of an environment, by pid. */
  readonly environReads = new Map<number, number>();
  #procs = new Map<number, FakeProc>();

  /** Adds (or replaces: a pid handed out again) a live process with this environment. */
  add(pid: number, env: Record<string, string> = {}, stat: Partial<ProcessStat> = {}): this {
    this.#procs.set(pid, {
      stat: {
        pid,
        ppid: 1,
        pgid: pid,
        sid: pid,
        state: "S",
        startTime: `${pid}00`,
        kernelThread: false,
        ...stat,
      },
      env: new Map(Object.entries(env)),
    });
    return this;
  }

  /** Ends a process: it is no longer listed. */
  remove(pid: number): void {
    this.#procs.delete(pid);
  }

  pids(): number[] {
    this.scans++;
    return [...this.#procs.keys()];
  }

  stat(pid: number): ProcessStat | null {
    const p = this.#procs.get(pid);
    return p ? { ...p.stat } : null;
  }

  environ(pid: number): Map<string, string> | null {
    this.environReads.set(pid, (this.environReads.get(pid) ?? 0) + 1);
    const p = this.#procs.get(pid);
    return p && p.stat.state !== "Z" ? new Map(p.env) : null;
  }
}
