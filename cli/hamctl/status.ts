/**
 * `hamctl status`: the `/proc/ham` view of the whole HAM or of one entity, condition
 * or action, as text or as JSON.
 *
 * @module
 */

import type { StatusView } from "../../lib/core/status_view.ts";
import { renderStatus } from "../../lib/core/status_text.ts";
import {
  type HamctlCommand,
  itemPath,
  parseCommandArgs,
  positionals,
  type Subcommand,
} from "./common.ts";

function parseStatus(args: string[]): HamctlCommand {
  const p = parseCommandArgs("status", args, {});
  const [path] = positionals("status", p, ["PATH"], 1);
  if (path !== undefined) itemPath("status", path, "any");
  return {
    request: { op: "status", path: path ?? null },
    json: p.values.json === true,
    render: (view) => renderStatus(view as StatusView).trimEnd(),
  };
}

/** The status subcommand. */
export const STATUS_COMMANDS: Subcommand[] = [
  { name: "status", usage: "status [ENTITY[/CONDITION[/ACTION]]]", parse: parseStatus },
];
