/**
 * `guardian`: the Guardian role, started by the HAM as
 * `guardian --state-dir DIR --ham-pid PID [--log FILE] [--timestamps S]`, never by hand.
 * It watches its HAM; when the HAM is gone without a stop, it takes over and from then on
 * serves as the HAM (with a Guardian of its own) until stopped.
 *
 * Exit codes: 0 when told to exit (SIGTERM, SIGINT, or the HAM stopping), 1 when it cannot watch
 * or cannot take over, 2 for bad arguments; after a takeover, those of `ham`.
 *
 * @module
 */

import { exitOnUncaught, logFatalTo } from "../lib/os/fatal.ts";
import { scrubDaemonEnv } from "../lib/os/daemon_env.ts";
import { Guardian } from "../guardian/guardian.ts";
import { rehearseTakeover } from "../guardian/rehearsal.ts";
import { parseRoleOptions } from "./hamctl/parse_args.ts";
import { EXIT_CODES } from "../lib/core/errors.ts";
import { createLogger, isLogFormat, isTimestampStyle, logFileWriter } from "../lib/os/logger.ts";
import { compactRecordsFromEnv, guardianArgs, parseListen, reopenLog, serve } from "./ham.ts";
import { resolveGroup } from "../lib/os/policy_file.ts";
import {
  clusterOptions,
  listenOptions,
  REMOTE_OPTIONS,
  remoteArgs,
  type RemoteFlags,
} from "./ham_remote.ts";

const USAGE = `Usage: guardian --state-dir DIR [--ham-pid PID] [--log FILE] [--timestamps STYLE]
       [--log-format text|json] [--policy FILE] [--socket-group GROUP]

The HAM's Guardian. The HAM starts it; it takes over when the HAM dies.`;

/** Runs the `guardian` role; returns the exit code. */
export async function guardian(args: string[]): Promise<number> {
  exitOnUncaught("guardian");
  scrubDaemonEnv();
  let flags;
  try {
    flags = parseRoleOptions(args, {
      "state-dir": { type: "string" },
      "ham-pid": { type: "string" },
      log: { type: "string" },
      timestamps: { type: "string" },
      "log-format": { type: "string" },
      policy: { type: "string" },
      "socket-group": { type: "string" },
      "metrics-listen": { type: "string" },
      ...REMOTE_OPTIONS,
    });
  } catch (err) {
    console.error(`guardian: ${(err as Error).message}\n${USAGE}`);
    return EXIT_CODES.usage;
  }
  const stateDir = flags["state-dir"];
  const hamPid = flags["ham-pid"] === undefined ? null : Number(flags["ham-pid"]);
  const ts = flags.timestamps ?? "absolute";
  const logFormat = flags["log-format"] ?? "text";
  if (
    !stateDir || (hamPid !== null && !(Number.isSafeInteger(hamPid) && hamPid > 0)) ||
    !isTimestampStyle(ts) || !isLogFormat(logFormat)
  ) {
    console.error(USAGE);
    return EXIT_CODES.usage;
  }
  const write = logFileWriter(flags.log);
  let verbosity = () => 1;
  const log = createLogger({
    verbosity: () => verbosity(),
    write,
    timestamps: ts,
    format: logFormat,
  });
  logFatalTo((line) => log.log("error", line));
  // A Guardian exits on SIGTERM; one taking over keeps it for the HAM it is becoming.
  let takingOver = false;
  let pending: Deno.Signal | undefined;
  const onTerm = () => {
    if (takingOver) return void (pending = "SIGTERM");
    log.log("info", `Guardian ${Deno.pid} exiting on SIGTERM`);
    Deno.exit(EXIT_CODES.ok);
  };
  Deno.addSignalListener("SIGTERM", onTerm);
  // SIGINT ends it too (a terminal's Ctrl-C reaches the HAM and its Guardian alike), and the
  // log says so: the HAM's line says its Guardian takes over, and this one that none does.
  const onInterrupt = () => {
    if (takingOver) return void (pending = "SIGINT");
    log.log(
      "warn",
      `Guardian ${Deno.pid} exiting on SIGINT: nothing takes over from HAM ${hamPid ?? "?"}`,
    );
    Deno.exit(EXIT_CODES.ok);
  };
  Deno.addSignalListener("SIGINT", onInterrupt);
  const onHangup = () => reopenLog(log, "Guardian");
  Deno.addSignalListener("SIGHUP", onHangup);
  let g: Guardian;
  try {
    g = await Guardian.start({ stateDir, hamPid, log });
  } catch (err) {
    log.log("error", `Guardian ${Deno.pid} cannot start: ${(err as Error).message}`);
    return EXIT_CODES.failed;
  }
  verbosity = () => g.tail.state.verbosity;
  // Before it says it is ready: a HAM that dies meanwhile is taken over once it is done.
  try {
    const ms = await rehearseTakeover();
    log.log("debug", `Guardian ${Deno.pid} rehearsed a takeover in ${ms.toFixed(1)} ms`);
  } catch (err) {
    log.log("info", `Guardian ${Deno.pid} cannot rehearse a takeover: ${(err as Error).message}`);
  }
  log.log(
    "info",
    `Guardian ${Deno.pid} watching HAM ${hamPid ?? "?"} on "${stateDir}" ` +
      `(live copy at seq ${g.tail.seq})`,
  );
  const gone = await g.hamGone();
  takingOver = true;
  if (gone.stopRequested) {
    log.log("info", `Guardian ${Deno.pid} exiting: its HAM stopped`);
    gone.lock.close();
    return EXIT_CODES.ok;
  }
  if (gone.replacedBy !== null) {
    log.log(
      "warn",
      `Guardian ${Deno.pid} exiting: HAM ${hamPid}, which it guards, was replaced by HAM ` +
        `${gone.replacedBy} on "${stateDir}"`,
    );
    gone.lock.close();
    return EXIT_CODES.ok;
  }
  log.log(
    "warn",
    `Guardian ${Deno.pid}: HAM ${hamPid ?? "?"} is gone, taking over ` +
      `(${g.pidfds} processes watched ahead by pidfd, the output FIFOs of ${g.pipes} held open, ` +
      `the full status answer ${g.answerJoined ? "joined" : "to join"})`,
  );
  try {
    const remote = flags as RemoteFlags;
    const daemon = await g.takeOver(gone, {
      listen: listenOptions(remote),
      cluster: clusterOptions(remote),
      nodes: remote.nodes,
      timestamps: ts,
      logFormat,
      metricsListen: flags["metrics-listen"] === undefined
        ? undefined
        : parseListen(flags["metrics-listen"], "--metrics-listen"),
      write,
      guardian: true,
      guardianArgs: [
        ...guardianArgs({
          log: flags.log,
          timestamps: ts,
          logFormat,
          policyFile: flags.policy,
          socketGroup: flags["socket-group"],
          metricsListen: flags["metrics-listen"],
        }),
        ...remoteArgs(remote),
      ],
      compactRecords: compactRecordsFromEnv(),
      policyFile: flags.policy,
      socketGroup: flags["socket-group"] === undefined ? null : resolveGroup(flags["socket-group"]),
    });
    Deno.removeSignalListener("SIGTERM", onTerm);
    Deno.removeSignalListener("SIGINT", onInterrupt);
    Deno.removeSignalListener("SIGHUP", onHangup);
    return await serve(daemon, pending, true);
  } catch (err) {
    log.log("error", `Guardian ${Deno.pid} cannot take over: ${(err as Error).message}`);
    return EXIT_CODES.failed;
  }
}
