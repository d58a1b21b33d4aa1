/**
 * The HAM role: takes the state directory's lock, rebuilds state (snapshot + journal
 * through the one reducer), monitors every entity again, serves the control socket and
 * keeps the plain-file status mirror up to date until `stop`.
 *
 * @module
 */

import { Engine } from "./engine.ts";
import { HamError } from "./errors.ts";
import { EventHub } from "./event_hub.ts";
import { createHandler } from "./handler.ts";
import { createLogger, type Logger, type TimestampStyle } from "./logger.ts";
import { realProcessOps, systemClock } from "./process_ops.ts";
import { ProcessWatcher, setChildSubreaper } from "./process_watcher.ts";
import { ZombieReaper } from "./reaper.ts";
import { denoChildren } from "./spawner.ts";
import { ControlServer } from "./server.ts";
import { lockPath, socketPath, statusDir } from "./state_dir.ts";
import { StateStore } from "./state_store.ts";
import { statusFiles } from "./status_view.ts";
import { writeStatusTree } from "./status_files.ts";

/** Options of {@linkcode HamDaemon.start}. */
export interface HamOptions {
  stateDir: string;
  /** Initial verbosity when the state has none yet. @default 1 */
  verbosity?: number;
  /** @default "absolute" */
  timestamps?: TimestampStyle;
  /** Start even if the journal is corrupt, keeping what precedes the damage. */
  recover?: boolean;
  /** Where log lines go. @default stderr */
  write?: (line: string) => void;
  /** Guardian pid to report, set by the guardian layer. */
  guardianPid?: () => number | null;
}

/** Takes the state directory lock or throws EBUSY. Returns the open lock file. */
export async function takeLock(dir: string): Promise<Deno.FsFile> {
  Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
  Deno.chmodSync(dir, 0o700);
  const f = await Deno.open(lockPath(dir), { create: true, read: true, write: true, mode: 0o600 });
  if (!await f.tryLock(true)) {
    let holder = "";
    try {
      holder = Deno.readTextFileSync(lockPath(dir)).trim();
    } catch { /* unreadable */ }
    f.close();
    throw new HamError(
      "EBUSY",
      `Cannot start the HAM on "${dir}": another HAM holds its lock${
        holder ? ` (pid ${holder})` : ""
      }`,
    );
  }
  await f.truncate(0);
  await f.write(new TextEncoder().encode(`${Deno.pid}\n`));
  return f;
}

/** A running HAM. */
export class HamDaemon {
  readonly stateDir: string;
  readonly store: StateStore;
  readonly engine: Engine;
  readonly hub: EventHub;
  readonly log: Logger;
  readonly startedAt = Date.now();
  #server!: ControlServer;
  #watcher: ProcessWatcher;
  #reaper: ZombieReaper;
  #lock: Deno.FsFile;
  #stopping: Promise<void> | null = null;
  #stopped = Promise.withResolvers<void>();
  #statusTimer: ReturnType<typeof setTimeout> | undefined;
  #statusWriting: Promise<void> = Promise.resolve();
  #guardianPid: () => number | null;

  private constructor(opts: HamOptions, lock: Deno.FsFile, store: StateStore, log: Logger) {
    this.stateDir = opts.stateDir;
    this.#lock = lock;
    this.store = store;
    this.log = log;
    this.#guardianPid = opts.guardianPid ?? (() => null);
    this.hub = new EventHub();
    this.#watcher = new ProcessWatcher();
    this.#reaper = new ZombieReaper({
      isDenoChild: (pid) => denoChildren.has(pid),
      isWatched: (pid) => this.#watcher.isWatching(pid),
    });
    this.engine = new Engine({
      store,
      processes: realProcessOps(this.#watcher),
      clock: systemClock,
      log,
      emit: (ev) => {
        this.hub.publish(ev);
        this.changed();
      },
    });
  }

  /** Starts a HAM on a state directory; resolves once the control socket accepts. */
  static async start(opts: HamOptions): Promise<HamDaemon> {
    const lock = await takeLock(opts.stateDir);
    // Processes the HAM starts find their HAM (mod.ts, hamctl) through this.
    Deno.env.set("HAM_STATE_DIR", opts.stateDir);
    let storeRef: StateStore | null = null;
    const log = createLogger({
      verbosity: () => storeRef?.state.verbosity ?? opts.verbosity ?? 1,
      write: opts.write,
      timestamps: opts.timestamps,
    });
    let store: StateStore;
    try {
      setChildSubreaper();
      store = await StateStore.open(opts.stateDir, {
        recover: opts.recover,
        log: (level, msg) => log.log(level, msg),
      });
      if (opts.verbosity !== undefined && opts.verbosity !== store.state.verbosity) {
        await store.commit([{ t: "verbosity", value: opts.verbosity }]);
      }
    } catch (err) {
      lock.close();
      throw err;
    }
    storeRef = store;
    const d = new HamDaemon(opts, lock, store, log);
    const r = store.report;
    log.log(
      "info",
      `HAM ${Deno.pid} started on "${opts.stateDir}": ${
        store.state.entities.size - 1
      } entities, snapshot at ${r.snapshotSeq}, ${r.replayed} records replayed`,
    );
    d.#reaper.start();
    d.engine.resume();
    d.#server = ControlServer.listen(
      socketPath(opts.stateDir),
      createHandler({
        store,
        engine: d.engine,
        hub: d.hub,
        info: () => d.info(),
        // After this turn, so the answer to `stop` is written before connections close.
        stop: () => void setTimeout(() => d.stop(), 0),
        changed: () => d.changed(),
      }),
      () => ({ hamPid: Deno.pid, guardianPid: d.#guardianPid() }),
    );
    d.changed();
    return d;
  }

  /** Pids and start time, for `status`. */
  info() {
    return { hamPid: Deno.pid, guardianPid: this.#guardianPid(), startedAt: this.startedAt };
  }

  /** Schedules a refresh of the status files (coalesced) and compaction when due. */
  changed(): void {
    if (this.#statusTimer !== undefined || this.#stopping) return;
    this.#statusTimer = setTimeout(() => {
      this.#statusTimer = undefined;
      this.#statusWriting = this.#statusWriting.then(async () => {
        try {
          await writeStatusTree(
            statusDir(this.stateDir),
            statusFiles(this.store.state, this.info()),
          );
        } catch (err) {
          this.log.log("warn", `Cannot write status files: ${(err as Error).message}`);
        }
        if (this.store.shouldCompact()) {
          await this.store.compact().catch((err) =>
            this.log.log("warn", `Cannot compact the journal: ${(err as Error).message}`)
          );
        }
      });
    }, 20);
  }

  /** Resolves when the HAM has stopped. */
  get stopped(): Promise<void> {
    return this.#stopped.promise;
  }

  /** Stops serving and monitoring; monitored processes keep running (QNX `ham_stop`). */
  stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.log.log("info", `HAM ${Deno.pid} stopping`);
      clearTimeout(this.#statusTimer);
      this.engine.stop();
      await this.#server.close();
      await this.#statusWriting;
      this.#reaper.stop();
      await this.#watcher.close();
      await this.store.close();
      try {
        Deno.removeSync(socketPath(this.stateDir));
      } catch { /* gone */ }
      this.#lock.close();
      this.#stopped.resolve();
    })();
    return this.#stopping;
  }
}
