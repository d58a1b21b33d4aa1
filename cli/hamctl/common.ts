/**
 * What every `hamctl` subcommand shares: the parsed-command shape, usage errors, option
 * parsing (`parse_args.ts`: no `node:` import on the start-up path of `hamctl`), and the
 * parsers of durations, numbers, state sets, paths and flags.
 *
 * @module
 */

import type { HamClient } from "../../lib/client/client.ts";
import { DEFAULTS } from "../../lib/core/defaults.ts";
import { HamError } from "../../lib/core/errors.ts";
import { type ItemType, parseFlags } from "../../lib/core/flags.ts";
import { type ItemPath, parsePath } from "../../lib/core/names.ts";
import type { WireRequest } from "../../lib/core/protocol.ts";
import { type OptionSpec, parseOptions } from "./parse_args.ts";
import { parseDuration } from "../../lib/core/duration.ts";

export type { OptionSpec } from "./parse_args.ts";

/** Where `hamctl` writes: results to `out`, diagnostics to `err`, a line at a time. */
export interface HamctlIO {
  out(line: string): void;
  err(line: string): void;
  /** The lines of input (`hamctl batch`). @default {standard input} */
  lines?(): AsyncIterable<string>;
}

/** A parsed subcommand: the request it sends, and how its result is shown. */
export interface HamctlCommand {
  /** The (first) request the command sends. */
  request: WireRequest;
  /** Print results as JSON (one document, or one object per line when following). */
  json: boolean;
  /** The text form of the result; null or "" prints nothing. */
  render(result: unknown): string | null;
  /** Warnings printed on stderr (`hamctl: warning: ...`) before the request is sent. */
  warnings?: string[];
  /** Time limit of the request in ms, when not the connection's default. */
  timeoutMs?: number;
  /**
   * Replaces the default "send, print" for commands that do more (wait, follow); given the
   * `--state-dir` option too (`batch` runs its `local` commands with it).
   */
  run?(client: HamClient, io: HamctlIO, stateDir: string | undefined): Promise<number>;
  /** Runs without connecting to the HAM (reads files): given the `--state-dir` option. */
  local?(stateDir: string | undefined, io: HamctlIO): Promise<number>;
  /** Runs until interrupted (`logs --follow`): a batch refuses it, as its next lines would wait. */
  endless?: boolean;
}

/** A subcommand: its name, its usage lines, and its parser. */
export interface Subcommand {
  name: string;
  usage: string;
  parse(args: string[]): HamctlCommand;
}

/**
 * Runs a parsed command: a `local` one on the files of `stateDir`, else on `client`, by its
 * own `run` or else "send the request, print the result".
 */
export async function runCommand(
  client: HamClient,
  cmd: HamctlCommand,
  io: HamctlIO,
  stateDir?: string,
): Promise<number> {
  if (cmd.local) return await cmd.local(stateDir, io);
  for (const w of cmd.warnings ?? []) io.err(`hamctl: warning: ${w}`);
  if (cmd.run) return await cmd.run(client, io, stateDir);
  const { op, ...fields } = cmd.request;
  const opts = cmd.timeoutMs === undefined ? {} : { timeoutMs: cmd.timeoutMs };
  const result = await client.request(op, fields, opts);
  const text = cmd.json ? JSON.stringify(result, null, 2) : cmd.render(result);
  if (text) io.out(text);
  return 0;
}

/** Bad arguments: `hamctl` prints the message and the command's usage, and exits 2. */
export class UsageError extends Error {
  /** The subcommand whose usage to show, if known. */
  readonly command: string | undefined;
  /** The message alone says it all (a "did you mean"): no usage follows. */
  readonly brief: boolean;

  /** Creates a usage error about `command`. */
  constructor(message: string, command?: string, brief = false) {
    super(message);
    this.name = "UsageError";
    this.command = command;
    this.brief = brief;
  }
}

/**
 * Parsed options, positionals, and the COMMAND after `--` of a subcommand that takes one
 * (null when there is no `--`, and always for the others).
 */
export interface ParsedArgs {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
  rest: string[] | null;
}

/**
 * Parses a subcommand's arguments strictly; `--json` is accepted everywhere. A `--` ends the
 * options: what follows it is the COMMAND of a subcommand that takes one (`takesCommand`:
 * `attach`, `action`, `action-fail`), and more positionals (operands, as POSIX has it) of
 * any other, so `hamctl detach -- -web` detaches `-web` and `hamctl kill web -- extra` is a
 * usage error ({@linkcode positionals} refuses what is left over).
 */
export function parseCommandArgs(
  cmd: string,
  args: string[],
  options: OptionSpec,
  takesCommand = false,
): ParsedArgs {
  const dd = args.indexOf("--");
  const after = dd < 0 ? null : args.slice(dd + 1);
  try {
    const { values, positionals } = parseOptions(
      dd < 0 ? args : args.slice(0, dd),
      { json: { type: "boolean" }, ...options },
    );
    // No subcommand option is `multiple`: every value is a string or a boolean.
    return {
      values: values as ParsedArgs["values"],
      positionals: takesCommand || after === null ? positionals : [...positionals, ...after],
      rest: takesCommand ? after : null,
    };
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err), cmd);
  }
}

/** Checks the number of positionals and returns them. */
export function positionals(cmd: string, p: ParsedArgs, names: string[], optional = 0): string[] {
  const min = names.length - optional;
  if (p.positionals.length < min) {
    throw new UsageError(`Missing ${names[p.positionals.length]}`, cmd);
  }
  if (p.positionals.length > names.length) {
    throw new UsageError(`Unexpected argument "${p.positionals[names.length]}"`, cmd);
  }
  return p.positionals;
}

/** Runs a check from `lib/` and turns its EINVAL-style error into a usage error. */
export function checked<T>(cmd: string, f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof HamError) throw new UsageError(`${err.code}: ${err.message}`, cmd);
    throw err;
  }
}

/** Parses and validates an item path of `depth` components. */
export function itemPath(cmd: string, path: string, depth: 1 | 2 | 3 | "any"): ItemPath {
  return checked(cmd, () => parsePath(path, depth));
}

/**
 * Parses a duration (`500us`, `250ms`, `5s`, `1m`, `1h`, `2d`, or ms) of at most
 * `DEFAULTS.maxDurationMs` (~24.8 days); the usage error names `flag`.
 */
export function duration(cmd: string, flag: string, text: string): number {
  return checked(cmd, () => parseDuration(text, flag));
}

/** Parses a non-negative integer (decimal or 0x hex); `any` is 0 when `allowAny`. */
export function integer(
  cmd: string,
  what: string,
  text: string,
  opts: { allowAny?: boolean; max?: number } = {},
): number {
  if (opts.allowAny && text === "any") return 0;
  const n = /^(\d+|0x[0-9a-f]+)$/i.test(text) ? Number(text) : NaN;
  const max = opts.max ?? 0xffffffff;
  if (!Number.isSafeInteger(n) || n > max) {
    throw new UsageError(
      `Invalid ${what} "${text}": expected an integer from 0 to ${max}${
        opts.allowAny ? ", or any" : ""
      }`,
      cmd,
    );
  }
  return n;
}

/** Parses a signed 32-bit integer (for notify code and value). */
export function signedInteger(cmd: string, what: string, text: string): number {
  const n = /^-?\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < -(2 ** 31) || n >= 2 ** 31) {
    throw new UsageError(`Invalid ${what} "${text}": expected a 32-bit integer`, cmd);
  }
  return n;
}

/** Parses a list of states `1,3,5` (each 0–31). */
export function stateList(cmd: string, flag: string, text: string): number[] {
  return text.split(",").map((s) => integer(cmd, `state in ${flag}`, s.trim(), { max: 31 }));
}

/** The value of an optional numeric option where `any` means 0, as are absent options. */
export function anyOrNumber(cmd: string, p: ParsedArgs, name: string): number {
  const v = str(p, name);
  return v === undefined ? 0 : integer(cmd, `--${name}`, v, { allowAny: true });
}

/** The flag word of the boolean options in `names` that are set (names as in `lib/core/flags.ts`). */
export function flagOptions(cmd: string, item: ItemType, p: ParsedArgs, names: string[]): number {
  return checked(cmd, () => parseFlags(item, names.filter((n) => p.values[n] === true)));
}

/** Boolean option specs, one per name. */
export function booleans(names: string[]): OptionSpec {
  return Object.fromEntries(names.map((n) => [n, { type: "boolean" as const }]));
}

/** String option specs, one per name. */
export function strings(names: string[]): OptionSpec {
  return Object.fromEntries(names.map((n) => [n, { type: "string" as const }]));
}

/** A string option's value, or undefined. */
export function str(p: ParsedArgs, name: string): string | undefined {
  const v = p.values[name];
  return typeof v === "string" ? v : undefined;
}

/**
 * Calls `onExpire` after `ms` unless the returned function is called first. A timer on
 * `AbortSignal.timeout`, not `setTimeout`: Deno's `setTimeout` is Node's, and its first use
 * loads the `node:` compatibility layer (~15 ms of every `hamctl` run). The timer does not
 * keep `hamctl` running.
 */
export function startTimer(ms: number, onExpire: () => void): () => void {
  // Past the 32-bit limit a timer would fire at once: a wait's margin must not get there.
  const signal = AbortSignal.timeout(Math.min(ms, DEFAULTS.maxDurationMs));
  signal.addEventListener("abort", onExpire, { once: true });
  return () => signal.removeEventListener("abort", onExpire);
}

/** Resolves like `promise`, or throws ETIMEDOUT naming `what` after `ms`. */
export async function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let cancel = () => {};
  const timeout = new Promise<never>((_, reject) => {
    cancel = startTimer(
      ms,
      () => reject(new HamError("ETIMEDOUT", `Timed out after ${ms} ms waiting for ${what}`)),
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    cancel();
  }
}

/** Renders nothing: the default for commands that only change things. */
export function quiet(): string | null {
  return null;
}
