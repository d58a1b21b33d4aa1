/**
 * Gives memory back once a long-lived daemon (the HAM, the Guardian) goes quiet after
 * work: a burst of requests, a load of entities, a takeover. V8 keeps the pages its heap
 * grew into, and its own memory reducer (off in the daemons: `--no-memory-reducer`) runs
 * only once the allocation rate of the last 5 s is low and not before 30 s after start, as
 * 2 collections (~70–90 ms of CPU of the two daemons) in the middle of what should be idle
 * time.
 *
 * Here the daemon says when it works ({@linkcode QuietTrim.touch}: one counter increment),
 * and once it has done nothing for {@linkcode DEFAULTS.quietTrimMs}, if its V8 heap grew by
 * {@linkcode DEFAULTS.quietTrimGrowthBytes} since the last trim, it trims at once:
 * V8's last-resort collection (what a low-memory notification runs: compacting
 * collections until nothing more is freed, the freed pages given back), then glibc's
 * `malloc_trim(0)`. A trim of a HAM with 100 entities takes ~15–30 ms; the next waits at
 * least the trim's time divided by {@linkcode DEFAULTS.quietTrimCostShare}, so trims never
 * take more than that share of a core. A heap over {@linkcode DEFAULTS.quietTrimMaxHeapBytes}
 * is left to V8's own collections: its trim would stop the daemon for too long (at 10,000
 * entities, a 40–55 MiB heap, 100–260 ms, and a death in that time waits). No timer runs
 * while the daemon is idle.
 *
 * The collection needs V8's `--expose-gc` (in `DEFAULTS.daemonV8Flags`), `malloc_trim`
 * FFI; each part is skipped when not permitted.
 *
 * @module
 */

import { DEFAULTS } from "../core/defaults.ts";
import { type Clock, systemClock } from "./clock.ts";
import { libc, libcAvailable } from "./libc.ts";

/** What a trim reads and does: the real ones are {@linkcode systemTrimEffects}. */
export interface TrimEffects {
  /** Bytes the V8 heap holds (committed) now. */
  heapBytes(): number;
  /** Gives memory back; answers how long it took, in ms. */
  trim(): number;
}

/** What one trim did. */
export interface Trimmed {
  /** The V8 heap before and after, bytes. */
  beforeBytes: number;
  afterBytes: number;
  /** How long it took, ms. */
  ms: number;
}

/** Tunables (the defaults table's by default) and the clock, for tests. */
export interface QuietTrimOptions {
  effects: TrimEffects;
  clock?: Clock;
  /** Told of each trim (for the log). */
  trimmed?: (t: Trimmed) => void;
  quietMs?: number;
  growthBytes?: number;
  costShare?: number;
  maxHeapBytes?: number;
}

/** Trims a daemon's memory when it goes quiet after work. */
export class QuietTrim {
  readonly #effects: TrimEffects;
  readonly #clock: Clock;
  readonly #trimmed: (t: Trimmed) => void;
  readonly #quietMs: number;
  readonly #growthBytes: number;
  readonly #costShare: number;
  readonly #maxHeapBytes: number;
  readonly #stop = new AbortController();
  /** Work done so far: a count, compared across a quiet wait. */
  #work = 0;
  #watching = false;
  /** The heap's bytes after the last trim (0 before the first: start-up is work). */
  #baseline = 0;
  /** No trim before this time (the cost share's gap after the last). */
  #notBefore = 0;

  constructor(opts: QuietTrimOptions) {
    this.#effects = opts.effects;
    this.#clock = opts.clock ?? systemClock;
    this.#trimmed = opts.trimmed ?? (() => {});
    this.#quietMs = opts.quietMs ?? DEFAULTS.quietTrimMs;
    this.#growthBytes = opts.growthBytes ?? DEFAULTS.quietTrimGrowthBytes;
    this.#costShare = opts.costShare ?? DEFAULTS.quietTrimCostShare;
    this.#maxHeapBytes = opts.maxHeapBytes ?? DEFAULTS.quietTrimMaxHeapBytes;
  }

  /** Says the daemon did some work: a trim waits until it has been quiet for a while. */
  touch(): void {
    this.#work++;
    if (!this.#watching && !this.#stop.signal.aborted) void this.#watch();
  }

  /** Stops watching (the daemon is stopping or taking over). */
  stop(): void {
    this.#stop.abort();
  }

  async #watch(): Promise<void> {
    this.#watching = true;
    try {
      for (;;) {
        const seen = this.#work;
        const wait = Math.max(this.#quietMs, this.#notBefore - this.#clock.now());
        if (!await this.#clock.sleep(wait, this.#stop.signal)) return;
        if (this.#work !== seen) continue;
        this.#trimIfGrown();
        return;
      }
    } finally {
      this.#watching = false;
    }
  }

  #trimIfGrown(): void {
    const beforeBytes = this.#effects.heapBytes();
    if (beforeBytes - this.#baseline < this.#growthBytes) return;
    if (beforeBytes > this.#maxHeapBytes) return;
    const ms = this.#effects.trim();
    const afterBytes = this.#effects.heapBytes();
    this.#baseline = afterBytes;
    this.#notBefore = this.#clock.now() + ms / this.#costShare;
    this.#trimmed({ beforeBytes, afterBytes, ms });
  }
}

type Gc = (opts: { type: string; execution: string; flavor: string }) => unknown;

/**
 * The real trim: V8's last-resort collection when `--expose-gc` gave `gc()`, then
 * `malloc_trim(0)` when FFI is permitted. Null when neither is available.
 */
export function systemTrimEffects(): TrimEffects | null {
  const gc = (globalThis as { gc?: Gc }).gc;
  const lib = libcAvailable() ? libc() : null;
  if (typeof gc !== "function" && lib === null) return null;
  return {
    heapBytes: () => Deno.memoryUsage().heapTotal,
    trim: () => {
      const t0 = performance.now();
      if (typeof gc === "function") gc({ type: "major", execution: "sync", flavor: "last-resort" });
      lib?.malloc_trim(0);
      return performance.now() - t0;
    },
  };
}

/**
 * The daemon's trim, logging each as `who` (`HAM`, `Guardian`) at debug level; null when
 * it cannot trim at all.
 */
export function daemonQuietTrim(
  log: { log(level: "debug", msg: string): void },
  who: string,
): QuietTrim | null {
  const effects = systemTrimEffects();
  if (effects === null) return null;
  const mib = (b: number) => (b / (1024 * 1024)).toFixed(1);
  return new QuietTrim({
    effects,
    trimmed: (t) =>
      log.log(
        "debug",
        `${who} ${Deno.pid}: quiet, trimmed its memory in ${t.ms.toFixed(1)} ms ` +
          `(V8 heap ${mib(t.beforeBytes)} → ${mib(t.afterBytes)} MiB)`,
      ),
  });
}
