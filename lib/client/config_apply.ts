/**
 * Carries out a config plan over a client connection: the requests of each change in
 * order; an error names the change, and the file, line and key it comes from.
 *
 * @module
 */

import type { HamClient } from "./client.ts";
import {
  type Change,
  ConfigError,
  type EntitySpec,
  fromView,
  type KeyPath,
  planApply,
} from "../core/config.ts";
import { HamError, toHamError } from "../core/errors.ts";
import type { EntityView, HamView } from "../core/status_view.ts";
import type { ConfigFile } from "../os/config_file.ts";

/** Options of {@linkcode applyConfig}. */
export interface ApplyOptions {
  /** Remove entities and conditions the file does not have. @default false */
  prune?: boolean;
  /** Only plan. @default false */
  dryRun?: boolean;
  /** Called with each change before it is made (or, dry, instead). */
  onChange?(change: Change): void;
}

/** A change as a line: `create web`, `update web/death`, `remove old`. */
export function changeLine(c: Change): string {
  return `${c.change} ${c.item}`;
}

/**
 * The configuration the HAM has now: its entities and, on a clustered HAM, the cluster's
 * entities (each by its own `status NAME`, which gives a definition where another node runs
 * it), as `hamctl export` prints it.
 */
export async function currentConfig(client: HamClient): Promise<EntitySpec[]> {
  const view = await client.request("status", { path: null }) as HamView;
  const clustered: EntityView[] = [];
  for (const e of view.cluster?.entities ?? []) {
    try {
      clustered.push(await client.request("status", { path: e.name }) as EntityView);
    } catch (err) {
      if (toHamError(err).code !== "ENOENT") throw err; // Undeclared meanwhile.
    }
  }
  return fromView(view, clustered);
}

/** A request sender over a client, for plan requests. */
type Send = (
  op: string,
  fields: Record<string, unknown>,
  opts?: { timeoutMs?: number },
) => Promise<unknown>;

/**
 * Asks the HAM, before any change, whether each command the plan attaches (a new entity's,
 * or a replacement's, whose old process the plan stops first) could be started: a command
 * that cannot would otherwise leave a replaced entity stopped, detached and gone. The HAM
 * is asked (`check-attach`), not this process's filesystem: it may be another host's. A dry
 * run without the role to ask (`EPERM`), or a HAM that does not know the question (`EPROTO`,
 * an older one), goes on without the answer.
 */
async function checkCommands(
  send: Send,
  file: ConfigFile,
  changes: Change[],
  dryRun: boolean,
): Promise<void> {
  for (const change of changes) {
    for (const { op, key, ...fields } of change.requests) {
      // A cluster entity runs where the cluster places it: this HAM cannot answer for it.
      if (op !== "attach" || !Array.isArray(fields.argv) || fields.cluster) continue;
      const { entity, argv, cwd, env } = fields;
      try {
        await send("check-attach", { entity, argv, cwd, env });
      } catch (err) {
        const e = toHamError(err);
        if (e.code === "EPROTO" || (dryRun && e.code === "EPERM")) return;
        throw new HamError(
          e.code,
          `${where(file, key ?? change.key)}: cannot ${changeLine(change)}: ${e.message}; ` +
            `nothing was changed${
              change.change === "update" ? ` ("${entity}" is left as it is)` : ""
            }`,
          { cause: err },
        );
      }
    }
  }
}

/** The file, line and key of `at` (the file alone for none), as errors start. */
function where(file: ConfigFile, at: KeyPath): string {
  return at.length > 0 ? file.error(at, "").message.replace(/: $/, "") : file.path;
}

/** Makes the HAM match `file`; returns the changes (none: it matched already). */
export async function applyConfig(
  client: HamClient,
  file: ConfigFile,
  opts: ApplyOptions = {},
): Promise<Change[]> {
  // Plan requests are built from checked config data; they go out as they are.
  const send = client.request.bind(client) as Send;
  let changes: Change[];
  const before = await currentConfig(client);
  try {
    changes = planApply(before, file.entities, opts.prune ?? false);
  } catch (err) {
    if (err instanceof ConfigError) throw file.error(err.key, err.message);
    throw err;
  }
  await checkCommands(send, file, changes, opts.dryRun ?? false);
  for (const change of changes) {
    opts.onChange?.(change);
    if (opts.dryRun) continue;
    let dead = false;
    let detached = false;
    for (const { op, tolerate, key, unlessDead, ...fields } of change.requests) {
      if (unlessDead && dead) continue;
      try {
        await send(op, fields, op === "wait" ? { timeoutMs: 35_000 } : {});
        if (op === "wait" && fields.for === "dead") dead = true;
        if (op === "detach") detached = true;
      } catch (err) {
        const e = toHamError(err);
        if (tolerate?.includes(e.code)) continue;
        const prefix = where(file, key ?? change.key);
        // A replacement whose new command failed once its old process was stopped and
        // detached (what only the exec can tell: a missing interpreter, a noexec mount):
        // the previous definition is put back, so the entity is not left gone.
        const old = op === "attach" && detached
          ? before.find((b) => b.name === fields.entity)
          : undefined;
        const back = old ? `; ${await putBack(client, send, old)}` : "";
        throw new HamError(e.code, `${prefix}: cannot ${changeLine(change)}: ${e.message}${back}`, {
          cause: err,
        });
      }
    }
  }
  return changes;
}

/**
 * Attaches `old` (an entity's definition before a failed replacement) again, with its
 * conditions; says what came of it, for the error of the replacement.
 */
async function putBack(client: HamClient, send: Send, old: EntitySpec): Promise<string> {
  try {
    const current = (await currentConfig(client)).filter((e) => e.name === old.name);
    for (const change of planApply(current, [old], false)) {
      for (const { op, tolerate, key: _key, unlessDead: _u, ...fields } of change.requests) {
        try {
          await send(op, fields, op === "wait" ? { timeoutMs: 35_000 } : {});
        } catch (err) {
          if (!tolerate?.includes(toHamError(err).code)) throw err;
        }
      }
    }
    return `its previous definition was attached again ("${old.name}" runs its previous command)`;
  } catch (err) {
    const e = toHamError(err);
    return `and attaching its previous definition again failed too: ${e.code}: ${e.message}`;
  }
}
