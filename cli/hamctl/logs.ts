/**
 * `hamctl logs NAME [-n|--lines N] [-f|--follow]`: the last N lines (10 by default) of an entity's
 * output log, `<state-dir>/logs/NAME.log`, and with `--follow` every line written after
 * them (across rotations) until interrupted. Reads the files: works whether or not a HAM
 * runs. With `--json`, one JSON array of {@linkcode LogLine} objects, or with `--follow` one
 * object per line of output.
 *
 * @module
 */

import { pathExists } from "../../lib/os/path_exists.ts";
import { HamError } from "../../lib/core/errors.ts";
import { validateEntityName } from "../../lib/core/names.ts";
import { statusFileName } from "../../lib/core/status_text.ts";
import { LogFollower } from "../../lib/os/log_follower.ts";
import { resolveStateDir } from "../../lib/os/state_dir.ts";
import {
  checked,
  type HamctlCommand,
  integer,
  parseCommandArgs,
  positionals,
  str,
  type Subcommand,
} from "./common.ts";

/** The path of an entity's output log. */
export function entityLogPath(stateDir: string, entity: string): string {
  return `${stateDir}/logs/${statusFileName(entity)}.log`;
}

/** A line of an entity's log as `logs --json` prints it. */
export interface LogLine {
  /** When the HAM read it (ISO 8601), or null for a line without the HAM's prefix. */
  time: string | null;
  /** The stream it came from, or null for a line without the HAM's prefix. */
  stream: "stdout" | "stderr" | null;
  /** The line as the entity wrote it. */
  text: string;
}

const PREFIXED = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) (stdout|stderr) (.*)$/s;

/**
 * Splits a log line into its time, stream and text (`lib/os/entity_output.ts` writes
 * `TIME STREAM TEXT`).
 *
 * @example
 * ```ts
 * import { logLine } from "./logs.ts";
 * logLine("2026-12-03T18:41:29.657Z stderr connection refused");
 * // { time: "2026-12-03T18:41:29.657Z", stream: "stderr", text: "connection refused" }
 * ```
 */
export function logLine(line: string): LogLine {
  const m = PREFIXED.exec(line);
  return m === null
    ? { time: null, stream: null, text: line }
    : { time: m[1], stream: m[2] as "stdout" | "stderr", text: m[3] };
}

/** Prints what is written to the log after `log`'s last read, until interrupted. */
async function follow(log: LogFollower, print: (lines: string[]) => void): Promise<number> {
  const dir = log.path.slice(0, log.path.lastIndexOf("/"));
  using watcher = Deno.watchFs(dir, { recursive: false });
  log.read(print); // What was written before the watch began.
  for await (const _ of watcher) log.read(print);
  return 0;
}

/**
 * The follower of an entity's log; a log the caller may not read (`hamctl` run by another
 * user than the HAM's: `logs/` is the HAM's alone) is EPERM naming the file, not the bare
 * system error.
 */
function openLog(path: string, entity: string): LogFollower {
  try {
    return new LogFollower(path);
  } catch (err) {
    if (!(err instanceof Deno.errors.PermissionDenied)) throw err;
    throw new HamError(
      "EPERM",
      `Cannot read the log of entity "${entity}" at "${path}": permission denied (the ` +
        `entities' logs are readable by the HAM's user only)`,
      { cause: err },
    );
  }
}

function parseLogs(args: string[]): HamctlCommand {
  const cmd = "logs";
  const p = parseCommandArgs(cmd, args, {
    n: { type: "string", short: "n" },
    lines: { type: "string" },
    follow: { type: "boolean", short: "f" },
  });
  const [name] = positionals(cmd, p, ["NAME"]);
  const entity = checked(cmd, () => validateEntityName(name, false));
  const nText = str(p, "n") ?? str(p, "lines") ?? "10";
  const n = integer(cmd, "-n", nText, { max: 1_000_000 });
  const following = p.values.follow === true;
  const command: HamctlCommand = {
    request: { op: "ping" },
    json: p.values.json === true,
    render: () => null,
    ...(following ? { endless: true } : {}),
    local: async (stateDir, io) => {
      const dir = resolveStateDir(stateDir);
      const path = entityLogPath(dir, entity);
      using log = openLog(path, entity);
      if (!log.found && !following) {
        // An entity that has written nothing yet has its FIFOs and no log: nothing to print.
        if (pathExists(`${dir}/pipes/${statusFileName(entity)}.stdout`)) {
          if (command.json) io.out("[]");
          return 0;
        }
        throw new HamError("ENOENT", `Cannot find a log of entity "${entity}" at "${path}"`);
      }
      const last: string[] = [];
      log.read((lines) => {
        for (const line of lines) last.push(line);
        if (last.length > 2 * n) last.splice(0, last.length - n);
      });
      // Not following, an unfinished last line counts; following, it is printed once done.
      if (!following && log.partial !== "") last.push(log.partial);
      const shown = n === 0 ? [] : last.slice(-n);
      // Read when run, as it is now (a caller may have set it after parsing).
      const json = command.json;
      if (json && !following) {
        io.out(JSON.stringify(shown.map(logLine), null, 2));
        return 0;
      }
      const print = json
        ? (lines: string[]) => {
          for (const line of lines) io.out(JSON.stringify(logLine(line)));
        }
        : (lines: string[]) => io.out(lines.join("\n"));
      for (const line of shown) print([line]);
      return following ? await follow(log, print) : 0;
    },
  };
  return command;
}

/** The logs subcommand. */
export const LOGS_COMMAND: Subcommand = {
  name: "logs",
  usage: "logs NAME [-n|--lines N] [-f|--follow]",
  parse: parseLogs,
};
