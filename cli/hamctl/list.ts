/**
 * `hamctl list [--json]`: one line per entity: name, pid, state (running, dead,
 * placeholder, disabled), restarts, uptime, last exit.
 *
 * @module
 */

import { type ListRow, renderList } from "../../lib/core/list_view.ts";
import { type HamctlCommand, parseCommandArgs, positionals, type Subcommand } from "./common.ts";

function parseList(args: string[]): HamctlCommand {
  const p = parseCommandArgs("list", args, {});
  positionals("list", p, []);
  return {
    request: { op: "list" },
    json: p.values.json === true,
    render: (r) => renderList((r as { entities: ListRow[] }).entities),
  };
}

/** The list subcommand. */
export const LIST_COMMAND: Subcommand = {
  name: "list",
  usage: "list",
  parse: parseList,
};
