/**
 * `hamctl logs NAME [-n N] [--follow]`: the last N lines (10 by default) of an entity's
 * output log, `<state-dir>/logs/NAME.log`, and with `--follow` every line written after
 * them (across rotations) until interrupted. Reads the files: works whether or not a HAM
 * runs.
 *
 * @module
 */

import { HamError } from "../../lib/core/errors.ts";
import { validateEntityName } from "../../lib/core/names.ts";
import { statusFileName } from "../../lib/core/status_text.ts";
import { LogFollower } from "../../lib/os/log_follower.ts";
import { resolveStateDir } from "../../lib/os/state_dir.ts";
import {
  checked,
  type HamctlCommand,
  type HamctlIO,
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

/** Prints what is written to the log after `log`'s last read, until interrupted. */
async function follow(log: LogFollower, io: HamctlIO): Promise<number> {
  const dir = log.path.slice(0, log.path.lastIndexOf("/"));
  const print = (lines: string[]) => io.out(lines.join("\n"));
  using watcher = Deno.watchFs(dir, { recursive: false });
  log.read(print); // What was written before the watch began.
  for await (const _ of watcher) log.read(print);
  return 0;
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
  return {
    request: { op: "ping" },
    json: false,
    render: () => null,
    ...(following ? { endless: true } : {}),
    local: async (stateDir, io) => {
      const dir = resolveStateDir(stateDir);
      const path = entityLogPath(dir, entity);
      using log = new LogFollower(path);
      if (!log.found && !following) {
        throw new HamError("ENOENT", `Cannot find a log of entity "${entity}" at "${path}"`);
      }
      const last: string[] = [];
      log.read((lines) => {
        for (const line of lines) last.push(line);
        if (last.length > 2 * n) last.splice(0, last.length - n);
      });
      // Not following, an unfinished last line counts; following, it is printed once done.
      if (!following && log.partial !== "") last.push(log.partial);
      for (const line of n === 0 ? [] : last.slice(-n)) io.out(line);
      return following ? await follow(log, io) : 0;
    },
  };
}

/** The logs subcommand. */
export const LOGS_COMMAND: Subcommand = {
  name: "logs",
  usage: "logs NAME [-n N] [--follow]",
  parse: parseLogs,
};
