/**
 * `hamctl metrics`: the HAM's metrics in the Prometheus text exposition format (the same
 * text `ham --metrics-listen HOST:PORT` serves at `/metrics`).
 *
 * @module
 */

import { type HamctlCommand, parseCommandArgs, positionals, type Subcommand } from "./common.ts";

function parseMetrics(args: string[]): HamctlCommand {
  const p = parseCommandArgs("metrics", args, {});
  positionals("metrics", p, []);
  return {
    request: { op: "metrics" },
    json: p.values.json === true,
    render: (r) => (r as { text: string }).text.trimEnd(),
  };
}

/** The metrics subcommand. */
export const METRICS_COMMAND: Subcommand = {
  name: "metrics",
  usage: "metrics",
  parse: parseMetrics,
};
