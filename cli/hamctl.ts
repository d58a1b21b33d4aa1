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
import type { HamctlCommand, HamctlIO } from "./hamctl/common.ts";
import { runCommand, startTimer, UsageError } from "./hamctl/common.ts";
import {
  allSubcommandNames,
  isSubcommand,
  loadAllSubcommands,
  loadSubcommand,
} from "./hamctl/registry.ts";

export type { HamctlCommand, HamctlIO } from "./hamctl/common.ts";

/**
 * Options taken anywhere before `--`, whatever the subcommand, with what their value is; and
 * `--json`, which every subcommand takes, also before the subcommand's name.
 */
const GLOBAL_OPTIONS = { "state-dir": "a directory", node: "a node name", nodes: "a file" };

/** What the arguments ask for: help, or a subcommand to run against a state directory. */
export type Invocation =
  | { kind: "help"; command?: string }
  | { kind: "version" }
  | {
    kind: "run";
    name: string;
    stateDir: string | undefined;
    /** `--node NAME`: the HAM of that node (over mutual TLS), not the local one. */
    node?: string;
    /** `--nodes FILE`: where node names are looked up. */
    nodes?: string;
    command: HamctlCommand;
  };

/**
 * Parses `hamctl` arguments without doing anything: the global `--state-dir DIR` (before
 * or after the subcommand, but before `--`), the subcommand and its options. Loads only
 * the subcommand's own family (`cli/hamctl/registry.ts`). Throws {@linkcode UsageError}
 * for bad arguments.
 *
 * @example
 * ```ts
 * import { parseHamctl } from "./hamctl.ts";
 * const inv = await parseHamctl(["--state-dir", "/tmp/h", "detach", "web"]);
 * console.log(inv.kind === "run" && inv.command.request); // { op: "detach", entity: "web" }
 * ```
 */
export async function parseHamctl(args: string[]): Promise<Invocation> {
  const dd = args.indexOf("--");
  const head = dd < 0 ? args : args.slice(0, dd);
  const global: Partial<Record<keyof typeof GLOBAL_OPTIONS, string>> = {};
  const words: string[] = [];
  let json = false;
  for (let i = 0; i < head.length; i++) {
    const a = head[i];
    if (a === "--json" && words.length === 0) {
      json = true;
      continue;
    }
    const option = Object.keys(GLOBAL_OPTIONS).find((o) =>
      a === `--${o}` || a.startsWith(`--${o}=`)
    ) as keyof typeof GLOBAL_OPTIONS | undefined;
    if (option !== undefined) {
      const value = a === `--${option}` ? head[++i] : a.slice(option.length + 3);
      if (!value) throw new UsageError(`Option --${option} needs ${GLOBAL_OPTIONS[option]}`);
      global[option] = value;
    } else {
      words.push(a);
    }
  }
  const stateDir = global["state-dir"];
  const [name, ...rest] = [...words, ...(dd < 0 ? [] : args.slice(dd))];
  if (name === undefined) throw new UsageError("Missing a subcommand");
  if (name === "--version" || name === "-V") return { kind: "version" };
  if (name === "help" || name === "--help" || name === "-h") {
    if (rest.length > 1) throw new UsageError(`Unexpected argument "${rest[1]}"`, "help");
    if (rest[0] !== undefined && !isSubcommand(rest[0]) && rest[0] !== "help") {
      throw new UsageError(`Unknown subcommand "${rest[0]}"`);
    }
    return { kind: "help", command: rest[0] };
  }
  const sub = await loadSubcommand(name);
  if (sub === undefined) {
    if (name.startsWith("-")) throw new UsageError(`Unknown option "${name}"`);
    const { nearest } = await import("./hamctl/help_text.ts");
    const guess = nearest(name, allSubcommandNames());
    throw guess === null
      ? new UsageError(`Unknown subcommand "${name}"`)
      : new UsageError(`Unknown subcommand "${name}": did you mean "${guess}"?`, undefined, true);
  }
  const ownArgs = rest.indexOf("--") < 0 ? rest : rest.slice(0, rest.indexOf("--"));
  if (ownArgs.includes("--help") || ownArgs.includes("-h")) return { kind: "help", command: name };
  const remote = {
    ...(global.node === undefined ? {} : { node: global.node }),
    ...(global.nodes === undefined ? {} : { nodes: global.nodes }),
  };
  const command = sub.parse(json ? ["--json", ...rest] : rest);
  return { kind: "run", name, stateDir, ...remote, command };
}

/** The usage text: of one subcommand, or of all of them. */
export async function usage(command?: string): Promise<string> {
  const sub = command === undefined ? undefined : await loadSubcommand(command);
  if (sub) {
    const { HELP } = await import("./hamctl/help_text.ts");
    const help = HELP[sub.name];
    // `--json` ends the usage's first line: after its last, it read as one of the types
    // that `condition`, `wait` and `action-fail` list there.
    const [first, ...more] = sub.usage.split("\n");
    const line = [`Usage: hamctl [--state-dir DIR] [--node NAME] ${first} [--json]`, ...more]
      .join("\n");
    return help ? `${line}\n\n${help.summary}\n\nExample:\n  ${help.example}` : line;
  }
  if (command === "help") {
    return "Usage: hamctl help [SUBCOMMAND]\n\nExplain a subcommand, with an example.\n\nExample:\n  hamctl help wait";
  }
  return [
    "Usage: hamctl [--state-dir DIR] [--node NAME] SUBCOMMAND [ARGS...] [--json]",
    "",
    "Subcommands:",
    ...(await loadAllSubcommands()).map((s) => `  ${s.usage.replaceAll("\n       ", "\n      ")}`),
    "  help [SUBCOMMAND]",
    "",
    "Options:",
    "  --state-dir DIR  the HAM's state directory (default: $HAM_STATE_DIR; /run/ham for",
    "                   root; else $XDG_RUNTIME_DIR/ham, else ${XDG_STATE_HOME:-~/.local/state}/ham)",
    "  --node NAME      talk to the HAM of node NAME (mutual TLS; see --nodes)",
    "  --nodes FILE     the nodes file (default: $HAM_NODES, else DIR/nodes.yaml)",
    "  --json           print the result as one JSON document (events --follow: one per line)",
    "  -h, --help       print this help",
    "  -V, --version    print the version",
    "",
    "Durations: 250 (ms), 500us, 250ms, 5s, 1m, 1h, 2d. PATH: ENTITY[/CONDITION[/ACTION]]; @global is the",
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

/**
 * Runs `hamctl` with `args` (without the program name) and returns its exit code:
 * results go to `io.out`, diagnostics such as `hamctl: ENOENT: Cannot find entity "web"`
 * to `io.err`.
 */
export async function hamctl(args: string[], io: HamctlIO = CONSOLE_IO): Promise<number> {
  let inv: Invocation;
  try {
    inv = await parseHamctl(args);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.err(`hamctl: ${err.command ? `${err.command}: ` : ""}${err.message}`);
    if (!err.brief) io.err(await usage(err.command));
    return EXIT_CODES.usage;
  }
  if (inv.kind === "version") {
    io.out(VERSION_LINE);
    return EXIT_CODES.ok;
  }
  if (inv.kind === "help") {
    io.out(await usage(inv.command));
    return EXIT_CODES.ok;
  }
  try {
    if (inv.command.local) return await inv.command.local(inv.stateDir, io);
    await using client = await HamClient.connect({
      stateDir: inv.stateDir,
      client: "hamctl",
      node: inv.node,
      nodes: inv.nodes,
      startTimer,
    });
    const { command } = inv;
    return await runCommand(client, command, io, inv.stateDir);
  } catch (err) {
    const e = toHamError(err);
    io.err(`hamctl: ${e.code}: ${e.message}`);
    return exitCodeFor(e.code);
  }
}
