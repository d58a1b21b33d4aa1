/**
 * Resource readings of a process from `/proc`, read through `lib/os/proc_fs.ts` (libc via
 * FFI: Deno refuses /proc reads without `--allow-all`): resident memory, and CPU time both
 * as the kernel's clock-tick counters and, precisely, as the scheduler's nanoseconds.
 *
 * @module
 */

import { readDirNames, readFileBytes } from "../lib/os/proc_fs.ts";

const decoder = new TextDecoder();
/** Clock ticks per second of `/proc/PID/stat` (`sysconf(_SC_CLK_TCK)`, 100 on Linux). */
export const CLOCK_TICKS_PER_SECOND = 100;

function readText(path: string): string {
  const bytes = readFileBytes(path);
  if (bytes === null) throw new Error(`Cannot read "${path}"`);
  return decoder.decode(bytes);
}

/** Resident set size (`VmRSS` of `/proc/PID/status`), in bytes. */
export function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readText(`/proc/${pid}/status`));
  if (!m) throw new Error(`No VmRSS in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

/**
 * User plus system CPU time (fields 14 and 15 of `/proc/PID/stat`, every thread, living or
 * ended), in ms; its resolution is one clock tick (10 ms).
 */
export function cpuTickMs(pid: number): number {
  const text = readText(`/proc/${pid}/stat`);
  // Fields after the parenthesized command name start at field 3.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[14 - 3]) + Number(fields[15 - 3]);
  return ticks * 1000 / CLOCK_TICKS_PER_SECOND;
}

/**
 * CPU time of each living thread of a process (first field of
 * `/proc/PID/task/TID/schedstat`), in ns by thread id. A thread's time is lost when it
 * ends, so a reading over a window tracks the threads as they come and go (see
 * `ThreadCpuTracker` in `idle_cpu.ts`).
 */
export function threadCpuNs(pid: number): Map<string, bigint> {
  const tids = readDirNames(`/proc/${pid}/task`);
  if (tids === null) throw new Error(`Cannot list the threads of pid ${pid}`);
  const out = new Map<string, bigint>();
  for (const tid of tids) {
    const bytes = readFileBytes(`/proc/${pid}/task/${tid}/schedstat`);
    if (bytes !== null) out.set(tid, BigInt(decoder.decode(bytes).split(" ")[0]));
  }
  return out;
}
