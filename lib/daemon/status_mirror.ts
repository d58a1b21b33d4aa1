/**
 * The plain-file status mirror in `<state-dir>/status/` kept up to date
 * ({@linkcode StatusMirror}): changes are coalesced, and a write renders again only the
 * entities the journal records touched since the last one ({@linkcode StatusTree}), so one
 * change costs its entity, not the 10,000 others. Heartbeat fields that move without a
 * record (`Last Heartbeat`, `Missed Heartbeats`) are refreshed every
 * `DEFAULTS.statusHeartbeatRefreshMs`, for the entities whose fields moved (at most
 * `DEFAULTS.statusHeartbeatRefreshBatch` of them, missed counts first), and only while some
 * entity has a heartbeat: with none, the mirror has no timer at all.
 *
 * @module
 */

import type { HamState } from "../core/model.ts";
import type { HamInfo } from "../core/status_view.ts";
import { StatusTree, type StatusWrites } from "../core/status_tree.ts";
import { DEFAULTS } from "../core/defaults.ts";
import type { Clock } from "../os/clock.ts";
import { writeFileAtomic } from "../store/durable.ts";
import { writeStatusTree } from "./status_files.ts";

/** Options of {@linkcode StatusMirror}. */
export interface StatusMirrorOptions {
  /** The mirror directory (`<state-dir>/status`). */
  dir: string;
  /** The state to mirror (read at each write). */
  state: () => HamState;
  /** The HAM's facts for the top `.info`. */
  info: () => HamInfo;
  /** Time (the coalescing delay and the heartbeat refresh). */
  clock: Clock;
  /** Where a write that fails is reported (once per episode) and its recovery. */
  log: (level: "warn" | "info", message: string) => void;
  /** Delay that coalesces the changes of a burst into one write, ms. @default 20 */
  delayMs?: number;
  /**
   * Delay of the first write, ms: a Guardian taking over finds the files of the HAM that
   * died (right but for its pids) and answers its clients before it walks them.
   * @default delayMs
   */
  firstDelayMs?: number;
  /** How often heartbeat fields are looked at, ms. @default DEFAULTS.statusHeartbeatRefreshMs */
  heartbeatRefreshMs?: number;
  /** Entities whose heartbeat fields one refresh writes at most. @default DEFAULTS.statusHeartbeatRefreshBatch */
  heartbeatRefreshBatch?: number;
  /** Runs after each write, in the same queue (the HAM compacts its journal there). */
  afterWrite?: () => Promise<void>;
}

/** What one write did, for tests and benchmarks. */
export interface MirrorWrite {
  /** True when the directory was walked (the first write, or after a failure). */
  full: boolean;
  /** Entities rendered again. */
  rendered: number;
  /** Files written. */
  written: number;
  /** Files and directories removed. */
  removed: number;
}

/** Keeps `<state-dir>/status/` matching the state. */
export class StatusMirror {
  #opts: StatusMirrorOptions;
  #tree = new StatusTree();
  /** Entities touched since the last write; null: all of them (a reload of the state). */
  #dirty: Set<string> | null = new Set();
  /** True until a write has made the directory match (it is walked then). */
  #full = true;
  #failing = false;
  #queue: Promise<unknown> = Promise.resolve();
  #scheduled = false;
  #refreshing = false;
  #stop = new AbortController();
  /** The last write's report. */
  last: MirrorWrite | null = null;

  /** A mirror of `opts.state()` in `opts.dir`; nothing is written until {@linkcode schedule}. */
  constructor(opts: StatusMirrorOptions) {
    this.#opts = opts;
  }

  /** Notes entities a record changed (`touchedEntities()` beside the reducer). */
  touch(names: Iterable<string>): void {
    if (this.#dirty === null) return;
    for (const n of names) this.#dirty.add(n);
  }

  /** Notes that anything may have changed (the state was reloaded from disk). */
  touchAll(): void {
    this.#dirty = null;
  }

  /** True while a heartbeat refresh timer runs. */
  get refreshing(): boolean {
    return this.#refreshing;
  }

  /**
   * Writes the changes after the coalescing delay; at most one write waits behind the
   * running one (it takes the state as it is then). Resolves when that write is done.
   */
  schedule(): Promise<void> {
    if (this.#stop.signal.aborted) return Promise.resolve();
    if (this.#scheduled) return this.#queue.then(() => {});
    this.#scheduled = true;
    const delayMs = this.#full
      ? this.#opts.firstDelayMs ?? this.#opts.delayMs ?? 20
      : this.#opts.delayMs ?? 20;
    this.#queue = this.#queue.then(async () => {
      await this.#opts.clock.sleep(delayMs, this.#stop.signal);
      this.#scheduled = false;
      if (this.#stop.signal.aborted) return;
      await this.#write();
      await this.#opts.afterWrite?.();
    });
    return this.#queue.then(() => {});
  }

  /** Stops the timers; resolves once the write under way (if any) is done. */
  async close(): Promise<void> {
    this.#stop.abort();
    await this.#queue.catch(() => {});
  }

  async #write(): Promise<void> {
    const { dir } = this.#opts;
    const state = this.#opts.state();
    const info = this.#opts.info();
    const touched = this.#dirty;
    this.#dirty = new Set();
    try {
      if (this.#full) {
        this.#tree.reset();
        this.#tree.updateAll(state, info);
        const r = await writeStatusTree(dir, this.#tree.files());
        this.last = { full: true, rendered: this.#tree.size, ...r };
        this.#full = false;
      } else {
        const w = touched === null
          ? this.#tree.updateAll(state, info)
          : this.#tree.update(state, info, touched);
        await applyWrites(dir, w);
        this.last = {
          full: false,
          rendered: touched?.size ?? this.#tree.size,
          written: w.write.size,
          removed: w.remove.length,
        };
      }
      if (this.#failing) this.#opts.log("info", "Status files are written again");
      this.#failing = false;
    } catch (err) {
      // What is on disk is not known any more: the next write walks the directory.
      this.#full = true;
      if (!this.#failing) {
        this.#opts.log("warn", `Cannot write status files: ${(err as Error).message}`);
      }
      this.#failing = true;
    }
    this.#refresh();
  }

  /** Starts the heartbeat refresh timer when some entity has heartbeat fields. */
  #refresh(): void {
    if (this.#refreshing || this.#tree.heartbeats === 0 || this.#stop.signal.aborted) return;
    this.#refreshing = true;
    const { clock } = this.#opts;
    const every = this.#opts.heartbeatRefreshMs ?? DEFAULTS.statusHeartbeatRefreshMs;
    const batch = this.#opts.heartbeatRefreshBatch ?? DEFAULTS.statusHeartbeatRefreshBatch;
    (async () => {
      while (this.#tree.heartbeats > 0) {
        if (!await clock.sleep(every, this.#stop.signal)) break;
        const stale = this.#tree.staleHeartbeats(this.#opts.state(), batch);
        if (stale.length === 0) continue;
        this.touch(stale);
        await this.schedule();
      }
    })().finally(() => this.#refreshing = false);
  }
}

/** Writes `w` under `dir`: removals first, then each file atomically (temp file + rename). */
async function applyWrites(dir: string, w: StatusWrites): Promise<void> {
  for (const rel of w.remove) {
    await Deno.remove(`${dir}/${rel}`, { recursive: true }).catch((err) => {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    });
  }
  for (const [rel, text] of w.write) {
    const path = `${dir}/${rel}`;
    try {
      await writeFileAtomic(path, text);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
      await writeFileAtomic(path, text);
    }
  }
}

/** True for a missing file or directory, as thrown or as the cause of a `HamError`. */
function isNotFound(err: unknown): boolean {
  return err instanceof Deno.errors.NotFound ||
    (err as { cause?: unknown })?.cause instanceof Deno.errors.NotFound;
}
