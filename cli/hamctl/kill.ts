/**
 * `hamctl kill NAME [--signal SIG]`: signals an entity's process through its pidfd (a
 * recycled pid is never hit). What follows is what the entity's conditions say: with a
 * restarting death condition, the HAM restarts it.
 *
 * @module
 */

import { parseSignal } from "../../lib/core/flags.ts";
import { validateEntityName } from "../../lib/core/names.ts";
import {
  checked,
  type HamctlCommand,
  parseCommandArgs,
  positionals,
  str,
  strings,
  type Subcommand,
} from "./common.ts";

function parseKill(args: string[]): HamctlCommand {
  const cmd = "kill";
  const p = parseCommandArgs(cmd, args, strings(["signal"]));
  const [name] = positionals(cmd, p, ["NAME"]);
  const signal = checked(cmd, () => parseSignal(str(p, "signal") ?? "TERM"));
  return {
    request: { op: "kill", entity: checked(cmd, () => validateEntityName(name, false)), signal },
    json: p.values.json === true,
    render: () => null,
  };
}

/** The kill subcommand. */
export const KILL_COMMAND: Subcommand = {
  name: "kill",
  usage: "kill NAME [--signal SIG]",
  parse: parseKill,
};
