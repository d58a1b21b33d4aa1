/**
 * `hamctl notify CHANNEL [--code N] [--value N]`: delivers a notification to the HAM's
 * subscribers of a channel, as a notify action does (the `report` role); with
 * `hamctl --node NAME`, to another node's subscribers, as a notify action naming that node
 * does. Fails (ENOENT) when nobody can get it: no subscriber is connected and the channel
 * cannot keep it.
 *
 * @module
 */

import { validateName } from "../../lib/core/names.ts";
import {
  checked,
  type HamctlCommand,
  parseCommandArgs,
  positionals,
  signedInteger,
  str,
  strings,
  type Subcommand,
} from "./common.ts";

function parseNotify(args: string[]): HamctlCommand {
  const cmd = "notify";
  const p = parseCommandArgs(cmd, args, strings(["code", "value"]));
  const [channel] = positionals(cmd, p, ["CHANNEL"]);
  checked(cmd, () => validateName("channel", channel));
  const num = (flag: string) => {
    const v = str(p, flag);
    return v === undefined ? 0 : signedInteger(cmd, `--${flag}`, v);
  };
  return {
    request: { op: "notify", channel, code: num("code"), value: num("value") },
    json: p.values.json === true,
    render: () => null,
  };
}

/** The notify subcommand. */
export const NOTIFY_COMMAND: Subcommand = {
  name: "notify",
  usage: "notify CHANNEL [--code N] [--value N]",
  parse: parseNotify,
};
