/**
 * Measurement: what heartbeats cost the HAM. A few client processes
 * (`heartbeat_client.ts`) each hold one connection on which they attach their own pid as
 * their share of the entities, then beat every entity at a given rate; the HAM's CPU time
 * (`utime + stime` of `/proc/PID/stat`, every thread) is read over a window, as a share
 * of one core. Each entity's period is two beat intervals and its missed-low threshold 1,
 * so a single period without a beat is reported: the HAM's `heartbeat` events during the
 * window are the entities falsely reported missed (the clients' own timer lag is reported
 * too, to tell a late client from a late HAM).
 *
 * @module
 */

import type { BenchHam } from "./bench_ham.ts";
import { cpuTickMs, threadCpuNs } from "./proc_stats.ts";
import { sleep } from "./sleep.ts";
import { type Figure, figure } from "./stats.ts";

const ROOT = new URL("../", import.meta.url).pathname;

/**
 * One load: `entities` beating at `hz`, spread over `clients` processes; with `reply:
 * false`, beats that ask for no answer.
 */
export interface HeartbeatLoad {
  entities: number;
  hz: number;
  clients: number;
  reply?: boolean;
  /**
   * How the clients beat: `slot` (the library's default: a heartbeat slot, the socket only
   * for the first beat), `reply` (every beat a request over the socket, answered) or
   * `noreply` (over the socket, unanswered). @default from `reply`
   */
  path?: "slot" | "reply" | "noreply";
}

interface ClientStats {
  beats: number;
  errors: number;
  maxLagMs: number;
  seconds: number;
}

/** A client process, read a line at a time. */
class Client implements AsyncDisposable {
  readonly child: Deno.ChildProcess;
  #lines: ReadableStreamDefaultReader<string>;
  #partial = "";
  #queue: string[] = [];

  constructor(h: BenchHam, prefix: string, load: HeartbeatLoad, count: number) {
    this.child = new Deno.Command(`${ROOT}bin/deno`, {
      args: [
        "run",
        "--allow-read",
        "--allow-write",
        "--allow-net",
        "--allow-env",
        "--allow-ffi",
        `${ROOT}bench/heartbeat_client.ts`,
        h.stateDir,
        prefix,
        String(count),
        String(load.hz),
        String(2000 / load.hz),
        pathOf(load),
      ],
      env: { HAM_STATE_DIR: h.stateDir },
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#lines = this.child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  }

  async line(): Promise<string> {
    while (this.#queue.length === 0) {
      const r = await this.#lines.read();
      if (r.done) throw new Error(`Heartbeat client ${this.child.pid} exited`);
      const parts = (this.#partial + r.value).split("\n");
      this.#partial = parts.pop()!;
      this.#queue.push(...parts);
    }
    return this.#queue.shift()!;
  }

  /** Closes its stdin: it stops beating and reports. */
  async finish(): Promise<ClientStats> {
    await this.child.stdin.close();
    return JSON.parse(await this.line()) as ClientStats;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.child.kill("SIGKILL");
    } catch { /* exited */ }
    await this.#lines.cancel().catch(() => {});
    await this.child.status;
  }
}

/** The sequence number the next event of the HAM will get. */
async function nextSeq(h: BenchHam): Promise<number> {
  return (await h.ham.events({ since: Number.MAX_SAFE_INTEGER, limit: 1 })).next;
}

/** A thread's CPU time between two readings, in ns (from 0 when it started in between). */
function threadDelta(a: Map<string, bigint>, b: Map<string, bigint>, tid: string): bigint {
  return (b.get(tid) ?? 0n) - (a.get(tid) ?? 0n);
}

/** How the clients of `load` beat. */
function pathOf(load: HeartbeatLoad): "slot" | "reply" | "noreply" {
  return load.path ?? (load.reply === false ? "noreply" : "reply");
}

const PATH_LABEL = {
  slot: " (heartbeat slots: the library's default)",
  reply: " (over the socket, answered)",
  noreply: " (over the socket, no replies)",
} as const;

/** The HAM's CPU over `ms`, in % of one core. */
async function cpuOver(h: BenchHam, ms: number): Promise<number> {
  const ticks0 = cpuTickMs(h.pid);
  const t0 = performance.now();
  await sleep(ms);
  return 100 * (cpuTickMs(h.pid) - ticks0) / (performance.now() - t0);
}

/**
 * Waits, at least `minMs`, until the HAM's CPU is steady: two 1 s readings in a row within
 * 15 % (or 2 points) of each other. The attaches leave work behind them (journal, status
 * files, one rewrite of the whole status tree after another), and that is not the cost of
 * heartbeats. Gives up after `limitMs`. Answers how long it took, in seconds.
 */
async function settle(h: BenchHam, minMs: number, limitMs: number): Promise<number> {
  const t0 = performance.now();
  let last = await cpuOver(h, 1000);
  while (performance.now() - t0 < limitMs) {
    const now = await cpuOver(h, 1000);
    const steady = Math.abs(now - last) <= Math.max(2, 0.15 * last);
    last = now;
    if (steady && performance.now() - t0 >= minMs) break;
  }
  return (performance.now() - t0) / 1000;
}

/**
 * Waits until the status mirror has a directory for each of `entities` entities (after
 * 10,000 attaches it writes for tens of seconds on a busy machine, at a steady rate that
 * {@linkcode settle} would take for the heartbeats' own), at most `limitMs`. Answers how
 * long it took, in seconds.
 */
async function mirrorCaughtUp(h: BenchHam, entities: number, limitMs: number): Promise<number> {
  const t0 = performance.now();
  while (performance.now() - t0 < limitMs) {
    let dirs = 0;
    try {
      for await (const e of Deno.readDir(`${h.stateDir}/status`)) if (e.isDirectory) dirs++;
    } catch { /* not written yet */ }
    if (dirs >= entities) break;
    await sleep(500);
  }
  return (performance.now() - t0) / 1000;
}

/**
 * Measures the HAM's CPU while `load.entities` entities (the client processes, attached by
 * pid) beat at `load.hz`, over `seconds`, once the HAM has settled (at most `settleLimitMs`). `id` names the figure.
 */
export async function measureHeartbeatCost(
  h: BenchHam,
  id: string,
  load: HeartbeatLoad,
  seconds: number,
  settleLimitMs = 60_000,
): Promise<Figure> {
  const periodMs = 2000 / load.hz;
  const path = pathOf(load);
  await using stack = new AsyncDisposableStack();
  const clients: Client[] = [];
  for (let c = 0; c < load.clients; c++) {
    const share = Math.floor(load.entities / load.clients) +
      (c < load.entities % load.clients ? 1 : 0);
    clients.push(stack.use(new Client(h, `hb${c}`, load, share)));
  }
  for (const c of clients) {
    const line = await c.line();
    if (line !== "ready") throw new Error(`Heartbeat client ${c.child.pid}: ${line}`);
  }
  const mirrored = await mirrorCaughtUp(h, load.entities, settleLimitMs);
  const settledAfter = mirrored + await settle(h, Math.max(2 * periodMs, 2000), settleLimitMs);
  const since = await nextSeq(h);
  const ticks0 = cpuTickMs(h.pid);
  const threads0 = threadCpuNs(h.pid);
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const cpuMs = cpuTickMs(h.pid) - ticks0;
  const threads1 = threadCpuNs(h.pid);
  const windowMs = performance.now() - t0;
  // The main thread runs the JavaScript (requests, timers); the others are V8's helpers
  // and Deno's blocking pool (file I/O: the journal, the status files).
  const mainPct = 100 * Number(threadDelta(threads0, threads1, String(h.pid))) / 1e6 / windowMs;
  const otherPct = 100 * Number(
    [...threads1.keys()].filter((t) => t !== String(h.pid))
      .reduce((ns, t) => ns + threadDelta(threads0, threads1, t), 0n),
  ) / 1e6 / windowMs;
  const missed = (await h.ham.events({ since, limit: 100_000 })).events
    .filter((e) => e.type === "heartbeat");
  const stats = await Promise.all(clients.map((c) => c.finish()));
  const errors = stats.reduce((n, s) => n + s.errors, 0);
  const answered = stats.reduce((n, s) => n + s.beats / s.seconds, 0);
  const lag = Math.max(...stats.map((s) => s.maxLagMs));
  const cpuPct = 100 * cpuMs / windowMs;
  const beatsPerSecond = load.entities * load.hz;
  const falseMissed = new Set(missed.map((e) => e.entity)).size;
  return figure({
    id,
    label: `HAM CPU, ${load.entities} entities beating at ${load.hz} Hz` + PATH_LABEL[path],
    unit: "% core",
    target: { median: 8, text: "≤ 8 % of one core" },
    note: `${beatsPerSecond} beats/s (${answered.toFixed(0)}/s ` +
      `${path === "reply" ? "answered" : path === "slot" ? "made" : "sent, without replies"}` +
      `) from ${load.clients} ` +
      `client processes (one connection each), ${seconds} s window, utime+stime, taken once ` +
      `the HAM had settled after the attaches (status mirror written after ` +
      `${mirrored.toFixed(0)} s, steady after ${settledAfter.toFixed(0)} s): main thread ` +
      `${mainPct.toFixed(0)}%, other threads ${otherPct.toFixed(0)}%; ` +
      `${(cpuMs * 1000 / (beatsPerSecond * windowMs / 1000)).toFixed(1)} µs ` +
      `of HAM CPU per beat; period ${periodMs} ms (2 beats), missed-low 1: ` +
      `${falseMissed} entit${falseMissed === 1 ? "y" : "ies"} falsely reported missed ` +
      `(${missed.length} periods); ${errors} beats refused; clients' worst timer lag ` +
      `${lag.toFixed(0)} ms`,
  }, [cpuPct]);
}
