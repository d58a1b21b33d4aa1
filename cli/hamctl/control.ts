/**
 * `hamctl` subcommands that control the HAM and its items: `enable`, `disable`, `flags`,
 * `verbose`, `ping` and `stop`.
 *
 * @module
 */

import { DEFAULTS } from "../../lib/core/defaults.ts";
import type { HamClient } from "../../lib/client/client.ts";
import { type ItemType, parseFlags } from "../../lib/core/flags.ts";
import { requestStop } from "../../lib/client/ham.ts";
import type { ControlCommand, ControlResult } from "../../lib/core/protocol.ts";

import {
  booleans,
  checked,
  duration,
  type HamctlCommand,
  type HamctlIO,
  integer,
  itemPath,
  parseCommandArgs,
  positionals,
  quiet,
  str,
  strings,
  type Subcommand,
  UsageError,
  withDeadline,
} from "./common.ts";

function parseEnable(command: "enable" | "disable") {
  return (args: string[]): HamctlCommand => {
    const p = parseCommandArgs(command, args, booleans(["recurse"]));
    const [path] = positionals(command, p, ["PATH"]);
    itemPath(command, path, "any");
    return {
      request: { op: "control", path, command, flags: 0, recurse: p.values.recurse === true },
      json: p.values.json === true,
      render: quiet,
    };
  };
}

const FLAG_VERBS: Record<string, ControlCommand> = {
  get: "get-flags",
  add: "add-flags",
  set: "set-flags",
  remove: "remove-flags",
};

function parseFlagsCommand(args: string[]): HamctlCommand {
  const cmd = "flags";
  const p = parseCommandArgs(cmd, args, {});
  const [path, verb = "get", ...names] = p.positionals;
  if (path === undefined) throw new UsageError("Missing PATH", cmd);
  const parsed = itemPath(cmd, path, "any");
  const command = FLAG_VERBS[verb];
  if (command === undefined) {
    throw new UsageError(`Invalid flags command "${verb}": expected get, add, set or remove`, cmd);
  }
  if (verb === "get" && names.length > 0) {
    throw new UsageError(`Unexpected argument "${names[0]}"`, cmd);
  }
  const item: ItemType = parsed.action !== undefined
    ? "action"
    : parsed.condition !== undefined
    ? "condition"
    : "entity";
  const flags = checked(cmd, () =>
    names.reduce(
      (word, n) => word | parseFlags(item, /^(\d+|0x[0-9a-f]+)$/i.test(n) ? Number(n) : [n]),
      0,
    ));
  return {
    request: { op: "control", path, command, flags, recurse: false },
    json: p.values.json === true,
    render: (r) => {
      const c = r as ControlResult;
      return [`0x${c.flags.toString(16)}`, ...c.flagNames].join(" ");
    },
  };
}

function parseVerbose(args: string[]): HamctlCommand {
  const cmd = "verbose";
  const p = parseCommandArgs(cmd, args, {});
  const [command = "get", value, extra] = p.positionals;
  if (command !== "get" && command !== "set" && command !== "incr" && command !== "decr") {
    throw new UsageError(
      `Invalid verbose command "${command}": expected get, set, incr or decr`,
      cmd,
    );
  }
  if (command === "set" && value === undefined) throw new UsageError("Missing LEVEL", cmd);
  const surplus = command === "set" ? extra : value;
  if (surplus !== undefined) throw new UsageError(`Unexpected argument "${surplus}"`, cmd);
  return {
    request: {
      op: "verbose",
      command,
      value: value === undefined ? 0 : integer(cmd, "verbosity", value, { max: 9 }),
    },
    json: p.values.json === true,
    render: (r) => String((r as { verbosity: number }).verbosity),
  };
}

function parsePing(args: string[]): HamctlCommand {
  const p = parseCommandArgs("ping", args, {});
  positionals("ping", p, []);
  return { request: { op: "ping" }, json: p.values.json === true, render: () => "pong" };
}

/** Waits until the HAM has released the state directory's lock, i.e. has exited. */
async function lockReleased(client: HamClient, ms: number): Promise<void> {
  const dir = client.socketPath.slice(0, client.socketPath.lastIndexOf("/"));
  let file: Deno.FsFile;
  try {
    // The directory is the lock's authority (see `lib/store/state_lock.ts`).
    file = await Deno.open(dir, { read: true });
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return;
    throw err;
  }
  try {
    await withDeadline(file.lock(false), ms, "the HAM to exit");
    await file.unlock();
  } finally {
    file.close();
  }
}

function parseStop(args: string[]): HamctlCommand {
  const p = parseCommandArgs("stop", args, {
    ...booleans(["wait", "no-wait"]),
    ...strings(["timeout"]),
  });
  if (p.positionals.length > 0) {
    // `systemctl stop web`, `pm2 stop web`: here that would be the HAM's own stop.
    const name = p.positionals[0];
    throw new UsageError(
      `Unexpected argument "${name}": stop takes none, it stops the HAM and its Guardian ` +
        `(to stop entity "${name}" and keep it: hamctl disable ${name} && hamctl kill ${name})`,
      "stop",
    );
  }
  if (p.values.wait === true && p.values["no-wait"] === true) {
    throw new UsageError("Give either --wait or --no-wait", "stop");
  }
  const given = str(p, "timeout");
  const timeoutMs = given === undefined
    ? DEFAULTS.stopWaitMs
    : duration("stop", "--timeout", given);
  const json = p.values.json === true;
  // Waiting is the default (as `systemctl stop`): a script may act once it returns.
  const wait = p.values["no-wait"] !== true;
  const run = async (client: HamClient, io: HamctlIO) => {
    const started = performance.now();
    await requestStop(client);
    if (wait) {
      await withDeadline(client.closed, timeoutMs, "the HAM to close its socket");
      // Another node's lock is out of reach: its closed connection is the answer.
      if (!client.remote) {
        await lockReleased(client, Math.max(1, timeoutMs - (performance.now() - started)));
      }
    }
    if (json) io.out(JSON.stringify({ stopping: true }, null, 2));
    return 0;
  };
  return { request: { op: "stop" }, json, render: quiet, run };
}

/** The control subcommands. */
export const CONTROL_COMMANDS: Subcommand[] = [
  { name: "enable", usage: "enable PATH [--recurse]", parse: parseEnable("enable") },
  { name: "disable", usage: "disable PATH [--recurse]", parse: parseEnable("disable") },
  { name: "flags", usage: "flags PATH [get | add|set|remove FLAG...]", parse: parseFlagsCommand },
  { name: "verbose", usage: "verbose [get | set LEVEL | incr | decr]", parse: parseVerbose },
  { name: "ping", usage: "ping", parse: parsePing },
  { name: "stop", usage: "stop [--no-wait] [--timeout DURATION]", parse: parseStop },
];
