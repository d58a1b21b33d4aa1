/**
 * `hamctl apply FILE [--dry-run] [--prune]`: makes the HAM match a config file (YAML or
 * JSON). Prints one line per change (`create web`, `update web/death`, `remove old`), or
 * `No changes` when it already matched; `--dry-run` prints the plan without applying it;
 * items the file does not have are removed only with `--prune`.
 *
 * @module
 */

import type { HamClient } from "../../lib/client/client.ts";
import { firesNothing, firesNothingNote } from "../../lib/core/heartbeat.ts";
import {
  booleans,
  type HamctlCommand,
  type HamctlIO,
  parseCommandArgs,
  positionals,
  type Subcommand,
} from "./common.ts";

function parseApply(args: string[]): HamctlCommand {
  const cmd = "apply";
  const p = parseCommandArgs(cmd, args, booleans(["dry-run", "prune"]));
  const [path] = positionals(cmd, p, ["FILE"]);
  const dryRun = p.values["dry-run"] === true;
  const prune = p.values.prune === true;
  const json = p.values.json === true;
  const run = async (client: HamClient, io: HamctlIO) => {
    const { loadConfig } = await import("../../lib/os/config_file.ts");
    const { applyConfig, changeLine } = await import("../../lib/client/config_apply.ts");
    const file = await loadConfig(path);
    for (const e of file.entities) {
      if (e.heartbeat && firesNothing(e.heartbeat)) {
        io.err(`hamctl: warning: ${path}: ${firesNothingNote(e.name, e.heartbeat)}`);
      }
    }
    const changes = await applyConfig(client, file, {
      dryRun,
      prune,
      onChange: (c) => json || io.out(changeLine(c)),
    });
    if (json) {
      io.out(JSON.stringify(
        { dryRun, changes: changes.map((c) => ({ change: c.change, item: c.item })) },
        null,
        2,
      ));
    } else if (changes.length === 0) {
      io.out(`No changes: the HAM already matches "${path}"`);
    } else if (dryRun) {
      io.out(`Dry run: ${changes.length} changes not applied`);
    }
    return 0;
  };
  return { request: { op: "status", path: null }, json, render: () => null, run };
}

/** The apply subcommand. */
export const APPLY_COMMAND: Subcommand = {
  name: "apply",
  usage: "apply FILE [--dry-run] [--prune]",
  parse: parseApply,
};
