/**
 * `hamctl batch`: runs `hamctl` commands read from standard input, one per line, over one
 * connection (for scripts that make many changes: one process start and one handshake for
 * all of them). A line is a command as it would follow `hamctl` on a shell command line,
 * without `--state-dir`: words split at blanks, with `'...'`, `"..."` and `\` quoting;
 * blank lines and lines starting with `#` are skipped. Commands that read files (`logs`,
 * `completion`) run as they would alone; `logs --follow` is refused, as it never ends. Like
 * `ip -batch`, the first failing line ends the batch, unless `--keep-going`; the exit code is
 * the first failure's.
 *
 * @module
 */

import type { HamClient } from "../../lib/client/client.ts";
import { exitCodeFor, toHamError } from "../../lib/core/errors.ts";
import {
  booleans,
  type HamctlCommand,
  type HamctlIO,
  parseCommandArgs,
  positionals,
  quiet,
  runCommand,
  type Subcommand,
  UsageError,
} from "./common.ts";

/**
 * Splits a batch line into words as a POSIX shell would (without expansions): blanks
 * separate words, `'...'` is literal, `"..."` honours `\"`, `\\`, `` \` `` and `\$`, and a
 * `\` outside quotes escapes the next character; a `#` at the start of a word begins a
 * comment. Throws {@linkcode UsageError} for an unterminated quote.
 *
 * @example
 * ```ts
 * import { splitWords } from "./batch.ts";
 * splitWords(`action web/d/note log --message "web died" # note`);
 * // ["action", "web/d/note", "log", "--message", "web died"]
 * ```
 */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  let word: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === " " || c === "\t" || c === "\r") {
      if (word !== null) words.push(word);
      word = null;
    } else if (c === "#" && word === null) {
      break;
    } else if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new UsageError("Unterminated ' quote");
      word = (word ?? "") + line.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      word ??= "";
      for (i++; i < line.length && line[i] !== '"'; i++) {
        if (line[i] === "\\" && '"\\$`'.includes(line[i + 1] ?? "")) i++;
        word += line[i];
      }
      if (i >= line.length) throw new UsageError('Unterminated " quote');
    } else if (c === "\\" && i + 1 < line.length) {
      word = (word ?? "") + line[++i];
    } else {
      word = (word ?? "") + c;
    }
  }
  if (word !== null) words.push(word);
  return words;
}

/** The lines of standard input, as they arrive. */
async function* stdinLines(): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  const buffer = new Uint8Array(64 * 1024);
  let partial = "";
  for (let n = await Deno.stdin.read(buffer); n !== null; n = await Deno.stdin.read(buffer)) {
    const lines = (partial + decoder.decode(buffer.subarray(0, n), { stream: true })).split("\n");
    partial = lines.pop()!;
    yield* lines;
  }
  partial += decoder.decode();
  if (partial !== "") yield partial;
}

/**
 * Parses one batch line; null for a blank line or a comment. Refuses what never ends
 * (`logs --follow`): the lines after it would never run. `batch --json` is given to each
 * line's parser, as `hamctl --json SUBCOMMAND` is (a command that prints its own result,
 * such as `restart --wait`, decides its form as it parses).
 */
async function parseLine(
  words: string[],
  lookup: Lookup,
  json: boolean,
): Promise<HamctlCommand | null> {
  if (words.length === 0) return null;
  const [name, ...rest] = words;
  if (name === "batch") throw new UsageError("A batch cannot run batch");
  if (name === "--state-dir" || name.startsWith("--state-dir=")) {
    throw new UsageError("--state-dir is the batch's own: give it to hamctl batch");
  }
  const sub: Subcommand | undefined = await lookup(name);
  if (sub === undefined) {
    throw new UsageError(
      name.startsWith("-") ? `Unknown option "${name}"` : `Unknown subcommand "${name}"`,
    );
  }
  const cmd = sub.parse(json ? ["--json", ...rest] : rest);
  if (cmd.endless) {
    throw new UsageError("A batch cannot run what follows until interrupted (--follow)", name);
  }
  return cmd;
}

/**
 * Finds a subcommand by name: the registry's `loadSubcommand`, handed in by the registry
 * itself (so that this file, which the registry loads, does not import it back).
 */
export type Lookup = (name: string) => Promise<Subcommand | undefined>;

/** Runs every line of `lines` on `client`; returns the exit code of the first failure, or 0. */
export async function runBatch(
  client: HamClient,
  io: HamctlIO,
  lines: AsyncIterable<string>,
  opts: { keepGoing: boolean; json: boolean; stateDir?: string; lookup: Lookup },
): Promise<number> {
  let status = 0;
  let lineNo = 0;
  for await (const line of lines) {
    lineNo++;
    let code: number;
    try {
      const cmd = await parseLine(splitWords(line), opts.lookup, opts.json);
      if (cmd === null) continue;
      code = await runCommand(client, cmd, io, opts.stateDir);
    } catch (err) {
      if (err instanceof UsageError) {
        io.err(
          `hamctl: batch: line ${lineNo}: ${err.command ? `${err.command}: ` : ""}${err.message}`,
        );
        code = 2;
      } else {
        const e = toHamError(err);
        io.err(`hamctl: batch: line ${lineNo}: ${e.code}: ${e.message}`);
        code = exitCodeFor(e.code);
        if (e.code === "ECONNRESET" || e.code === "EBADF") return status || code;
      }
    }
    if (code !== 0) {
      status ||= code;
      if (!opts.keepGoing) break;
    }
  }
  return status;
}

function parseBatch(args: string[], lookup: Lookup): HamctlCommand {
  const p = parseCommandArgs("batch", args, booleans(["keep-going"]));
  positionals("batch", p, []);
  const keepGoing = p.values["keep-going"] === true;
  const json = p.values.json === true;
  return {
    request: { op: "ping" },
    json,
    render: quiet,
    run: (client, io, stateDir) =>
      runBatch(client, io, io.lines?.() ?? stdinLines(), { keepGoing, json, stateDir, lookup }),
  };
}

/** The batch subcommand, running the subcommands `lookup` finds. */
export function batchCommands(lookup: Lookup): Subcommand[] {
  return [
    {
      name: "batch",
      usage: "batch [--keep-going]  (commands from stdin, one per line)",
      parse: (args) => parseBatch(args, lookup),
    },
  ];
}
