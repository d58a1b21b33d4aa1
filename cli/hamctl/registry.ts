/**
 * Where each `hamctl` subcommand lives. The dispatcher knows only the names; a family's
 * file (its parsers and what they import) is loaded when one of its subcommands is used,
 * so `hamctl ping` does not pay for `attach`'s parsers or `events`' renderers. A new
 * subcommand family is a file under `cli/hamctl/` exporting its `Subcommand[]`, and one line
 * here (a test checks that each line's names are the ones its file defines).
 *
 * @module
 */

import type { Subcommand } from "./common.ts";

/** A family of subcommands: their names, and how to load their definitions. */
export interface SubcommandFamily {
  /** The family's file, relative to `cli/hamctl/` (for messages and tests). */
  file: string;
  /** The names of its subcommands, in the order `hamctl help` lists them. */
  names: readonly string[];
  /** Imports the file and returns its subcommands. */
  load(): Promise<readonly Subcommand[]>;
}

/** Every subcommand family, in the order `hamctl help` lists them. */
export const FAMILIES: readonly SubcommandFamily[] = [
  {
    file: "entities.ts",
    names: ["attach", "entity", "detach", "heartbeat", "state", "raise"],
    load: async () => (await import("./entities.ts")).ENTITY_COMMANDS,
  },
  {
    file: "conditions.ts",
    names: ["condition", "condition-remove"],
    load: async () => (await import("./conditions.ts")).CONDITION_COMMANDS,
  },
  {
    file: "actions.ts",
    names: ["action", "action-remove", "action-fail", "action-fail-remove"],
    load: async () => (await import("./actions.ts")).ACTION_COMMANDS,
  },
  {
    file: "control.ts",
    names: ["enable", "disable", "flags", "verbose", "ping", "stop"],
    load: async () => (await import("./control.ts")).CONTROL_COMMANDS,
  },
  {
    file: "status.ts",
    names: ["status"],
    load: async () => (await import("./status.ts")).STATUS_COMMANDS,
  },
  {
    file: "events.ts",
    names: ["events", "wait"],
    load: async () => (await import("./events.ts")).EVENT_COMMANDS,
  },
  {
    file: "kill.ts",
    names: ["kill"],
    load: async () => [(await import("./kill.ts")).KILL_COMMAND],
  },
  {
    file: "notify.ts",
    names: ["notify"],
    load: async () => [(await import("./notify.ts")).NOTIFY_COMMAND],
  },
  {
    file: "restart.ts",
    names: ["restart"],
    load: async () => [(await import("./restart.ts")).RESTART_COMMAND],
  },
  {
    file: "list.ts",
    names: ["list"],
    load: async () => [(await import("./list.ts")).LIST_COMMAND],
  },
  {
    file: "metrics.ts",
    names: ["metrics"],
    load: async () => [(await import("./metrics.ts")).METRICS_COMMAND],
  },
  {
    file: "logs.ts",
    names: ["logs"],
    load: async () => [(await import("./logs.ts")).LOGS_COMMAND],
  },
  {
    file: "apply.ts",
    names: ["apply"],
    load: async () => [(await import("./apply.ts")).APPLY_COMMAND],
  },
  {
    file: "export.ts",
    names: ["export"],
    load: async () => [(await import("./export.ts")).EXPORT_COMMAND],
  },
  {
    file: "policy.ts",
    names: ["policy"],
    load: async () => (await import("./policy.ts")).POLICY_COMMANDS,
  },
  {
    file: "completion.ts",
    names: ["completion"],
    load: async () => [(await import("./completion.ts")).completionCommand(loadAllSubcommands)],
  },
  {
    file: "batch.ts",
    names: ["batch"],
    load: async () => (await import("./batch.ts")).batchCommands(loadSubcommand),
  },
];

/** Every subcommand's name (without loading anything). */
export function allSubcommandNames(): string[] {
  return FAMILIES.flatMap((f) => f.names);
}

/** Whether `name` is a subcommand (without loading anything). */
export function isSubcommand(name: string): boolean {
  return FAMILIES.some((f) => f.names.includes(name));
}

/** Loads the family of subcommand `name` and returns its definition, if there is one. */
export async function loadSubcommand(name: string): Promise<Subcommand | undefined> {
  const family = FAMILIES.find((f) => f.names.includes(name));
  return (await family?.load())?.find((s) => s.name === name);
}

/** Loads every family and returns all subcommands, in the order of `hamctl help`. */
export async function loadAllSubcommands(): Promise<Subcommand[]> {
  const families = await Promise.all(FAMILIES.map((f) => f.load()));
  return FAMILIES.flatMap((f, i) => f.names.map((n) => families[i].find((s) => s.name === n)!));
}
