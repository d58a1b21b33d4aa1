/**
 * `hamctl policy`: the HAM's effective access policy (who is admin always, and the grants
 * of its policy file), and the role it gives the caller.
 *
 * @module
 */

import { type HamctlCommand, parseCommandArgs, positionals, type Subcommand } from "./common.ts";

function parsePolicy(args: string[]): HamctlCommand {
  const p = parseCommandArgs("policy", args, {});
  positionals("policy", p, [], 0);
  return {
    request: { op: "policy" },
    json: p.values.json === true,
    render: (result) => {
      const r = result as { role: string | null; text: string };
      return `${r.text}\n# your role: ${r.role ?? "none"}`;
    },
  };
}

/** The policy subcommand. */
export const POLICY_COMMANDS: Subcommand[] = [
  { name: "policy", usage: "policy", parse: parsePolicy },
];
