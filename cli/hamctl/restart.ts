/**
 * `hamctl restart NAME [--wait [--timeout DURATION]]`: restarts an entity through its
 * restart action (or, without one, its own command). A running process gets SIGTERM
 * (SIGKILL if it is still there after 10 s); its death fires nothing. With `--wait`,
 * returns once the entity runs with a new pid, and prints it (`--json`: `{ entity, pid, was }`;
 * without `--wait`, the request's answer `{ entity, pid }`, whose `pid` is the one being
 * replaced, and `was`, the same, so that `was` is the old pid in both forms).
 *
 * @module
 */

import type { HamClient } from "../../lib/client/client.ts";
import { validateEntityName } from "../../lib/core/names.ts";
import {
  booleans,
  checked,
  duration,
  type HamctlCommand,
  type HamctlIO,
  parseCommandArgs,
  positionals,
  str,
  strings,
  type Subcommand,
} from "./common.ts";
import type { EntityView } from "../../lib/core/status_view.ts";
import { DEFAULTS } from "../../lib/core/defaults.ts";

function parseRestart(args: string[]): HamctlCommand {
  const cmd = "restart";
  const p = parseCommandArgs(cmd, args, { ...booleans(["wait"]), ...strings(["timeout"]) });
  const [name] = positionals(cmd, p, ["NAME"]);
  const entity = checked(cmd, () => validateEntityName(name, false));
  const timeoutMs = duration(cmd, "--timeout", str(p, "timeout") ?? `${DEFAULTS.waitTimeoutMs}ms`);
  const json = p.values.json === true;
  const request = { op: "restart" as const, entity };
  const run = async (client: HamClient, io: HamctlIO) => {
    const old = await client.request("restart", { entity });
    // Waits by the pid, not by an event: the restart may be over before the wait starts.
    await client.request(
      "wait",
      {
        entity,
        for: old.pid === null ? "running" : "restarted",
        pid: old.pid,
        timeoutMs,
        since: null,
      },
      { timeoutMs: timeoutMs + 5_000 },
    );
    const now = await client.request("status", { path: entity }) as EntityView;
    io.out(json ? JSON.stringify({ entity, pid: now.pid, was: old.pid }, null, 2) : `${now.pid}`);
    return 0;
  };
  // Without --wait no new pid is known yet: the JSON is the request's answer (its `pid` the
  // one being replaced, as the library's `restart()` gives it), with `was`, as --wait's has.
  const started = async (client: HamClient, io: HamctlIO) => {
    const old = await client.request("restart", { entity });
    if (json) io.out(JSON.stringify({ ...old, was: old.pid }, null, 2));
    return 0;
  };
  return { request, json, render: () => null, run: p.values.wait === true ? run : started };
}

/** The restart subcommand. */
export const RESTART_COMMAND: Subcommand = {
  name: "restart",
  usage: "restart NAME [--wait [--timeout DURATION]]",
  parse: parseRestart,
};
