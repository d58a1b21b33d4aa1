/**
 * `ham`: starts the HAM and its Guardian. Detaches and returns once the control socket
 * answers, unless `--foreground`.
 *
 * Stopping, as in QNX: only `hamctl stop` (or `ham_stop`) ends both, the Guardian first.
 * SIGTERM or SIGINT to a HAM that has a Guardian makes the HAM exit at once, without
 * stopping its Guardian, which takes over (as killing the HAM by hand does in QNX); a HAM
 * started with `--no-guardian` (or whose Guardian is between two starts) stops cleanly on
 * them instead.
 *
 * @module
 */

import { exitOnUncaught, logFatalTo } from "../lib/os/fatal.ts";
import { HamClient } from "../lib/client/client.ts";
import { parseRoleOptions } from "./hamctl/parse_args.ts";
import { requestStop } from "../lib/client/ham.ts";
import type { ConfigFile } from "../lib/os/config_file.ts";
import { HamDaemon } from "../lib/daemon/daemon.ts";
import { startServiceNotify } from "../lib/daemon/service_notify.ts";
import { EXIT_CODES, HamError, isErrorCode, osReason, toHamError } from "../lib/core/errors.ts";
import { VERSION_LINE } from "../lib/core/version.ts";
import {
  createLogger,
  isLogFormat,
  isTimestampStyle,
  logFileWriter,
  type LogFormat,
  type Logger,
} from "../lib/os/logger.ts";
import { selfCommand } from "../lib/os/self_command.ts";
import { daemonEnv, scrubDaemonEnv } from "../lib/os/daemon_env.ts";
import { logPath, prepareStateDir, resolveStateDir } from "../lib/os/state_dir.ts";
import { resolveGroup } from "../lib/os/policy_file.ts";
import { openNoFollowSync } from "../lib/os/safe_open.ts";
import { lockBusy } from "../lib/store/state_lock.ts";
import { DEFAULTS } from "../lib/core/defaults.ts";
import {
  clusterOptions,
  listenOptions,
  REMOTE_OPTIONS,
  remoteArgs,
  type RemoteFlags,
} from "./ham_remote.ts";

export const USAGE =
  `Usage: ham [--state-dir DIR] [--foreground] [--no-guardian] [-v...] [--log FILE] [--timestamps none|relative|absolute]
           [--log-format text|json] [--config FILE]
           [--metrics-listen HOST:PORT] [--recover] [--policy FILE] [--socket-group GROUP]

Starts the High Availability Manager (and its Guardian) on a state directory.
  --state-dir DIR  state directory (default: $HAM_STATE_DIR; /run/ham as root; else
                   $XDG_RUNTIME_DIR/ham, else \${XDG_STATE_HOME:-$HOME/.local/state}/ham)
  --foreground     stay attached (for systemd or a container); default: detach once ready
  --no-guardian    run without a Guardian (nothing takes over if the HAM dies)
  -v               more verbose (repeat: -vv, -vvv)
  --log FILE       log file (default: stderr in the foreground, DIR/ham.log when detached)
  --timestamps S   timestamp style of log lines (default: absolute)
  --log-format F   text, or json: one JSON object per line (default: text)
  --config FILE    make the HAM match this config file (YAML or JSON) once started
  --metrics-listen HOST:PORT  serve the metrics (Prometheus text) at http://HOST:PORT/metrics
  --recover        start even if the journal is corrupt, keeping what precedes the damage;
                   damaged files are moved into DIR/recovered-<date>, never deleted
  --policy FILE    who may do what (default: DIR/policy if it exists; else only root and
                   this user); SIGHUP reads it again
  --socket-group G make the control socket group-accessible (mode 0660) to group G; each
                   request is still checked against the policy
  -h, --help       print this help
  -V, --version    print the version
  --listen HOST:PORT  also serve over mutual TLS (needs --tls-cert, --tls-key, --tls-ca)
  --tls-cert FILE  the server's certificate (PEM)
  --tls-key FILE   its key (PEM)
  --tls-ca FILE    the CA that signs client certificates (PEM)
  --tls-role CN=ROLE  the role (read, report, admin) of a client certificate's CN (repeat)
  --nodes FILE     the nodes file, for actions that name another node
  --cluster URL    join the cluster kept in etcd at URL (http://HOST:PORT)
  --node-name NAME this node's name in the cluster (default: the host name)
  --cluster-ttl D  the node's lease TTL (default 2s; whole seconds)

Signals: SIGHUP reopens the --log file and reads the policy file again. SIGTERM or SIGINT
to a HAM that has a Guardian is taken for a crash: the Guardian takes over (as in QNX);
only "hamctl stop" stops both. Without a Guardian they stop the HAM.

Exit codes: 0 ok (detached: once the HAM serves), 1 failed (the message says why, with its
code, such as EBUSY: another HAM holds the state directory), 2 usage.

Environment: HAM_COMPACT_RECORDS=N compacts the journal past N records (default ${DEFAULTS.compactRecords};
for tests, which use a low value to make compactions frequent).
`;

/** Runs the `ham` role; returns the exit code. */
export async function ham(args: string[]): Promise<number> {
  exitOnUncaught("ham");
  scrubDaemonEnv();
  let flags;
  try {
    flags = parseRoleOptions(args, {
      "state-dir": { type: "string" },
      foreground: { type: "boolean" },
      v: { type: "boolean", short: "v", multiple: true },
      log: { type: "string" },
      timestamps: { type: "string" },
      "log-format": { type: "string" },
      config: { type: "string" },
      "metrics-listen": { type: "string" },
      recover: { type: "boolean" },
      "no-guardian": { type: "boolean" },
      policy: { type: "string" },
      "socket-group": { type: "string" },
      help: { type: "boolean", short: "h" },
      version: { type: "boolean", short: "V" },
      ...REMOTE_OPTIONS,
    });
  } catch (err) {
    console.error(`ham: ${(err as Error).message}\n${USAGE}`);
    return EXIT_CODES.usage;
  }
  if (flags.version) {
    console.log(VERSION_LINE);
    return EXIT_CODES.ok;
  }
  if (flags.help) {
    console.log(USAGE);
    return EXIT_CODES.ok;
  }
  const ts = flags.timestamps ?? "absolute";
  if (!isTimestampStyle(ts)) {
    console.error(
      `ham: Invalid --timestamps "${ts}": expected none, relative or absolute\n${USAGE}`,
    );
    return EXIT_CODES.usage;
  }
  const logFormat = flags["log-format"] ?? "text";
  if (!isLogFormat(logFormat)) {
    console.error(`ham: Invalid --log-format "${logFormat}": expected text or json\n${USAGE}`);
    return EXIT_CODES.usage;
  }
  let metricsListen: { hostname: string; port: number } | undefined;
  if (flags["metrics-listen"] !== undefined) {
    try {
      metricsListen = parseListen(flags["metrics-listen"], "--metrics-listen");
    } catch (err) {
      console.error(`ham: ${(err as Error).message}\n${USAGE}`);
      return EXIT_CODES.usage;
    }
  }
  let stateDir: string;
  let socketGroup: number | null = null;
  try {
    stateDir = resolveStateDir(flags["state-dir"]);
    prepareStateDir(stateDir);
    if (flags["socket-group"] !== undefined) socketGroup = resolveGroup(flags["socket-group"]);
  } catch (err) {
    const e = asHamError(err);
    console.error(`ham: ${e.code}: ${e.message}`);
    return EXIT_CODES.failed;
  }
  const policyFile = flags.policy === undefined ? undefined : resolvePath(flags.policy);
  const verbosity = flags.v ? 1 + flags.v.length : undefined;
  let config: ConfigFile | undefined;
  if (flags.config !== undefined) {
    try {
      // Checked before anything starts: a bad file is an error at once.
      config = await (await import("../lib/os/config_file.ts")).loadConfig(flags.config);
    } catch (err) {
      const e = asHamError(err);
      console.error(`ham: ${e.code}: ${e.message}`);
      return EXIT_CODES.failed;
    }
  }
  if (!flags.foreground) {
    const code = await detach(stateDir, withoutConfig(args), flags.log ?? logPath(stateDir));
    return code === EXIT_CODES.ok && config ? await applyAtStart(stateDir, config) : code;
  }
  let write: ReturnType<typeof logFileWriter>;
  try {
    write = logFileWriter(flags.log);
  } catch (err) {
    const e = asHamError(err);
    // A system error alone says neither which file nor what for.
    const why = err instanceof HamError
      ? e.message
      : `Cannot open log file "${flags.log}": ${osReason(err)}`;
    console.error(`ham: ${e.code}: ${why}`);
    return EXIT_CODES.failed;
  }
  if (Deno.pid === 1) {
    // PID 1 of a container: a minimal keeper, with the HAM (and its Guardian) as children.
    const { runKeeper } = await import("../lib/daemon/pid1_keeper.ts");
    return await runKeeper({
      stateDir,
      command: [...selfCommand(), "ham", ...args, "--state-dir", stateDir],
      log: createLogger({
        verbosity: () => verbosity ?? 1,
        write,
        timestamps: ts,
        format: logFormat,
      }),
      stopTimeoutMs: DEFAULTS.keeperStopTimeoutMs,
      takeoverGraceMs: DEFAULTS.keeperTakeoverGraceMs,
    });
  }
  let daemon: HamDaemon;
  try {
    const remote = flags as RemoteFlags;
    daemon = await HamDaemon.start({
      listen: listenOptions(remote),
      cluster: clusterOptions(remote),
      nodes: remote.nodes,
      stateDir,
      verbosity,
      timestamps: ts,
      logFormat,
      metricsListen,
      recover: flags.recover ?? false,
      write,
      guardian: !flags["no-guardian"],
      guardianArgs: [
        ...guardianArgs({
          log: flags.log,
          timestamps: ts,
          logFormat,
          policyFile,
          socketGroup: flags["socket-group"],
          metricsListen: flags["metrics-listen"],
        }),
        ...remoteArgs(remote),
      ],
      compactRecords: compactRecordsFromEnv(),
      policyFile,
      socketGroup,
    });
  } catch (err) {
    const e = asHamError(err);
    console.error(`ham: ${e.code}: ${e.message}`);
    return EXIT_CODES.failed;
  }
  logFatalTo((line) => daemon.log.log("error", line));
  if (config) {
    const code = await applyAtStart(stateDir, config, daemon.log);
    if (code !== EXIT_CODES.ok) return code;
  }
  return await serve(daemon);
}

/**
 * `err` as a HamError. The config reader and `apply` are loaded on use, outside the daemon's
 * one-file bundle, so their HamError is another class: known by its code, not `instanceof`.
 */
function asHamError(err: unknown): HamError {
  if (err instanceof HamError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  if (isErrorCode(code)) {
    return new HamError(code, err instanceof Error ? err.message : String(err), { cause: err });
  }
  return toHamError(err);
}

/** `args` without `--config FILE` (the detached HAM's; the parent applies the file). */
function withoutConfig(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--config") i++;
    else if (!args[i].startsWith("--config=")) out.push(args[i]);
  }
  return out;
}

/**
 * `ham --config FILE`: makes the HAM just started match the file, before `ham` reports it
 * ready (or, detached, returns). On failure the HAM is stopped and `ham` fails.
 */
async function applyAtStart(stateDir: string, file: ConfigFile, log?: Logger): Promise<number> {
  const { applyConfig, changeLine } = await import("../lib/client/config_apply.ts");
  await using client = await HamClient.connect({ stateDir, client: "ham --config" });
  try {
    await applyConfig(client, file, {
      onChange: (c) => log?.log("notice", `Config "${file.path}": ${changeLine(c)}`),
    });
    return EXIT_CODES.ok;
  } catch (err) {
    const e = asHamError(err);
    console.error(`ham: ${e.code}: ${e.message}`);
    await requestStop(client);
    return EXIT_CODES.failed;
  }
}

/** `HAM_COMPACT_RECORDS`, when set to a positive integer. */
export function compactRecordsFromEnv(): number | undefined {
  const n = Number(Deno.env.get("HAM_COMPACT_RECORDS") ?? "");
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

/** What a Guardian passes on to the HAM it becomes. */
export interface PassedOn {
  log: string | undefined;
  timestamps: string;
  logFormat: LogFormat;
  /** The policy file given with `--policy` (absolute). */
  policyFile?: string;
  /** The group given with `--socket-group`. */
  socketGroup?: string;
  /** `--metrics-listen`, served by the HAM a Guardian becomes. */
  metricsListen?: string;
}

/** Parses `HOST:PORT` (`[::1]:PORT` for IPv6); throws naming the option. */
export function parseListen(text: string, option: string): { hostname: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port < 1 || port > 65535) {
    throw new Error(`Invalid ${option} "${text}": expected HOST:PORT, such as 127.0.0.1:9464`);
  }
  return { hostname: m[1].replace(/^\[(.*)\]$/, "$1"), port };
}

/**
 * The Guardian's extra arguments: it logs where its HAM logs, the same way, and takes over
 * with the same policy and socket group.
 */
export function guardianArgs(o: PassedOn): string[] {
  return [
    ...(o.log ? ["--log", o.log] : []),
    "--timestamps",
    o.timestamps,
    "--log-format",
    o.logFormat,
    ...(o.policyFile ? ["--policy", o.policyFile] : []),
    ...(o.socketGroup ? ["--socket-group", o.socketGroup] : []),
    ...(o.metricsListen ? ["--metrics-listen", o.metricsListen] : []),
  ];
}

/** `path` made absolute (the detached HAM and its Guardian run elsewhere). */
export function resolvePath(path: string): string {
  return path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
}

/**
 * Serves until the HAM stops; returns the exit code. SIGTERM and SIGINT: a HAM with a
 * running Guardian exits at once, leaving the Guardian to take over; one without stops.
 * `pending`: a signal that came while the HAM was starting, acted on now.
 */
export async function serve(
  daemon: HamDaemon,
  pending?: Deno.Signal,
  takeover = false,
): Promise<number> {
  // systemd (Type=notify): READY=1 now that the socket accepts; MAINPID after a takeover.
  const notify = startServiceNotify(daemon, takeover);
  const handlers = new Map<Deno.Signal, () => void>();
  const listeners = (["SIGTERM", "SIGINT"] as const).map((signal) => {
    const listener = () => {
      const guardian = daemon.guardianPid;
      if (guardian === null) return void daemon.stop();
      daemon.log.log(
        "warn",
        `HAM ${Deno.pid} exiting on ${signal}: Guardian ${guardian} takes over ` +
          `(only "hamctl stop" stops both)`,
      );
      Deno.exit(EXIT_CODES.ok);
    };
    Deno.addSignalListener(signal, listener);
    handlers.set(signal, listener);
    return () => Deno.removeSignalListener(signal, listener);
  });
  const onHangup = () => {
    reopenLog(daemon.log, "HAM");
    daemon.reloadPolicy();
  };
  Deno.addSignalListener("SIGHUP", onHangup);
  if (pending) handlers.get(pending)?.();
  await daemon.stopped;
  notify?.stop();
  for (const remove of listeners) remove();
  Deno.removeSignalListener("SIGHUP", onHangup);
  return EXIT_CODES.ok;
}

/** SIGHUP: reopens the log file (after logrotate moved it) and says so in the new one. */
export function reopenLog(log: Logger, role: string): void {
  if (log.reopen()) {
    log.log("info", `${role} ${Deno.pid} reopened its log on SIGHUP`);
  } else {
    log.log("warn", `${role} ${Deno.pid} could not reopen its log on SIGHUP, keeping the old one`);
  }
}

/**
 * Starts `ham --foreground` in the background, its output appended to the log file; returns
 * once it answers on the socket. A HAM answering there that is not the one started (another
 * HAM on the state directory: the one started then fails with EBUSY) fails as the
 * foreground HAM does.
 */
async function detach(stateDir: string, args: string[], log: string): Promise<number> {
  // Created (or checked) here, never through a planted link: the shell then appends to it.
  try {
    openNoFollowSync(log, { append: true, create: true, mode: DEFAULTS.lockMode }).close();
  } catch (err) {
    const e = asHamError(err);
    console.error(`ham: ${e.code}: Cannot open log file "${log}": ${osReason(err)}`);
    return EXIT_CODES.failed;
  }
  const cmd = [...selfCommand(), "ham", ...args, "--foreground", "--state-dir", stateDir];
  const child = new Deno.Command("/bin/sh", {
    args: ["-c", 'log="$1"; shift; exec "$@" >>"$log" 2>&1 </dev/null', "sh", log, ...cmd],
    env: daemonEnv(),
    stdin: "null",
    stdout: "null",
    stderr: "null",
    detached: true,
  }).spawn();
  const exited = child.status.then((s) => s.code);
  const deadline = performance.now() + 15_000;
  let delay = 5;
  /** The pid of another HAM that answered, while the one started had not yet. */
  let other: number | null = null;
  while (performance.now() < deadline) {
    const early = await Promise.race([
      exited,
      new Promise<null>((r) => setTimeout(() => r(null), delay)),
    ]);
    if (early !== null && other !== null) {
      const e = lockBusy(stateDir, other);
      console.error(`ham: ${e.code}: ${e.message}`);
      return EXIT_CODES.failed;
    }
    if (early !== null) {
      console.error(`ham: the HAM exited during start-up (code ${early}); see "${log}":`);
      console.error(tail(log));
      return EXIT_CODES.failed;
    }
    let pid: number;
    try {
      const c = await HamClient.connect({ stateDir, client: "ham", timeoutMs: 2000 });
      pid = c.server.hamPid;
      await c.close();
    } catch {
      delay = Math.min(delay * 2, 100);
      continue;
    }
    // The shell exec's the HAM: its pid is the one started. Another is a HAM that ran
    // already (the one started exits with EBUSY), or one stopping (it may start yet).
    if (pid !== child.pid) {
      other = pid;
      delay = Math.min(delay * 2, 100);
      continue;
    }
    child.unref();
    console.log(`ham: HAM ${pid} serving "${stateDir}"`);
    return EXIT_CODES.ok;
  }
  console.error(`ham: the HAM did not answer within 15 s; see "${log}"`);
  child.unref();
  return EXIT_CODES.timeout;
}

function tail(path: string): string {
  try {
    return Deno.readTextFileSync(path).split("\n").slice(-10).join("\n");
  } catch {
    return "(no log)";
  }
}
