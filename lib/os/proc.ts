/**
 * Synchronous readers of `/proc/PID/*`. A process can vanish between any two reads, so
 * every reader returns `null` when the process is gone (or its file cannot be read)
 * instead of throwing. The files are read through libc (see `proc_fs.ts`), because Deno
 * refuses /proc reads without `--allow-all`; only when FFI is unavailable do they go
 * through Deno's fs, and then a missing permission is thrown (`NotCapable`).
 *
 * @module
 */

import { DEFAULTS } from "../core/defaults.ts";
import { readDirNames, readFileBytes, readLinkText } from "./proc_fs.ts";

/** The fields of `/proc/PID/stat` that ham uses. */
export interface ProcessStat {
  pid: number;
  ppid: number;
  /** Process group id. */
  pgid: number;
  /** Session id. */
  sid: number;
  /** One-letter state: `R`, `S`, `D`, `T`, `Z` (zombie), `X` (dead), ... */
  state: string;
  /** Field 22, the start time in clock ticks since boot, as a decimal string. */
  startTime: string;
  /** `PF_KTHREAD` in field 9 (flags): a kernel thread (no environment, no arguments). */
  kernelThread: boolean;
}

/** `PF_KTHREAD` in the flags of `/proc/PID/stat` (field 9). */
const PF_KTHREAD = 0x0020_0000;

function isPid(pid: number): boolean {
  return Number.isSafeInteger(pid) && pid > 0;
}

/** Parses the text of `/proc/PID/stat`; null when it is malformed. */
export function parseStat(text: string): ProcessStat | null {
  // The command name (field 2) is in parentheses and may itself hold ")" or spaces.
  const close = text.lastIndexOf(")");
  if (close < 0) return null;
  const pid = Number.parseInt(text, 10);
  const fields = text.slice(close + 1).trim().split(" ");
  // fields[0] is field 3 (state), so field N is fields[N - 3].
  const startTime = fields[19];
  if (!isPid(pid) || startTime === undefined || !/^\d+$/.test(startTime)) return null;
  return {
    pid,
    state: fields[0],
    ppid: Number(fields[1]),
    pgid: Number(fields[2]),
    sid: Number(fields[3]),
    startTime,
    kernelThread: (Number(fields[6]) & PF_KTHREAD) !== 0,
  };
}

/** Reads `/proc/PID/stat`; null when the process does not exist. */
export function processStat(pid: number): ProcessStat | null {
  if (!isPid(pid)) return null;
  const bytes = readFileBytes(`/proc/${pid}/stat`);
  return bytes === null ? null : parseStat(new TextDecoder().decode(bytes));
}

/**
 * The process a thread id belongs to (`Tgid:` in `/proc/PID/status`): `pid` itself for a
 * process, another pid for one of its other threads (whose ids `/proc/PID` also answers,
 * though it does not list them); null when there is no such thread.
 */
export function threadGroupOf(pid: number): number | null {
  return statusNumber(pid, "Tgid");
}

/** The real uid a process runs as (`Uid:` in `/proc/PID/status`); null when unknown. */
export function processUid(pid: number): number | null {
  return statusNumber(pid, "Uid");
}

/** The first number of line `field:` of `/proc/PID/status`; null when unknown. */
function statusNumber(pid: number, field: string): number | null {
  if (!isPid(pid)) return null;
  const bytes = readFileBytes(`/proc/${pid}/status`);
  const m = bytes === null
    ? null
    : new RegExp(`^${field}:\\s*(\\d+)`, "m").exec(new TextDecoder().decode(bytes));
  return m === null ? null : Number(m[1]);
}

/** The start time (field 22 of `/proc/PID/stat`) of a process; null when it does not exist. */
export function processStartTime(pid: number): string | null {
  return processStat(pid)?.startTime ?? null;
}

function splitNul(bytes: Uint8Array): string[] {
  const text = new TextDecoder().decode(bytes);
  const parts = text.split("\0");
  if (parts.at(-1) === "") parts.pop();
  return parts;
}

/**
 * The argument vector of a process, from `/proc/PID/cmdline`; null when the process does
 * not exist. Empty for a zombie or a kernel thread.
 */
export function readCmdline(pid: number): string[] | null {
  if (!isPid(pid)) return null;
  const bytes = readFileBytes(`/proc/${pid}/cmdline`);
  return bytes === null ? null : splitNul(bytes);
}

/** The working directory of a process (`/proc/PID/cwd`); null when gone or not readable. */
export function readCwd(pid: number): string | null {
  if (!isPid(pid)) return null;
  return readLinkText(`/proc/${pid}/cwd`);
}

/**
 * The initial environment of a process (`/proc/PID/environ`); null when the process is
 * gone, is a zombie, or belongs to another user. A process in the middle of an `execve()`
 * shows an empty one (its new memory has no environment yet: for a short program started
 * on a busy machine, much of its first millisecond): it is read again, every ms for up to
 * `settleMs`, so that a process just spawned or exec'ing is not taken for one without a
 * spawn marker (a daemon not followed, a spawn not adopted and run twice). `read`: how a
 * file of `/proc` is read (a test's fake).
 */
export function readEnviron(
  pid: number,
  settleMs: number = DEFAULTS.execSettleMs,
  read: (path: string) => Uint8Array | null = readFileBytes,
): Map<string, string> | null {
  if (!isPid(pid)) return null;
  const path = `/proc/${pid}/environ`;
  let bytes = read(path);
  if (bytes?.length === 0 && settleMs > 0) {
    const deadline = performance.now() + settleMs;
    for (let state = execState(pid, read); state !== "none"; state = execState(pid, read)) {
      // Mid-exec: the kernel has yet to write it. Arguments there: the exec may have ended
      // since the read above (or the process has no environment): one more read tells.
      if (state === "exec") sleepSync(1);
      bytes = read(path);
      if (bytes?.length !== 0 || state === "args" || performance.now() >= deadline) break;
    }
  }
  if (bytes === null) return null;
  const env = new Map<string, string>();
  for (const entry of splitNul(bytes)) {
    const eq = entry.indexOf("=");
    if (eq > 0) env.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  return env;
}

/**
 * Where a process whose environment reads empty is, as far as `/proc` tells:
 * - `exec`: in the middle of an `execve()`. Between the kernel installing its new memory
 *   and writing the new argument vector and environment into it, both read empty.
 * - `args`: its arguments are there: an exec writing its environment just now, or a
 *   process started with none (`env -i`).
 * - `none`: gone, a zombie or a kernel thread (whose environments always read empty).
 */
export function execState(
  pid: number,
  read: (path: string) => Uint8Array | null = readFileBytes,
): "exec" | "args" | "none" {
  const bytes = read(`/proc/${pid}/stat`);
  const stat = bytes === null ? null : parseStat(new TextDecoder().decode(bytes));
  if (stat === null || stat.state === "Z" || stat.state === "X" || stat.kernelThread) {
    return "none";
  }
  const cmdline = read(`/proc/${pid}/cmdline`);
  return cmdline === null ? "none" : cmdline.length === 0 ? "exec" : "args";
}

/** Blocks this thread for `ms` (a wait measured in ms, where an await cannot be). */
function sleepSync(ms: number): void {
  Atomics.wait(SLEEPER, 0, 0, ms);
}

const SLEEPER = new Int32Array(new SharedArrayBuffer(4));

/** The pids of the processes whose parent is `ppid`, ascending. Scans every process. */
export function childrenOf(ppid: number): number[] {
  const children: number[] = [];
  if (!isPid(ppid)) return children;
  for (const name of readDirNames("/proc") ?? []) {
    if (!/^\d+$/.test(name)) continue;
    const stat = processStat(Number(name));
    if (stat?.ppid === ppid) children.push(stat.pid);
  }
  return children.sort((a, b) => a - b);
}

/**
 * True when the process exists, is not a zombie, and (when `startTime` is given) has that
 * start time, so that a recycled pid is not taken for the process that had it before.
 */
export function isAlive(pid: number, startTime: string | null): boolean {
  const stat = processStat(pid);
  if (stat === null || stat.state === "Z" || stat.state === "X") return false;
  return startTime === null || stat.startTime === startTime;
}

/**
 * The ancestors of `pid`, nearest first (its parent, its parent's parent, ... up to pid 1),
 * from `/proc/PID/stat`; a chain cut short by an exiting process ends there.
 */
export function ancestorsOf(pid: number): number[] {
  const chain: number[] = [];
  let current = pid;
  // Bounded: a pid namespace's tree is never this deep, and a loop cannot form.
  for (let depth = 0; depth < 4096; depth++) {
    const ppid = processStat(current)?.ppid ?? 0;
    if (ppid <= 0 || chain.includes(ppid)) break;
    chain.push(ppid);
    current = ppid;
  }
  return chain;
}

/** Clock ticks per second of `/proc` times (`USER_HZ`: 100 on every Linux architecture). */
const USER_HZ = 100;
let bootTimeMs: number | null | undefined;

/**
 * When a process started, in ms since the epoch, from its start time in clock ticks since
 * boot (field 22 of `/proc/PID/stat`) and the boot time (`btime` of `/proc/stat`); null
 * when either is unknown. Precise to 10 ms (and to the second of `btime`).
 */
export function processStartedAt(startTime: string | null): number | null {
  if (startTime === null || !/^\d+$/.test(startTime)) return null;
  if (bootTimeMs === undefined) {
    const bytes = readFileBytes("/proc/stat");
    const m = bytes === null ? null : /^btime (\d+)$/m.exec(new TextDecoder().decode(bytes));
    bootTimeMs = m ? Number(m[1]) * 1000 : null;
  }
  return bootTimeMs === null ? null : bootTimeMs + (Number(startTime) * 1000) / USER_HZ;
}
