/**
 * `hamctl export [--json]`: the running configuration in the config file's format (YAML,
 * or JSON with `--json`); applying it to the same HAM changes nothing. On a clustered HAM,
 * the cluster's entities are in it too, with `cluster: true` and their placement.
 *
 * @module
 */

import { toConfigData } from "../../lib/core/config.ts";
import { type HamctlCommand, parseCommandArgs, positionals, type Subcommand } from "./common.ts";

function parseExport(args: string[]): HamctlCommand {
  const p = parseCommandArgs("export", args, {});
  positionals("export", p, []);
  const json = p.values.json === true;
  return {
    request: { op: "status", path: null },
    json: false,
    render: () => null,
    run: async (client, io) => {
      const { currentConfig } = await import("../../lib/client/config_apply.ts");
      const data = toConfigData(await currentConfig(client));
      if (json) io.out(JSON.stringify(data, null, 2));
      else io.out((await (await import("../../lib/os/config_file.ts")).configText(data)).trimEnd());
      return 0;
    },
  };
}

/** The export subcommand. */
export const EXPORT_COMMAND: Subcommand = {
  name: "export",
  usage: "export",
  parse: parseExport,
};
