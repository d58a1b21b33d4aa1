/**
 * `hamctl`: the command-line client of the HAM, one more client of the same socket
 * protocol the library uses. {@linkcode parseHamctl} turns the arguments into the
 * request to send (pure, so tests can check every form); {@linkcode hamctl} connects,
 * sends it, prints the result and returns the exit code of `EXIT_CODES`.
 *
 * @module
 */

import { HamClient } from "../lib/client/client.ts";
import { EXIT_CODES, exitCodeFor, toHamError } from "../lib/core/errors.ts";
import { VERSION_LINE } from "../lib/core/version.ts";
import { ACTION_COMMANDS } from "./hamctl/actions.ts";
import type { HamctlCommand, HamctlIO, Subcommand } from "./hamctl/common.ts";
import { UsageError } from "./hamctl/common.ts";
import { CONDITION_COMMANDS } from "./hamctl/conditions.ts";
import { CONTROL_COMMANDS } from "./hamctl/control.ts";
import { ENTITY_COMMANDS } from "./hamctl/entities.ts";
import { EVENT_COMMANDS } from "./hamctl/events.ts";
import { STATUS_COMMANDS } from "./hamctl/status.ts";

export type { HamctlCommand, HamctlIO } from "./hamctl/common.ts";

/**
 * Subcommands loaded on demand (their modules stay off the path of the others): the name,
 * the usage line for `help`, and the loader.
 */
const LAZY: ReadonlyMap<string, { usage: string; load: () => Promise<Subcommand> }> = new Map([
  ["kill", {
    usage: "kill NAME [--signal SIG]",
    load: async () => (await import("./hamctl/kill.ts")).KILL_COMMAND,
  }],
  ["restart", {
    usage: "restart NAME [--wait [--timeout DURATION]]",
    load: async () => (await import("./hamctl/restart.ts")).RESTART_COMMAND,
  }],
  ["list", { usage: "list", load: async () => (await import("./hamctl/list.ts")).LIST_COMMAND }],
  ["apply", {
    usage: "apply FILE [--dry-run] [--prune]",
    load: async () => (await import("./hamctl/apply.ts")).APPLY_COMMAND,
  }],
  ["export", {
    usage: "export",
    load: async () => (await import("./hamctl/export.ts")).EXPORT_COMMAND,
  }],
  ["logs", {
    usage: "logs NAME [-n N] [--follow]",
    load: async () => (await import("./hamctl/logs.ts")).LOGS_COMMAND,
  }],
]);

const SUBCOMMANDS: Map<string, Subcommand> = new Map(
  [
    ...ENTITY_COMMANDS,
    ...CONDITION_COMMANDS,
    ...ACTION_COMMANDS,
    ...CONTROL_COMMANDS,
    ...STATUS_COMMANDS,
    ...EVENT_COMMANDS,
  ].map((s) => [s.name, s]),
);

/** The subcommand word of `args` (the first word that is not `--state-dir` or its value). */
function subcommandWord(args: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--") return undefined;
    if (args[i] === "--state-dir") i++;
    else if (!args[i].startsWith("--state-dir=")) return args[i];
  }
  return undefined;
}

/**
 * Loads the lazily-loaded subcommands that `args` names (the subcommand, or the one `help`
 * asks about), so that {@linkcode parseHamctl} knows them. Call it before parsing.
 */
export async function loadSubcommands(args: string[]): Promise<void> {
  const word = subcommandWord(args);
  const wanted = word === "help" ? args[args.indexOf("help") + 1] : word;
  const lazy = wanted === undefined ? undefined : LAZY.get(wanted);
  if (lazy && !SUBCOMMANDS.has(wanted!)) SUBCOMMANDS.set(wanted!, await lazy.load());
}

/** What the arguments ask for: help, or a subcommand to run against a state directory. */
export type Invocation =
  | { kind: "help"; command?: string }
  | { kind: "version" }
  | { kind: "run"; name: string; stateDir: string | undefined; command: HamctlCommand };

/**
 * Parses `hamctl` arguments without doing anything: the global `--state-dir DIR` (before
 * or after the subcommand, but before `--`), the subcommand and its options. Throws
 * {@linkcode UsageError} for bad arguments.
 *
 * @example
 * ```ts
 * import { parseHamctl } from "./hamctl.ts";
 * const inv = parseHamctl(["--state-dir", "/tmp/h", "detach", "web"]);
 * console.log(inv.kind === "run" && inv.command.request); // { op: "detach", entity: "web" }
 * ```
 */
export function parseHamctl(args: string[]): Invocation {
  const dd = args.indexOf("--");
  const head = dd < 0 ? args : args.slice(0, dd);
  let stateDir: string | undefined;
  const words: string[] = [];
  for (let i = 0; i < head.length; i++) {
    const a = head[i];
    if (a === "--state-dir" || a.startsWith("--state-dir=")) {
      stateDir = a === "--state-dir" ? head[++i] : a.slice("--state-dir=".length);
      if (!stateDir) throw new UsageError("Option --state-dir needs a directory");
    } else {
      words.push(a);
    }
  }
  const [name, ...rest] = [...words, ...(dd < 0 ? [] : args.slice(dd))];
  if (name === undefined) throw new UsageError("Missing a subcommand");
  if (name === "--version" || name === "-V") return { kind: "version" };
  if (name === "help" || name === "--help" || name === "-h") {
    if (rest[0] !== undefined && !SUBCOMMANDS.has(rest[0])) {
      throw new UsageError(`Unknown subcommand "${rest[0]}"`);
    }
    return { kind: "help", command: rest[0] };
  }
  const sub = SUBCOMMANDS.get(name);
  if (sub === undefined) {
    throw new UsageError(
      name.startsWith("-") ? `Unknown option "${name}"` : `Unknown subcommand "${name}"`,
    );
  }
  const ownArgs = rest.indexOf("--") < 0 ? rest : rest.slice(0, rest.indexOf("--"));
  if (ownArgs.includes("--help") || ownArgs.includes("-h")) return { kind: "help", command: name };
  return { kind: "run", name, stateDir, command: sub.parse(rest) };
}

/** The usage text: of one subcommand, or of all of them. */
export function usage(command?: string): string {
  const sub = command === undefined ? undefined : SUBCOMMANDS.get(command);
  if (sub) return `Usage: hamctl [--state-dir DIR] ${sub.usage} [--json]`;
  return [
    "Usage: hamctl [--state-dir DIR] SUBCOMMAND [ARGS...] [--json]",
    "",
    "Subcommands:",
    ...[...SUBCOMMANDS.values()].filter((s) => !LAZY.has(s.name)).map((s) =>
      `  ${s.usage.replaceAll("\n       ", "\n      ")}`
    ),
    ...[...LAZY.values()].map((s) => `  ${s.usage}`),
    "  help [SUBCOMMAND]",
    "",
    "Options:",
    "  --state-dir DIR  the HAM's state directory (default: $HAM_STATE_DIR,",
    "                   $XDG_RUNTIME_DIR/ham, /run/ham for root, else /tmp/ham-UID)",
    "  --json           print the result as one JSON document (events --follow: one per line)",
    "  -h, --help       print this help",
    "  --version        print the version",
    "",
    "Durations: 250 (ms), 250ms, 5s, 1m. PATH: ENTITY[/CONDITION[/ACTION]]; @global is the",
    "global entity.",
    "",
    "Exit codes: 0 ok, 1 failed, 2 usage, 3 HAM not running, 4 timed out, 5 no such item,",
    "6 already exists.",
  ].join("\n");
}

const CONSOLE_IO: HamctlIO = {
  out: (line) => console.log(line),
  err: (line) => console.error(line),
};

async function sendAndPrint(client: HamClient, cmd: HamctlCommand, io: HamctlIO): Promise<number> {
  const { op, ...fields } = cmd.request;
  const opts = cmd.timeoutMs === undefined ? {} : { timeoutMs: cmd.timeoutMs };
  const result = await client.request(op, fields, opts);
  const text = cmd.json ? JSON.stringify(result, null, 2) : cmd.render(result);
  if (text) io.out(text);
  return EXIT_CODES.ok;
}

/**
 * Runs `hamctl` with `args` (without the program name) and returns its exit code:
 * results go to `io.out`, diagnostics such as `hamctl: ENOENT: Cannot find entity "web"`
 * to `io.err`.
 */
export async function hamctl(args: string[], io: HamctlIO = CONSOLE_IO): Promise<number> {
  let inv: Invocation;
  try {
    await loadSubcommands(args);
    inv = parseHamctl(args);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.err(`hamctl: ${err.command ? `${err.command}: ` : ""}${err.message}`);
    io.err(err.command ? usage(err.command) : usage());
    return EXIT_CODES.usage;
  }
  if (inv.kind === "version") {
    io.out(VERSION_LINE);
    return EXIT_CODES.ok;
  }
  if (inv.kind === "help") {
    io.out(usage(inv.command));
    return EXIT_CODES.ok;
  }
  try {
    if (inv.command.local) return await inv.command.local(inv.stateDir, io);
    await using client = await HamClient.connect({ stateDir: inv.stateDir, client: "hamctl" });
    const { command } = inv;
    return await (command.run ? command.run(client, io) : sendAndPrint(client, command, io));
  } catch (err) {
    const e = toHamError(err);
    io.err(`hamctl: ${e.code}: ${e.message}`);
    return exitCodeFor(e.code);
  }
}
