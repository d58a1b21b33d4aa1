/**
 * `hamctl` subcommands about conditions: `condition` (any type, with the state and
 * raise matches) and `condition-remove`.
 *
 * @module
 */

import { CONDITION_TYPES, isConditionType } from "../../lib/core/flags.ts";
import { stateField, type StateSpec } from "../../lib/core/requests.ts";
import {
  anyOrNumber,
  booleans,
  flagOptions,
  type HamctlCommand,
  itemPath,
  parseCommandArgs,
  type ParsedArgs,
  positionals,
  quiet,
  stateList,
  str,
  strings,
  type Subcommand,
  UsageError,
} from "./common.ts";
import type { WireRequest } from "../../lib/core/protocol.ts";

const CMD = "condition";
const FLAG_OPTIONS = ["rearm", "independent", "nowait", "keep-on-empty"];
const STATE_OPTIONS = ["from", "from-set", "from-not-set", "to", "to-set", "to-not-set"];
const RAISE_OPTIONS = ["type", "class", "severity"];

/** One side of a state match: `--to N|any`, `--to-set 1,3` or `--to-not-set 1,3`. */
function stateSide(p: ParsedArgs, side: "from" | "to"): { value: number; flags: number } {
  const given = [side, `${side}-set`, `${side}-not-set`].filter((f) => str(p, f) !== undefined);
  if (given.length > 1) {
    throw new UsageError(`Give only one of ${given.map((f) => `--${f}`).join(", ")}`, CMD);
  }
  const inSet = str(p, `${side}-set`);
  const notIn = str(p, `${side}-not-set`);
  const spec: StateSpec = inSet !== undefined
    ? { set: stateList(CMD, `--${side}-set`, inSet) }
    : notIn !== undefined
    ? { set: stateList(CMD, `--${side}-not-set`, notIn), invert: true }
    : anyOrNumber(CMD, p, side);
  return stateField(spec, side);
}

function parseCondition(args: string[]): HamctlCommand {
  const p = parseCommandArgs(CMD, args, {
    ...booleans(FLAG_OPTIONS),
    ...strings([...STATE_OPTIONS, ...RAISE_OPTIONS]),
  });
  const [path, type] = positionals(CMD, p, ["ENTITY/CONDITION", "TYPE"]);
  itemPath(CMD, path, 2);
  if (!isConditionType(type)) {
    throw new UsageError(
      `Invalid condition type "${type}": expected one of ${
        Object.keys(CONDITION_TYPES).join(", ")
      }`,
      CMD,
    );
  }
  const misplaced = [
    ...(type === "state" ? [] : STATE_OPTIONS),
    ...(type === "raise" ? [] : RAISE_OPTIONS),
  ].find((o) => str(p, o) !== undefined);
  if (misplaced) {
    throw new UsageError(`Option --${misplaced} is not valid for a ${type} condition`, CMD);
  }
  const flags = flagOptions(CMD, "condition", p, FLAG_OPTIONS);
  let request: WireRequest = { op: "condition", path, type, flags };
  if (type === "state") {
    const from = stateSide(p, "from");
    const to = stateSide(p, "to");
    request = { ...request, flags: flags | from.flags | to.flags, from: from.value, to: to.value };
  } else if (type === "raise") {
    request = {
      ...request,
      rtype: anyOrNumber(CMD, p, "type"),
      rclass: anyOrNumber(CMD, p, "class"),
      rseverity: anyOrNumber(CMD, p, "severity"),
    };
  }
  return { request, json: p.values.json === true, render: quiet };
}

function parseConditionRemove(args: string[]): HamctlCommand {
  const cmd = "condition-remove";
  const p = parseCommandArgs(cmd, args, {});
  const [path] = positionals(cmd, p, ["ENTITY/CONDITION"]);
  itemPath(cmd, path, 2);
  return { request: { op: cmd, path }, json: p.values.json === true, render: quiet };
}

/** The condition subcommands. */
export const CONDITION_COMMANDS: Subcommand[] = [
  {
    name: "condition",
    usage:
      "condition ENTITY/CONDITION TYPE [--rearm] [--independent] [--nowait] [--keep-on-empty]\n" +
      "       TYPE: " + Object.keys(CONDITION_TYPES).join(" ") + "\n" +
      "       state: [--from S|any | --from-set S,S.. | --from-not-set S,S..] (same for --to)\n" +
      "       raise: [--type N|any] [--class N|any] [--severity N|any]",
    parse: parseCondition,
  },
  {
    name: "condition-remove",
    usage: "condition-remove ENTITY/CONDITION",
    parse: parseConditionRemove,
  },
];
