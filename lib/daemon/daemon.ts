/**
 * The HAM role: takes the state directory's lock (or is handed it by a Guardian taking
 * over), rebuilds state (snapshot + journal through the one reducer), monitors every entity
 * again, serves the control socket, keeps a Guardian running, and keeps the plain-file
 * status mirror up to date until `stop`.
 *
 * @module
 */

import { Engine } from "../engine/engine.ts";
import { killPointFromEnv } from "../os/kill_point.ts";
import { EventHub } from "./event_hub.ts";
import { EventLog } from "./event_log.ts";
import { GuardianKeeper } from "./guardian_keeper.ts";
import { createHandler } from "./handler.ts";
import { BeatSlots } from "./beat_slots.ts";
import { resetBeatsDir } from "../os/beat_slot_file.ts";
import { daemonQuietTrim, type QuietTrim } from "../os/quiet_trim.ts";
import { dropStartUpPagesLater } from "../os/start_up_pages.ts";
import { ChannelCursors } from "./channel_cursors.ts";
import { Subscriptions } from "./subscriptions.ts";
import { guard, policyView } from "./access.ts";
import { higherRole, type Policy, roleFor } from "../core/policy.ts";
import { loadPolicy } from "../os/policy_file.ts";
import {
  createLogger,
  type LogFile,
  type LogFormat,
  type Logger,
  type TimestampStyle,
} from "../os/logger.ts";
import { realProcessOps } from "../engine/process_ops.ts";
import { systemClock } from "../os/clock.ts";
import { ProcessWatcher, setChildSubreaper } from "../os/process_watcher.ts";
import { ZombieReaper } from "../os/reaper.ts";
import type { RecordBody } from "../core/records.ts";
import { ControlServer, type RequestHandler } from "./server.ts";
import { MetricsServer } from "./metrics_server.ts";
import { toHamError } from "../core/errors.ts";
import { dropReserve, holdReserve, raiseDescriptorLimit } from "../os/fd_reserve.ts";
import { formatAddress, listenTls, type TlsListenOptions, tlsSocketCap } from "./tls_server.ts";
import { ClusterNode, type ClusterOptions, refuseUnclustered } from "../cluster/cluster_node.ts";
import { clusterHost, clusterRoutes } from "./cluster_host.ts";
import { nodeForwarder } from "./node_forwarder.ts";
import { denoChildren } from "../os/spawner.ts";
import { policyPath, socketPath, statusDir } from "../os/state_dir.ts";
import { type StateLock, takeLock, writeLockHolder } from "../store/state_lock.ts";
import { StateStore } from "../store/state_store.ts";
import type { Replay, StoreLog } from "../store/replay.ts";
import type { HamInfo } from "../core/status_view.ts";
import { StatusMirror } from "./status_mirror.ts";
import { StatusAnswer } from "../core/status_answer.ts";
import { closePipes, EntityOutput } from "../os/entity_output.ts";
import { FSYNC_BUCKETS, Histogram, renderMetrics } from "../core/metrics.ts";
import { statusFileName } from "../core/status_text.ts";
import { DEFAULTS } from "../core/defaults.ts";
import { wallClockMs } from "../os/wall_clock.ts";
import { forgetInheritedEnv } from "../os/spawn_env.ts";

/** Options of {@linkcode HamDaemon.start}. */
export interface HamOptions {
  stateDir: string;
  /** Initial verbosity when the state has none yet. @default 1 */
  verbosity?: number;
  /** @default "absolute" */
  timestamps?: TimestampStyle;
  /** Text lines, or one JSON object per line. @default "text" */
  logFormat?: LogFormat;
  /** Start even if the journal is corrupt, keeping what precedes the damage. */
  recover?: boolean;
  /** Where log lines go (a {@linkcode LogFile} can be reopened on SIGHUP). @default stderr */
  write?: ((line: string) => void) | LogFile;
  /**
   * The state directory's lock, already held: a Guardian taking over passes the lock it
   * waited for. @default taken with {@linkcode takeLock} (EBUSY when another HAM holds it)
   */
  lock?: StateLock;
  /** Set by a Guardian taking over: the HAM failure is journaled and the takeover timed. */
  takeover?: TakeoverInfo;
  /** Start a Guardian once serving, and a new one whenever it exits. @default false */
  guardian?: boolean;
  /** Extra arguments of the Guardian's command line (`--log FILE`, `--timestamps S`). */
  guardianArgs?: string[];
  /** Serve the metrics over HTTP at `/metrics` on this address (`--metrics-listen`). */
  metricsListen?: { hostname: string; port: number };
  /** Compact the journal past this many records (tests set it low). @default 50,000 */
  compactRecords?: number;
  /** The policy file (`--policy FILE`, which must exist). @default `<state-dir>/policy` if any */
  policyFile?: string;
  /** Make the control socket mode 0660 with this group (`--socket-group`). @default none */
  socketGroup?: number | null;
  /** Also serve the protocol over mutual TLS (`ham --listen`). @default not listening */
  listen?: TlsListenOptions;
  /** Join the cluster kept in etcd (`ham --cluster URL --node-name NAME`). @default not clustered */
  cluster?: ClusterOptions;
  /** The nodes file, for actions that name another node. @default {$HAM_NODES, `<state-dir>/nodes.yaml`} */
  nodes?: string;
}

/** What a Guardian taking over tells the HAM it becomes. */
export interface TakeoverInfo {
  /** The pid of the HAM that died, when known. */
  deadHamPid: number | null;
  /** `performance.now()` when the Guardian first saw the HAM gone. */
  noticedAt: number;
  /** How it saw it first (`lock`, `connection`, `pidfd`). */
  noticedBy: string;
  /** The seq the Guardian's live copy of the state had reached. */
  liveSeq: number;
  /**
   * Pidfds the Guardian opened on monitored processes as it mirrored, each with the start
   * time verified when it was opened: re-watching those needs no system call. Owned by the
   * new HAM's watcher from the start on; the ones no entity uses are closed after resuming.
   */
  pidfds?: readonly { pid: number; fd: number; startTime: string }[];
  /**
   * The Guardian's live copy, caught up to the end of the journal (`JournalTail.handOver`):
   * the state replaying the files would build, without reading them again. Absent or null:
   * replay the files.
   */
  replay?: Replay | null;
  /**
   * The output FIFOs of spawned entities, opened by the Guardian as it mirrored (read-write,
   * non-blocking): read from the start on, without opening a file per entity.
   */
  pipes?: readonly { entity: string; stdout: number; stderr: number }[];
  /** `performance.now()` when the Guardian held the lock. @default {noticedAt} */
  lockedAt?: number;
  /**
   * The full status answer the Guardian kept rendered as it mirrored, for the state of
   * `replay` (unused without it): the first full status after the takeover is a copy.
   */
  statusAnswer?: StatusAnswer;
}

/**
 * A running HAM. With `guardian`, it keeps one Guardian process running
 * ({@linkcode GuardianKeeper}): the Guardian follows the journal and takes over if this
 * process dies, for whatever reason (a crash, SIGKILL, or SIGTERM/SIGINT, on which the
 * `ham` entry point exits at once instead of stopping). Only {@linkcode HamDaemon.stop}
 * (`hamctl stop`, `ham_stop`) ends both, the Guardian first.
 */
export class HamDaemon {
  readonly stateDir: string;
  readonly store: StateStore;
  readonly engine: Engine;
  readonly hub: EventHub;
  /** Subscriptions to the event stream, and notify delivery. */
  readonly subscriptions: Subscriptions;
  #channels: ChannelCursors;
  readonly log: Logger;
  /** The entities' output: `<state-dir>/logs/NAME.log`. */
  readonly output: EntityOutput;
  readonly startedAt = Date.now();
  #server!: ControlServer;
  #remoteServer: ControlServer | null = null;
  /** Cancels the drop of the start-up pages (a stop before it is due). */
  #cancelDropPages: () => void = () => {};
  /** Gives memory back once the HAM goes quiet after work (null: it cannot). */
  #trim: QuietTrim | null = null;
  /** A `changed()` is queued for the events emitted this turn. */
  #changeQueued = false;
  /** The timer of what a takeover leaves until its first answers are out. */
  #afterAnswersTimer: ReturnType<typeof setTimeout> | undefined;
  #cluster: ClusterNode | null = null;
  #watcher: ProcessWatcher;
  #reaper: ZombieReaper;
  #lock: StateLock;
  #stopping: Promise<void> | null = null;
  #stopped = Promise.withResolvers<void>();
  /** The plain-file status mirror (`<state-dir>/status/`). */
  #mirror: StatusMirror;
  /** The full status answer, kept rendered: told of every change, as the mirror is. */
  readonly #answers: StatusAnswer;
  #keeper: GuardianKeeper | null = null;
  #policy: Policy;
  #policySource: { path: string; required: boolean };
  #metricsServer: MetricsServer | null = null;
  /** The last process of entities being detached (see #reconcileOutput). */
  #detached = new Map<string, { pid: number; startTime: string | null }>();
  /** Removed entities whose detached process is still writing. */
  #draining = new Set<string>();
  #rewatchTimer: ReturnType<typeof setTimeout> | undefined;

  private constructor(
    opts: HamOptions,
    lock: StateLock,
    store: StateStore,
    log: Logger,
    policy: Policy,
  ) {
    this.stateDir = opts.stateDir;
    this.#policy = policy;
    this.#policySource = {
      path: opts.policyFile ?? policyPath(opts.stateDir),
      required: opts.policyFile !== undefined,
    };
    this.#lock = lock;
    this.store = store;
    this.log = log;
    this.hub = new EventHub({
      log: openEventLog(opts.stateDir, log, opts.takeover !== undefined),
      now: wallClockMs,
      onListenerError: (err) => log.log("error", `An event listener failed: ${err}`),
    });
    this.#channels = ChannelCursors.open(this.hub.dir);
    this.subscriptions = new Subscriptions(this.hub, this.#channels);
    // After a takeover, once the first answers are out (or at the first subscription or
    // notification): it reads the window of the event log.
    if (!opts.takeover) this.subscriptions.catchUp();
    this.output = new EntityOutput({
      stateDir: opts.stateDir,
      maxBytes: DEFAULTS.entityLogBytes,
      keep: DEFAULTS.entityLogFiles,
      maxLineBytes: DEFAULTS.maxEntityLogLineBytes,
      fileName: statusFileName,
      onError: (entity, err) =>
        log.log("warn", `Cannot write the output of entity "${entity}": ${err.message}`),
    });
    // Output of processes a previous HAM spawned is read again (through the FIFOs a
    // Guardian taking over holds open already); the FIFOs of entities gone go, once serving.
    const held = new Map((opts.takeover?.pipes ?? []).map((p) => [p.entity, p]));
    for (const e of store.state.entities.values()) {
      if (e.argv === null || !e.spawned) continue;
      const pipes = held.get(e.name);
      held.delete(e.name);
      if (pipes) this.output.adopt(e.name, pipes);
      else this.output.ensure(e.name);
    }
    for (const p of held.values()) closePipes(p);
    this.hub.listen((ev) => {
      const e = ev.type === "detach" ? this.store.state.entities.get(ev.entity) : undefined;
      if (e?.pid) this.#detached.set(e.name, { pid: e.pid, startTime: e.startTime });
    });
    this.#watcher = new ProcessWatcher({ log: (level, msg) => log.log(level, msg) });
    this.#reaper = new ZombieReaper({
      isDenoChild: (pid) => denoChildren.has(pid),
      isWatched: (pid) => this.#watcher.isWatching(pid),
      collectWatched: (pid) => this.#watcher.collect(pid),
    });
    this.engine = new Engine({
      store,
      processes: realProcessOps(this.#watcher, Deno.pid, (entity) => this.output.ensure(entity)),
      clock: systemClock,
      log,
      // The event and what it changed are the hub's and `changed()`'s a microtask later:
      // an event on the event path (a death, a condition) costs it its number and time.
      emit: (ev) => {
        this.hub.publish(ev);
        if (this.#changeQueued) return;
        this.#changeQueued = true;
        queueMicrotask(() => {
          this.#changeQueued = false;
          this.changed();
        });
      },
      notify: (channel, message) => this.subscriptions.notify(channel, message),
      forward: nodeForwarder({
        stateDir: opts.stateDir,
        nodes: opts.nodes,
        registry: (node) => this.#cluster?.addressOf(node) ?? null,
        tls: opts.listen,
      }),
      onStep: killPointFromEnv(),
    });
    this.#mirror = new StatusMirror({
      dir: statusDir(opts.stateDir),
      state: () => store.state,
      info: () => this.info(),
      clock: systemClock,
      log: (level, msg) => log.log(level, msg),
      firstDelayMs: opts.takeover ? DEFAULTS.takeoverMirrorDelayMs : undefined,
      afterWrite: async () => {
        if (!store.shouldCompact()) return;
        await store.compact().catch((err) =>
          log.log("warn", `Cannot compact the journal: ${(err as Error).message}`)
        );
      },
    });
    // The Guardian's rendering is of its live copy: good for this state only if it is that copy.
    this.#answers = (opts.takeover?.replay && opts.takeover.statusAnswer) || new StatusAnswer();
    store.onTouched = (names) => {
      this.#mirror.touch(names);
      this.#answers.touch(names);
    };
    store.onCompactDue = () => this.changed();
    // A refused write (a full disk) rolled the state back: look again, a second later, at
    // processes whose death or restart was not recorded.
    store.onReload = () => {
      this.#mirror.touchAll();
      this.#answers.touchAll();
      this.#rewatchTimer ??= setTimeout(() => {
        this.#rewatchTimer = undefined;
        this.engine.rewatch();
      }, DEFAULTS.refusedWriteRetryMs);
    };
    if (opts.guardian) {
      this.#keeper = new GuardianKeeper({
        stateDir: opts.stateDir,
        log,
        args: opts.guardianArgs,
        onFailure: async (at) => {
          await this.engine.write([{ t: "failure", role: "guardian", at }]).catch(() => {});
          this.changed();
        },
      });
    }
  }

  /**
   * Starts a HAM on a state directory; resolves once the control socket accepts (and, with
   * `guardian`, once its Guardian is started). With `takeover`, this process is a Guardian
   * becoming the HAM: it journals the HAM failure before picking everything up.
   *
   * Known limitation of a takeover: the processes the dead HAM started are no longer
   * children of this one (Linux re-parents them to the nearest subreaper or init), so when
   * one dies its exit status is unknown: `death` fires, `abnormal-death` cannot be told.
   * Their deaths are still seen at once, through pidfds.
   */
  static async start(opts: HamOptions): Promise<HamDaemon> {
    const lock = opts.lock ?? await takeLock(opts.stateDir);
    // Processes the HAM starts find their HAM (mod.ts, hamctl) through this.
    Deno.env.set("HAM_STATE_DIR", opts.stateDir);
    forgetInheritedEnv();
    let storeRef: StateStore | null = null;
    const fsync = new Histogram(FSYNC_BUCKETS);
    const log = createLogger({
      verbosity: () => storeRef?.state.verbosity ?? opts.verbosity ?? DEFAULTS.verbosity,
      write: opts.write,
      timestamps: opts.timestamps,
      format: opts.logFormat,
    });
    let store: StateStore;
    let replayedSeq = 0;
    let policy: Policy;
    const t0 = performance.now();
    const timing = new TakeoverTiming(opts.takeover?.lockedAt ?? t0, t0);
    try {
      if (opts.lock) await writeLockHolder(lock.file);
      policy = loadPolicy(
        opts.policyFile ?? policyPath(opts.stateDir),
        Deno.uid() ?? 0,
        opts.policyFile !== undefined,
      );
      setChildSubreaper();
      const storeLog: StoreLog = (level, msg) => log.log(level, msg);
      const storeOptions = {
        recover: opts.recover,
        compactRecords: opts.compactRecords,
        log: storeLog,
        onSync: (seconds: number) => fsync.observe(seconds),
        bell: true,
      };
      const live = opts.takeover?.replay;
      store = live
        ? await StateStore.fromReplay(opts.stateDir, live, storeOptions)
        : await StateStore.open(opts.stateDir, storeOptions);
      replayedSeq = store.state.seq;
      if (!opts.cluster) {
        try {
          refuseUnclustered(opts.stateDir, store.state.entities.keys());
        } catch (err) {
          await store.close();
          throw err;
        }
      }
      timing.mark("state");
      if (opts.takeover) {
        // A fact, as a death is: kept and written again while the journal refuses it (a
        // full disk), in order before anything later; never a reason not to take over.
        const failure: RecordBody = { t: "failure", role: "ham", at: Date.now() };
        try {
          store.append([failure], { retry: true }).durable.catch(() => {});
        } catch (err) {
          log.log("error", `Cannot record the HAM failure: ${(err as Error).message}`);
        }
      }
      const records: RecordBody[] = [];
      if (opts.verbosity !== undefined && opts.verbosity !== store.state.verbosity) {
        records.push({ t: "verbosity", value: opts.verbosity });
      }
      if (records.length > 0) await store.commit(records);
      timing.mark("failure record");
    } catch (err) {
      lock.close();
      throw err;
    }
    storeRef = store;
    const d = new HamDaemon(opts, lock, store, log, policy);
    // Before listening: the cap of the TLS listener's connections follows the limit.
    const descriptors = raiseDescriptorLimit();
    let remote: Awaited<ReturnType<typeof listenTls>> | null = null;
    if (opts.listen) {
      try {
        const tlsRoleOf = opts.listen.roleOf;
        remote = await listenTls({
          ...opts.listen,
          // A certificate's role: the higher of its `--tls-role` and the policy's `cn:`
          // grant (the policy as it is when the connection is made).
          roleOf: (cn) => higherRole(tlsRoleOf(cn), roleFor(d.#policy, { cn })),
          maxSockets: tlsSocketCap(descriptors?.soft ?? null),
          log: (level, msg) => log.log(level, msg),
        });
      } catch (err) {
        await store.close();
        lock.close();
        throw err;
      }
    }
    const r = store.report;
    // At the default verbosity, as a death is: an operator reading the log sees its life.
    log.log(
      "notice",
      `HAM ${Deno.pid} started on "${opts.stateDir}": ${
        store.state.entities.size - 1
      } entities, snapshot at ${r.snapshotSeq}, ${r.replayed} records replayed`,
    );
    holdReserve();
    if (opts.cluster) {
      const host = clusterHost({
        engine: d.engine,
        hub: d.hub,
        log,
        changed: () => d.changed(),
      });
      // Published in the registry, so that the other members reach this HAM by name.
      const address = opts.listen && formatAddress(opts.listen);
      d.#cluster = new ClusterNode({ ...opts.cluster, address }, opts.stateDir, host);
      await d.#cluster.recover([...store.state.entities.keys()]);
    }
    d.#reaper.start();
    timing.mark("set-up");
    for (const p of opts.takeover?.pidfds ?? []) d.#watcher.adopt(p.pid, p.fd, p.startTime);
    d.engine.resume();
    d.#watcher.dropAdopted();
    timing.mark("resume");
    resetBeatsDir(opts.stateDir);
    const local = createHandler({
      store,
      engine: d.engine,
      hub: d.hub,
      subscriptions: d.subscriptions,
      info: () => d.info(),
      // After this turn, so the answer to `stop` is written before connections close.
      stop: () => void setTimeout(() => d.stop(), 0),
      changed: () => d.changed(),
      fsync,
      statusAnswer: d.#answers,
      beatSlots: new BeatSlots(opts.stateDir, d.engine),
      policy: (conn) => policyView(d.#policy, conn),
    });
    const routed = d.#cluster
      ? clusterRoutes(d.#cluster, local, (name) => store.state.entities.has(name))
      : local;
    const trim = d.#trim = daemonQuietTrim(log, "HAM");
    // Every request is work (for the quiet trim), is checked (roles, own tree, protected
    // pids) and audited, then routed.
    const handler = touching(
      logRefusals(
        guard(routed, {
          policy: () => d.#policy,
          hub: d.hub,
          hamPid: Deno.pid,
          guardianPid: () => d.guardianPid,
        }),
        log,
      ),
      trim,
    );
    const hello = () => ({ hamPid: Deno.pid, guardianPid: d.guardianPid });
    const serverLog = { log: (level: "warn" | "info", msg: string) => log.log(level, msg) };
    d.#server = await ControlServer.listen(
      socketPath(opts.stateDir),
      handler,
      hello,
      opts.socketGroup ?? null,
      serverLog,
    );
    timing.mark("listen");
    d.#cancelDropPages = dropStartUpPagesLater(log, "HAM");
    if (remote) {
      d.#remoteServer = new ControlServer(remote, handler, hello, serverLog);
      log.log(
        "info",
        `Listening for mutual-TLS clients on ${opts.listen!.hostname}:${opts.listen!.port}`,
      );
    }
    if (opts.takeover) {
      d.#logTakeover(opts.takeover, replayedSeq, timing);
      d.hub.publish({
        type: "takeover",
        entity: "",
        detail: {
          hamPid: Deno.pid,
          replayMs: timing.ms("state"),
          resumeMs: timing.ms("resume"),
        },
      });
    }
    // After a takeover, once the first answers are out (the dead HAM's FIFOs harm no one).
    if (opts.takeover) {
      d.#afterAnswersTimer = setTimeout(() => {
        d.#removeStaleOutput();
        d.subscriptions.catchUp();
      }, DEFAULTS.takeoverMirrorDelayMs);
    } else d.#removeStaleOutput();
    if (opts.metricsListen) d.#serveMetrics(opts.metricsListen, fsync);
    // After a takeover, the clients waiting for an answer come before the new standby.
    d.#keeper?.start(opts.takeover ? DEFAULTS.takeoverGuardianDelayMs : 0);
    d.#cluster?.start();
    // Also the quiet trim's first work: it trims once start-up is over.
    d.changed();
    return d;
  }

  #logTakeover(t: TakeoverInfo, seq: number, timing: TakeoverTiming): void {
    const ms = (performance.now() - t.noticedAt).toFixed(1);
    const from = t.replay ? "state from the live copy" : "replay of the files";
    const behind = seq - t.liveSeq;
    this.log.log(
      "warn",
      `Guardian ${Deno.pid} took over from HAM ${t.deadHamPid ?? "?"} in ${ms} ms (${from} ` +
        `${timing.text()}; noticed by ${t.noticedBy}, lock ` +
        `${((t.lockedAt ?? t.noticedAt) - t.noticedAt).toFixed(1)} ms later; live copy at seq ` +
        `${t.liveSeq}, journal at seq ${seq}${behind > 0 ? `, ${behind} records behind` : ""})`,
    );
  }

  /** Removes the FIFOs no entity can write into any more (entities gone meanwhile). */
  #removeStaleOutput(): void {
    const keep = new Set<string>();
    for (const e of this.store.state.entities.values()) {
      if (e.argv !== null) keep.add(statusFileName(e.name));
    }
    this.output.removeStale(keep);
  }

  /** The effective access policy. */
  get policy(): Policy {
    return this.#policy;
  }

  /**
   * Reads the policy file again (SIGHUP); a file that cannot be used keeps the policy in
   * force, and says why.
   */
  reloadPolicy(): void {
    try {
      const { path, required } = this.#policySource;
      this.#policy = loadPolicy(path, Deno.uid() ?? 0, required);
      this.log.log(
        "info",
        this.#policy.file === null
          ? `Policy reloaded: no policy file at "${path}", so only root and the HAM's user ` +
            `have a role`
          : `Policy reloaded from "${path}": ${this.#policy.grants.length} grants`,
      );
    } catch (err) {
      this.log.log("warn", `Cannot reload the policy, keeping it: ${(err as Error).message}`);
    }
  }

  /** Serves `GET /metrics` (the Prometheus text format) until the HAM stops. */
  #serveMetrics(addr: { hostname: string; port: number }, fsync: Histogram): void {
    try {
      this.#metricsServer = MetricsServer.listen(
        addr,
        () => renderMetrics(this.store.state, fsync),
        { log: (level, msg) => this.log.log(level, msg) },
      );
    } catch (err) {
      this.log.log(
        "error",
        `Cannot serve metrics on ${addr.hostname}:${addr.port}: ${(err as Error).message}`,
      );
    }
  }

  /** The running Guardian's pid, or null (none, or between two). */
  get guardianPid(): number | null {
    return this.#keeper?.pid ?? null;
  }

  /** Pids and start time, for `status`. */
  info(): HamInfo {
    return {
      hamPid: Deno.pid,
      guardianPid: this.guardianPid,
      startedAt: this.startedAt,
      logLinesLost: this.log.lostLines,
    };
  }

  /**
   * Schedules a refresh of the status files (coalesced: only the entities the journal
   * touched since are rendered again) and compaction when due.
   */
  changed(): void {
    this.#trim?.touch();
    this.#reconcileOutput();
    if (this.#stopping) return;
    void this.#mirror.schedule();
  }

  /**
   * Stops reading the output of entities that are gone. A detached process lives on and
   * keeps writing: its output is read (into its log) until it exits, so it never blocks on
   * a full pipe.
   */
  #reconcileOutput(): void {
    for (const name of this.output.entities) {
      if (this.store.state.entities.has(name) || this.#draining.has(name)) continue;
      const last = this.#detached.get(name);
      this.#detached.delete(name);
      let exited: Promise<unknown> | null = null;
      try {
        // A process this HAM spawned is Deno's to reap: a reaping watch would make its
        // `ChildProcess.status` reject with ECHILD (an unhandled rejection ends the HAM).
        const reap = last ? !denoChildren.has(last.pid) : false;
        if (last) exited = this.#watcher.watch(last.pid, last.startTime, { reap }).exited;
      } catch { /* already gone */ }
      if (exited === null) {
        this.output.remove(name);
        continue;
      }
      this.#draining.add(name);
      exited.then(() => {
        this.#draining.delete(name);
        if (!this.store.state.entities.has(name)) this.output.remove(name);
      });
    }
  }

  /** Resolves when the HAM has stopped. */
  get stopped(): Promise<void> {
    return this.#stopped.promise;
  }

  /**
   * Stops serving and monitoring; monitored processes keep running (QNX `ham_stop`), except
   * cluster entities: a member leaves the cluster, and they move to another node. As in
   * QNX the Guardian goes first: every client is told the HAM is stopping (so self-attached
   * ones do not try to reconnect), the Guardian is ended, then the HAM stops and releases
   * the lock. Only this ends both: a HAM that merely dies is taken over.
   */
  stop(): Promise<void> {
    this.#cancelDropPages();
    this.#trim?.stop();
    clearTimeout(this.#afterAnswersTimer);
    this.#stopping ??= (async () => {
      this.log.log("notice", `HAM ${Deno.pid} stopping`);
      clearTimeout(this.#rewatchTimer);
      // The last event: followers print it and end.
      this.hub.publish({ type: "stop", entity: "", detail: { hamPid: Deno.pid } });
      for (const server of [this.#server, this.#remoteServer]) {
        for (const c of server?.connections ?? []) c.send({ push: { type: "stopping" } });
      }
      // The engine first: nothing is restarted because of the Guardian's exit.
      this.engine.stop();
      await this.#keeper?.stop();
      // A cluster member leaves: its cluster entities end here and start on another node.
      await this.#cluster?.leave().catch((err) =>
        this.log.log("error", `Cannot leave the cluster cleanly: ${err}`)
      );
      await this.#server.close();
      await this.#remoteServer?.close();
      // The channels' file knows every notification when this HAM is done.
      this.subscriptions.catchUp();
      this.#channels.close();
      this.hub.close();
      await this.#mirror.close();
      this.#reaper.stop();
      this.output.close();
      await this.#metricsServer?.close();
      await this.#watcher.close();
      await this.store.close();
      try {
        Deno.removeSync(socketPath(this.stateDir));
      } catch { /* gone */ }
      this.#lock.close();
      dropReserve();
      this.#stopped.resolve();
    })();
    return this.#stopping;
  }
}

/** Tells the quiet trim of every request: a trim waits until the HAM has been quiet a while. */
function touching(handle: RequestHandler, trim: QuietTrim | null): RequestHandler {
  if (trim === null) return handle;
  return (req, conn) => {
    trim.touch();
    return handle(req, conn);
  };
}

/**
 * Logs every refused request (at the default verbosity): who asked, what, and the error.
 * A `wait` that timed out is an answer, not a refusal; nor is a request whose caller left
 * (ECANCELED: `hamctl attach --wait` leaves one of its two waits behind every time).
 */
function logRefusals(handle: RequestHandler, log: Logger): RequestHandler {
  return async (req, conn) => {
    try {
      return await handle(req, conn);
    } catch (err) {
      const e = toHamError(err);
      if (e.code !== "ETIMEDOUT" && e.code !== "ECANCELED") {
        const peer = conn.credentials;
        const who = peer !== null
          ? `${conn.client} uid ${peer.uid} pid ${peer.pid}`
          : conn.peer.identity !== null
          ? `${conn.client} "${conn.peer.identity}"`
          : `${conn.client}${conn.pid === null ? "" : ` pid ${conn.pid}`}`;
        log.log("notice", `Refused "${req.op}" from ${who}: ${e.code}: ${e.message}`);
      }
      throw err;
    }
  };
}
/**
 * Opens the durable event log; without it (unwritable directory) events stay in memory. A
 * takeover reads only the end of the log: the HAM that died opened it (see `checkedBefore`).
 */
function openEventLog(stateDir: string, log: Logger, takeover: boolean): EventLog | undefined {
  try {
    return EventLog.open(stateDir, { checkedBefore: takeover });
  } catch (err) {
    log.log(
      "warn",
      `Cannot open the event log, events are kept in memory only: ${(err as Error).message}`,
    );
    return undefined;
  }
}

/**
 * Where a start's time goes, phase by phase (the takeover's log line): each phase runs
 * from the end of the one before; the first from `lockedAt` (the lock held) through the
 * handover of the live copy to the state built.
 */
class TakeoverTiming {
  #last: number;
  #phases: Array<[string, number]> = [];

  constructor(lockedAt: number, now: number) {
    this.#last = Math.min(lockedAt, now);
  }

  /** Ends the phase `name` now. */
  mark(name: string): void {
    const now = performance.now();
    this.#phases.push([name, now - this.#last]);
    this.#last = now;
  }

  /** The phase's milliseconds (0 when not marked). */
  ms(name: string): number {
    return this.#phases.find(([n]) => n === name)?.[1] ?? 0;
  }

  /** `12.3 ms, failure record 1.2 ms, set-up ...`: the first phase's name is the caller's. */
  text(): string {
    return this.#phases.map(([n, ms], i) => `${i === 0 ? "" : `${n} `}${ms.toFixed(1)} ms`)
      .join(", ");
  }
}
