/**
 * Measurement 6: the HAM's CPU time while idle (no request, no death, no heartbeat), over
 * a window, reported per 30 s. Two readings: `utime + stime` of `/proc/PID/stat` (clock
 * ticks, 10 ms resolution, as the issue defines it), and the scheduler's per-thread
 * nanoseconds (`/proc/PID/task/TID/schedstat`), which resolve what ticks cannot.
 *
 * @module
 */

import type { BenchHam } from "./bench_ham.ts";
import { cpuTickMs, threadCpuNs } from "./proc_stats.ts";
import { sleep } from "./sleep.ts";
import { type Figure, figure } from "./stats.ts";

/** How often the threads are read during the window, in ms. */
const POLL_MS = 100;

/**
 * Sums the CPU time of a process's threads over a window, in ns: a thread's time counts
 * from its first reading (from 0 when it started during the window) to its last (a
 * thread that ends loses at most one poll interval, and an ending thread is idle).
 */
class ThreadCpuTracker {
  #pid: number;
  #first: Map<string, bigint>;
  #last = new Map<string, bigint>();

  constructor(pid: number) {
    this.#pid = pid;
    this.#first = threadCpuNs(pid);
  }

  poll(): void {
    for (const [tid, ns] of threadCpuNs(this.#pid)) this.#last.set(tid, ns);
  }

  /** CPU time over the window so far, in ms. */
  get ms(): number {
    let ns = 0n;
    for (const [tid, last] of this.#last) ns += last - (this.#first.get(tid) ?? 0n);
    return Number(ns) / 1e6;
  }
}

/**
 * Measures idle CPU over `seconds` with the HAM's current `entities` entities, from
 * `startMs` after they were loaded: the HAM alone, and the HAM and its Guardian together.
 */
export async function measureIdleCpu(
  h: BenchHam,
  entities: number,
  seconds: number,
  startMs = 0,
): Promise<Figure[]> {
  await sleep(startMs);
  const guardian = (await h.ham.status() as { guardianPid: number | null }).guardianPid;
  const ticks0 = cpuTickMs(h.pid) + (guardian ? cpuTickMs(guardian) : 0);
  const threads = new ThreadCpuTracker(h.pid);
  const guardianThreads = guardian ? new ThreadCpuTracker(guardian) : null;
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    await sleep(Math.min(POLL_MS, Math.max(0, end - performance.now())));
    threads.poll();
    guardianThreads?.poll();
  }
  const ticks = cpuTickMs(h.pid) + (guardian ? cpuTickMs(guardian) : 0) - ticks0;
  const per30 = 30 / seconds;
  const window = `${seconds === 30 ? "30 s" : `${seconds} s measured, ×${+per30.toFixed(2)}`}` +
    ` from ${startMs / 1000} s after loading`;
  const target = { median: 5, text: "≤ 5 ms / 30 s" };
  return [
    figure({
      id: "idle_cpu.ticks",
      label: `HAM + Guardian CPU idle, ${entities} entities (utime+stime)`,
      unit: "ms/30 s",
      target,
      note: `${window}; clock-tick resolution (10 ms)`,
    }, [ticks * per30]),
    figure({
      id: "idle_cpu.sched",
      label: `HAM + Guardian CPU idle, ${entities} entities (schedstat)`,
      unit: "ms/30 s",
      target,
      note: `${window}; per-thread scheduler time, ns resolution; ` +
        `HAM alone ${(threads.ms * per30).toFixed(2)} ms`,
    }, [(threads.ms + (guardianThreads?.ms ?? 0)) * per30]),
  ];
}
