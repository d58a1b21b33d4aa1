/**
 * The one table of defaults and limits (OTP's `?default_flags`): every value a user could
 * ask "what is it unless I say otherwise?" or "how much is too much?" lives here, once, and
 * the code reads it from here. The README's "Defaults" table lists the same rows, and
 * `tests/lib/core/defaults_test.ts` checks the two against each other.
 *
 * To add a row: add a property to {@linkcode DEFAULTS} with a JSDoc sentence that says what
 * it bounds or defaults and its unit, and a row to the README's table that names the property
 * and starts its "Default" cell with the value as {@linkcode formatDefault} prints it. The
 * property's name says its unit, and so how it is printed:
 *
 * | name ends in | unit         | printed as                        |
 * | ------------ | ------------ | --------------------------------- |
 * | `Ms`         | milliseconds | `30 s`, `200 ms`                  |
 * | `Bytes`      | bytes        | `4 MiB`, `256 KiB`, `255 bytes`   |
 * | `Mode`       | file mode    | `` `0700` ``                      |
 * | other        | count/number | `50,000`, `0.5`; strings in `` ` `` |
 *
 * @example
 * ```ts
 * import { DEFAULTS, formatDefault } from "./defaults.ts";
 * console.log(formatDefault("requestTimeoutMs", DEFAULTS.requestTimeoutMs)); // "30 s"
 * ```
 *
 * @module
 */

/** Every default and limit of ham, by name; the name's suffix gives the unit. */
export const DEFAULTS = Object.freeze({
  // --- State directory and files ---
  /** State directory when running as root and neither `--state-dir` nor `$HAM_STATE_DIR` is set. */
  rootStateDir: "/run/ham",
  /** State directory for other users in the same case, when `$XDG_RUNTIME_DIR` is set (never `/tmp`). */
  userStateDir: "$XDG_RUNTIME_DIR/ham",
  /** State directory for other users without `$XDG_RUNTIME_DIR`. */
  userStateDirFallback: "${XDG_STATE_HOME:-$HOME/.local/state}/ham",
  /** Name of the policy file in the state directory (`ham --policy FILE` names another). */
  policyFileName: "policy",
  /** File mode of the state directory (and the directories the HAM creates in it). */
  stateDirMode: 0o700,
  /** File mode of the control socket. */
  socketMode: 0o600,
  /** File mode of the lock file (and the other files the HAM creates in the state directory). */
  lockMode: 0o600,
  /** Name of the activity log in the state directory, written when the HAM runs detached (stderr otherwise). */
  logFileName: "ham.log",
  /** Verbosity of the activity log: 1 is errors and warnings (`-v` 2, `-vv` 3). */
  verbosity: 1,

  // --- Limits on requests ---
  /** Longest request line accepted, in bytes; a longer one gets `EMSGSIZE` and the connection is closed. */
  maxLineBytes: 256 * 1024,
  /** Longest `entity/condition/action` path, in UTF-8 bytes (QNX: `_POSIX_PATH_MAX`). */
  maxPathBytes: 255,
  /** Most argv entries accepted for a command. */
  maxArgv: 4096,
  /** Longest message of a log action, in characters. */
  maxLogMessage: 4096,
  /** Largest time value accepted anywhere, in ms: about 24.8 days, the `setTimeout` limit. */
  maxDurationMs: 2 ** 31 - 1,
  /** Events an `events` request answers when it does not say how many. */
  eventsLimit: 1000,
  /** Most events one `events` request may ask for. */
  maxEventsLimit: 100_000,
  /** Most bytes queued for one subscriber before it is told it lagged and its stream is dropped. */
  maxSubscriberBacklogBytes: 4 * 1024 * 1024,
  /**
   * Events a library subscription holds that its caller has not read, past which it ends as
   * the HAM ends a lagging subscriber (`endReason` `"lagged"`, `resumeFrom`).
   */
  maxUnreadEvents: 10_000,
  /**
   * Unsent output of a connection above which the catch-up replay of its subscription (the
   * events before it went live, read from the log a chunk at a time) waits for it to drain, in bytes.
   */
  catchUpHighWaterBytes: 256 * 1024,

  // --- Connections (what one client can cost the HAM) ---
  /** Connections served at once; more are refused with `ENOMEM`. */
  maxConnections: 2048,
  /** After a refused journal write (a full disk), how long until unrecorded deaths are looked at again, in ms. */
  refusedWriteRetryMs: 1000,
  /** Records of what happened kept in memory while the journal refuses them (a full disk); past it they fail like requests. */
  maxKeptRecords: 100_000,
  /** Time a new connection has to send its hello, in ms; then `ETIMEDOUT` and close. */
  helloTimeoutMs: 10_000,
  /** Unsent answers and pushes of one connection past which it is told (`ENOMEM`) and closed, in bytes. */
  maxOutputBytes: 16 * 1024 * 1024,
  /**
   * The most a connection's kernel send buffer is raised to when a big answer fills it
   * (the kernel also caps it at `net.core.wmem_max`).
   */
  maxSendBufferBytes: 4 * 1024 * 1024,
  /** Unsent output of one connection past which its requests are not read until it drains, in bytes. */
  pauseReadingBytes: 1024 * 1024,
  /** Requests of one connection handled at once; reading its requests pauses at this many. */
  maxRequestsInFlight: 1024,
  /**
   * Connections to `--metrics-listen` open at once; past it a new one takes the place of the
   * oldest that has not sent its request yet (or is closed when all are being answered).
   */
  maxMetricsConnections: 16,
  /** Time a metrics connection has from its accept to the end of its request head, in ms; then it is closed. */
  metricsRequestTimeoutMs: 2_000,
  /** Largest request head a metrics connection may send, in bytes; a bigger one is answered 431 and closed. */
  maxMetricsRequestBytes: 8 * 1024,
  /** Time to write a metrics answer, in ms; then its connection is closed. */
  metricsAnswerTimeoutMs: 10_000,

  // --- Journal and event log ---
  /** Largest journal record frame, in bytes; a bigger length field means a corrupt frame. */
  maxFrameBytes: 16 * 1024 * 1024,
  /** Journal size since the last snapshot, in bytes, past which the HAM compacts (takes a snapshot). */
  compactBytes: 4 * 1024 * 1024,
  /** Journal records since the last snapshot past which the HAM compacts (`HAM_COMPACT_RECORDS`). */
  compactRecords: 50_000,
  /** Size of one event log segment, in bytes, past which the log rotates. */
  eventSegmentBytes: 1024 * 1024,
  /** Event log segments kept; older ones are deleted. */
  eventSegments: 16,
  /** Longest time between an event and its fdatasync, in ms. */
  eventSyncMs: 200,
  /**
   * Notifications a notify channel keeps for subscribers that are away; with named
   * subscribers, a notify that finds this many waiting for the slowest fails.
   */
  channelBacklog: 1000,
  /** Named channel subscribers (durable cursors) the HAM keeps, over all channels. */
  maxNamedSubscribers: 1000,

  // --- Restart policy (the fields of a restart action's policy) ---
  /** Backoff before the second restart within the window, in ms (doubled for each further one). */
  restartBackoffMs: 100,
  /** Cap on the backoff, in ms. */
  restartMaxBackoffMs: 5_000,
  /** Random spread of the backoff, as a fraction of it (0 to 1). */
  restartJitter: 0,
  /** Restarts within the window that trip `restart-limit`; 0 means no limit. */
  restartIntensity: 5,
  /** Length of the window restarts are counted in, in ms. */
  restartWindowMs: 10_000,
  /** Wait before the one retry after `restart-limit`, in ms; 0 means give up. */
  restartCooldownMs: 0,

  // --- Actions ---
  /** Verbosity at or above which a log action's message is written. */
  logActionVerbosity: 1,
  /** Whether a log action prefixes its message with the item path. */
  logActionPrefix: true,
  /** Signal a signal action sends when none is given. */
  signalActionSignal: "SIGTERM",
  /** Time limit of an execute action's command when the action gives none (`--timeout`), in ms (systemd's `TimeoutStartSec=`); 0 means none. */
  executeTimeoutMs: 90_000,
  /** Execute action past its time limit: wait after SIGTERM to the command (and what it forked) before SIGKILL, in ms. */
  executeStopTimeoutMs: 5_000,

  // --- Clients and waits ---
  /** Time limit of the handshake and of each client request, in ms; 0 means none. */
  requestTimeoutMs: 30_000,
  /**
   * Requests sent without a reply wanted (`heartbeat` with `reply: false`) a client keeps
   * the ids of, to recognize the HAM's refusal of one.
   */
  unansweredRequestsTracked: 1024,
  /** Time limit of `wait` (and `hamctl wait`, `waitRestart`), in ms. */
  waitTimeoutMs: 30_000,
  /** `hamctl attach --wait`: how long it waits for the entity to run, in ms. */
  attachWaitMs: 10_000,
  /** `hamctl stop`: how long it waits for the HAM and its Guardian to be gone, in ms. */
  stopWaitMs: 10_000,
  /** How long a reconnecting client keeps trying to reach a HAM, in ms. */
  reconnectWithinMs: 30_000,
  /** How long a self-attached `Ham` keeps trying to re-attach after a HAM change, in ms. */
  reattachWithinMs: 30_000,
  /** How long `hamctl events --follow` keeps trying to reach a HAM after losing it, in ms. */
  followReconnectMs: 30_000,
  /**
   * Longest pause between two recoveries of one failed operation (client recovery library,
   * `ha.ts`): the first re-issue is at once, then 1, 2, 4 ms ... up to this, so a recovery
   * function that answers true without repairing anything cannot hold its event loop.
   */
  haRecoveryPauseMaxMs: 100,
  /** Heartbeat grace after restarting a self-attached entity, in ms (it ends at its re-attach: a restarted Deno process took 1.6 s to start and attach on a loaded 2-core machine). */
  restartHeartbeatGraceMs: 5_000,

  // --- Other nodes and the cluster ---
  /**
   * Time a connection to `ham --listen` has to finish its TLS handshake, in ms; then it is
   * closed (each counts against the cap from its accept).
   */
  tlsHandshakeTimeoutMs: 5_000,
  /**
   * Share of the HAM's descriptor limit that connections to `ham --listen` (handshakes
   * included) may hold: their cap is the smaller of this and `maxConnections`.
   */
  remoteFdShare: 0.25,
  /** Time limit of the TCP connection and TLS handshake to another node's HAM, in ms. */
  nodeConnectTimeoutMs: 5_000,
  /** Time limit of a notify or signal action forwarded to another node: connection, handshake and answer, in ms. */
  nodeForwardTimeoutMs: 5_000,
  /** First wait before a forwarded action dials again a node that refused or lost its dial, in ms (doubling). */
  nodeRedialMs: 10,
  /** Longest wait between two dials of a node by a forwarded action, in ms. */
  nodeRedialMaxMs: 250,
  /** Lease TTL of a cluster node (`--cluster-ttl`), in ms: etcd's minimum with default timing. */
  clusterTtlMs: 2_000,
  /** Lease renewals and placement checks per TTL ("renew often"). */
  clusterTicksPerTtl: 10,
  /** A holder that could not renew its lease for this fraction of the TTL stops its copies ("fence late"). */
  clusterFenceFraction: 0.8,
  /** Time limit of one etcd request, as a fraction of the TTL. */
  clusterRequestFraction: 0.25,
  /** Ticks per rank a less preferred node waits before competing for a free cluster entity. */
  clusterRankTicks: 2,

  /** Heartbeats: longest the HAM counts ended periods at a time before it serves requests and deaths again, in ms (more periods end than it can count: they are counted late). */
  heartbeatTurnMs: 20,
  /** Heartbeats: later periods whose beats are kept while the period-end timer runs late (a beat counts in the period it arrived in). */
  heartbeatPeriodsAhead: 16,
  /** Heartbeats: a wall clock that moved this much more or less than the monotonic clock over one wait of the period-end timer (beyond 0.1% of the wait, NTP's slewing) was set: periods count again from the new time, in ms. */
  clockStepMs: 100,
  /** After a takeover or restart of the HAM: how long it looks again for the process of an attach the previous HAM never acknowledged (forked, not yet exec'd), to end it, in ms. */
  abandonedSpawnLookMs: 2_000,
  /** Heartbeat slots (beats through shared memory) one connection can hold: one per entity it beats for; more beat over the socket. */
  heartbeatSlotsPerConnection: 65_536,
  /** Heartbeat slots of all connections together (128 B each, allocated on disk by pages of 32): beyond it, beats go over the socket. */
  heartbeatSlotsTotal: 262_144,
  // --- An entity's own children ---
  /** What is done with what an entity's process leaves behind (`--kill-mode`): `control-group` ends it, `process` keeps and lists it. */
  killMode: "control-group" as "control-group" | "process",
  /** Kill mode `control-group`: wait after SIGTERM to the leftovers before SIGKILL, in ms (a restart waits for them). */
  leftoverStopTimeoutMs: 5_000,
  /** Kill mode `process`: most leftovers listed (and watched) per entity; more are kept unlisted. */
  maxLeftovers: 256,
  /** File actions of `posix_spawn()` kept for reuse, one per distinct streams and directory (a restart reuses its entity's). */
  spawnActionsKept: 64,
  /** A process in the middle of an `execve()` shows no environment (nor arguments) yet: how long its spawn marker is read again before it counts as absent, in ms. */
  execSettleMs: 250,

  // --- Operating ham ---
  /** `hamctl restart`: wait after SIGTERM before SIGKILL, in ms. */
  restartStopTimeoutMs: 10_000,
  /** PID 1 keeper: how long a stop (SIGTERM) may take before it exits anyway, in ms. */
  keeperStopTimeoutMs: 30_000,
  /** PID 1 keeper: how long a Guardian gets to take over a free lock before a new HAM starts, in ms. */
  keeperTakeoverGraceMs: 2000,
  /**
   * A Guardian that took over writes the status files this long after it answers (they are
   * the dead HAM's until then: right but for its pids), in ms.
   */
  takeoverMirrorDelayMs: 250,
  /**
   * A Guardian that took over starts its own Guardian this long after it answers (its
   * start-up would compete with the first answers for the CPU), in ms.
   */
  takeoverGuardianDelayMs: 250,
  /**
   * A Guardian joins the full status answer of its live copy once the mirrored changes
   * pause this long (or ten times the last join, if longer), in ms: the first answer after
   * its takeover is then a copy.
   */
  guardianAnswerPrepareMs: 25,
  /**
   * Share of its descriptor limit the Guardian's hot standby (pidfds, held FIFOs) may hold;
   * what does not fit is opened at a takeover.
   */
  guardianStandbyFdShare: 0.5,
  /** Size of an entity's output log (`<state-dir>/logs/NAME.log`), in bytes, past which it rotates. */
  entityLogBytes: 10 * 1024 * 1024,
  /** Rotated entity output logs kept (`NAME.log.1` … `NAME.log.N`); older ones are deleted. */
  entityLogFiles: 5,
  /** Longest entity output line, in bytes; a longer one is cut into several log lines. */
  maxEntityLogLineBytes: 16 * 1024,
  /**
   * How often the status mirror's heartbeat fields (`Last Heartbeat`, `Missed Heartbeats`:
   * they move without a journal record) are looked at and, where they moved, written, in
   * ms; no timer runs while no entity has a heartbeat.
   */
  statusHeartbeatRefreshMs: 1000,
  /**
   * Entities whose heartbeat fields one refresh of the status mirror writes at most: those
   * whose missed count moved first, then the longest unrefreshed (1,000 entities beating
   * cost 100 files a second, not 1,000).
   */
  statusHeartbeatRefreshBatch: 100,

  // --- Memory and idle CPU ---
  /**
   * V8 flags of the HAM and Guardian (long-lived daemons): a young generation of at most
   * 1 MiB per semi-space (`--max-semi-space-size`: fewer and shorter scavenges' worth of
   * memory), no memory reducer (its collections come ~25 s after a burst of requests:
   * 70–90 ms of CPU of an otherwise idle HAM and Guardian; the quiet trim does its work
   * sooner), and `gc()` for the quiet trim (`--expose-gc`).
   */
  daemonV8Flags: "--max-semi-space-size=1,--no-memory-reducer,--expose-gc",
  /**
   * After work, a HAM or Guardian quiet this long trims its memory (a compacting V8
   * collection, then `malloc_trim`) when its V8 heap grew since the last trim, in ms.
   */
  quietTrimMs: 500,
  /** Growth of a daemon's V8 heap since its last trim that makes a quiet trim worth it, in bytes. */
  quietTrimGrowthBytes: 1024 * 1024,
  /**
   * Largest share of a core quiet trims may take: the next trim waits at least the last
   * one's time divided by this.
   */
  quietTrimCostShare: 0.02,
  /**
   * Largest V8 heap a quiet trim compacts, in bytes: a bigger one is left to V8's own
   * collections (its trim would stop the daemon ~5 ms per MiB, and a death in that time waits).
   */
  quietTrimMaxHeapBytes: 24 * 1024 * 1024,
  /**
   * glibc malloc of the HAM (set by `bin/ham` and for the HAMs it starts; not the
   * Guardian's, whose takeover it slowed; never passed on to entities): one arena for all
   * threads, 64 KiB trim and mmap thresholds, no top pad (the HAM's Pss_Anon −0.7 MiB).
   */
  daemonMallocEnv:
    "MALLOC_ARENA_MAX=1 MALLOC_TOP_PAD_=0 MALLOC_TRIM_THRESHOLD_=65536 MALLOC_MMAP_THRESHOLD_=65536",
  /**
   * After this long, a started HAM or Guardian drops from its page tables the read-only
   * pages of the Deno executable it touched (`madvise(MADV_DONTNEED)`: start-up code and
   * snapshot; the code still in use faults back in), in ms.
   */
  startUpPagesDropMs: 2_000,
});

/** The name of a row of {@linkcode DEFAULTS}. */
export type DefaultName = keyof typeof DEFAULTS;

const KIB = 1024;
const MIB = 1024 * 1024;

/**
 * Prints a default the way the README's table shows it; the name's suffix gives the unit.
 *
 * @example
 * ```ts
 * import { formatDefault } from "./defaults.ts";
 * console.log(formatDefault("maxLineBytes", 262144)); // "256 KiB"
 * console.log(formatDefault("stateDirMode", 0o700)); // "`0700`"
 * ```
 */
export function formatDefault(name: string, value: number | string | boolean): string {
  if (typeof value === "string") return "`" + value + "`";
  if (typeof value === "boolean") return value ? "on" : "off";
  if (name.endsWith("Mode")) return "`0" + value.toString(8) + "`";
  if (name.endsWith("Ms")) {
    if (value !== 0 && value % 1000 === 0) return `${(value / 1000).toLocaleString("en-US")} s`;
    return `${value.toLocaleString("en-US")} ms`;
  }
  if (name.endsWith("Bytes")) {
    if (value !== 0 && value % MIB === 0) return `${value / MIB} MiB`;
    if (value !== 0 && value % KIB === 0) return `${value / KIB} KiB`;
    return `${value.toLocaleString("en-US")} bytes`;
  }
  return value.toLocaleString("en-US");
}
