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

/** The last `n` lines of `text` (without the final newline). */
export function lastLines(text: string, n: number): string[] {
  if (n === 0) return [];
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  return lines.slice(-n);
}

function readOrEmpty(path: string): Uint8Array {
  try {
    return Deno.readFileSync(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return new Uint8Array(0);
    throw err;
  }
}

async function follow(path: string, offset: number, io: HamctlIO): Promise<number> {
  const dir = path.slice(0, path.lastIndexOf("/"));
  const dec = new TextDecoder();
  let ino = statOrNull(path)?.ino ?? null;
  let partial = "";
  const drain = () => {
    const st = statOrNull(path);
    if (st === null) return;
    if (st.ino !== ino || st.size < offset) {
      ino = st.ino; // Rotated or truncated: the new file from its start.
      offset = 0;
    }
    if (st.size === offset) return;
    const bytes = readOrEmpty(path).subarray(offset);
    offset += bytes.length;
    const text = partial + dec.decode(bytes);
    const lines = text.split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) io.out(line);
  };
  using watcher = Deno.watchFs(dir, { recursive: false });
  drain();
  for await (const _ of watcher) drain();
  return 0;
}

function statOrNull(path: string): Deno.FileInfo | null {
  try {
    return Deno.statSync(path);
  } catch {
    return null;
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
  return {
    request: { op: "ping" },
    json: false,
    render: () => null,
    local: async (stateDir, io) => {
      const dir = resolveStateDir(stateDir);
      const path = entityLogPath(dir, entity);
      const bytes = readOrEmpty(path);
      if (bytes.length === 0 && statOrNull(path) === null && !following) {
        throw new HamError("ENOENT", `Cannot find a log of entity "${entity}" at "${path}"`);
      }
      for (const line of lastLines(new TextDecoder().decode(bytes), n)) io.out(line);
      return following ? await follow(path, bytes.length, io) : 0;
    },
  };
}

/** The logs subcommand. */
export const LOGS_COMMAND: Subcommand = {
  name: "logs",
  usage: "logs NAME [-n N] [--follow]",
  parse: parseLogs,
};
