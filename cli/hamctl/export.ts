/**
 * `hamctl export [--json]`: the running configuration in the config file's format (YAML,
 * or JSON with `--json`); applying it to the same HAM changes nothing.
 *
 * @module
 */

import { fromView, toConfigData } from "../../lib/core/config.ts";
import type { HamView } from "../../lib/core/status_view.ts";
import { loadConfigModule } from "./config_module.ts";
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
      const data = toConfigData(
        fromView(await client.request("status", { path: null }) as HamView),
      );
      if (json) io.out(JSON.stringify(data, null, 2));
      else io.out((await loadConfigModule()).configText(data).trimEnd());
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
