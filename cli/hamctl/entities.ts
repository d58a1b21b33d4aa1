/**
 * `hamctl` subcommands about entities: `attach`, `entity`, `detach`, and what an entity
 * (or anyone) can tell the HAM about it: `heartbeat`, `state`, `raise`.
 *
 * @module
 */

import { DEFAULTS } from "../../lib/core/defaults.ts";
import type { HamClient } from "../../lib/client/client.ts";
import type { AttachResult } from "../../lib/core/protocol.ts";
import { HamError } from "../../lib/core/errors.ts";
import { firesNothing, firesNothingNote } from "../../lib/core/heartbeat.ts";
import { validateEntityName } from "../../lib/core/names.ts";
import { KILL_MODES, type KillMode } from "../../lib/core/model.ts";
import {
  anyOrNumber,
  booleans,
  checked,
  duration,
  flagOptions,
  type HamctlCommand,
  type HamctlIO,
  integer,
  parseCommandArgs,
  type ParsedArgs,
  positionals,
  quiet,
  str,
  strings,
  type Subcommand,
  UsageError,
} from "./common.ts";

function entityName(cmd: string, name: string): string {
  return checked(cmd, () => validateEntityName(name, false));
}

function parseAttach(args: string[]): HamctlCommand {
  const cmd = "attach";
  const p = parseCommandArgs(cmd, args, {
    ...strings(["pid", "heartbeat", "low", "high", "cwd", "timeout", "placement", "kill-mode"]),
    ...booleans(["keep-on-death", "wait", "cluster"]),
  }, true);
  const [name] = positionals(cmd, p, ["NAME"]);
  const entity = entityName(cmd, name);
  const pidText = str(p, "pid");
  const argv = p.rest !== null && p.rest.length > 0 ? p.rest : null;
  if ((argv === null) === (pidText === undefined)) {
    throw new UsageError("Give either a command after -- or --pid PID", cmd);
  }
  const hbText = str(p, "heartbeat");
  if (hbText === undefined && (str(p, "low") !== undefined || str(p, "high") !== undefined)) {
    throw new UsageError("--low and --high need --heartbeat", cmd);
  }
  const count = (flag: string) => {
    const v = str(p, flag);
    return v === undefined ? 0 : integer(cmd, `--${flag}`, v, { max: 1_000_000 });
  };
  const heartbeat = hbText === undefined
    ? null
    : { periodMs: duration(cmd, "--heartbeat", hbText), low: count("low"), high: count("high") };
  const given = str(p, "timeout");
  const timeoutMs = given === undefined ? DEFAULTS.attachWaitMs : duration(cmd, "--timeout", given);
  const killMode = str(p, "kill-mode");
  if (killMode !== undefined && !KILL_MODES.includes(killMode as KillMode)) {
    throw new UsageError(
      `Invalid --kill-mode "${killMode}": expected ${KILL_MODES.join(" or ")}`,
      cmd,
    );
  }
  const request = {
    op: "attach" as const,
    entity,
    argv,
    pid: pidText === undefined ? null : integer(cmd, "pid", pidText, { max: 4194304 }),
    cwd: str(p, "cwd") ?? null,
    env: null,
    flags: flagOptions(cmd, "entity", p, ["keep-on-death"]),
    heartbeat,
    ...(killMode === undefined ? {} : { killMode: killMode as KillMode }),
    ...clusterField(cmd, p),
  };
  const render = (r: unknown) => request.cluster ? null : String((r as AttachResult).pid);
  const json = p.values.json === true;
  const run = async (client: HamClient, io: HamctlIO) => {
    const { op, ...fields } = request;
    const result = await client.request(op, fields);
    // Running, or already dead: a command that ends at once is reported at once, not waited
    // out (`systemctl start` of a unit that fails says so).
    const running = client.request("wait", { entity, for: "running", timeoutMs, since: null }, {
      timeoutMs: timeoutMs + 5_000,
    }).then(() => true);
    let deadAt: number | null = null;
    const dead = client.request("wait", { entity, for: "dead", timeoutMs, since: null }, {
      timeoutMs: timeoutMs + 5_000,
    }).then((r) => {
      deadAt = r.seq;
      return false;
    }, () => new Promise<boolean>(() => {}));
    if (!await Promise.race([running, dead])) {
      const view = await client.request("status", { path: entity }).catch(() => null) as
        | { pid: number | null; lastExit: { code: number | null; signal: string | null } | null }
        | null;
      // Removed (not kept on death): how it ended is in its death event.
      deadAt ??= (await client.request("events", {
        since: Number.MAX_SAFE_INTEGER,
        entity: null,
        limit: 1,
        channel: null,
      }).catch(() => ({ next: 0 }))).next;
      const events = await client.request("events", {
        since: Math.max(0, deadAt - 100),
        entity,
        limit: 1000,
        channel: null,
      }).catch(() => null);
      const death = events?.events.findLast((ev) =>
        ev.type === "death" && ev.detail?.pid === result.pid
      );
      const exit = view?.lastExit ??
        (death
          ? {
            code: (death.detail?.code ?? null) as number | null,
            signal: (death.detail?.signal ?? null) as string | null,
          }
          : null);
      const how = exit?.signal
        ? `was killed by ${exit.signal}`
        : exit?.code !== undefined && exit?.code !== null
        ? `exited with code ${exit.code}`
        : "ended";
      throw new HamError(
        "ESRCH",
        `Entity "${entity}" (pid ${result.pid}) ${how} as it started` +
          (view === null ? " (removed: it is not kept on death)" : ""),
      );
    }
    io.out(json ? JSON.stringify(result, null, 2) : String(result.pid));
    return 0;
  };
  const warnings = heartbeat && firesNothing(heartbeat)
    ? [`${firesNothingNote(entity, heartbeat)}: give --low N and/or --high N`]
    : [];
  return { request, json, render, warnings, ...(p.values.wait === true ? { run } : {}) };
}

/** `--cluster [--placement N1,N2]`: a cluster entity, run on one node of those named. */
function clusterField(cmd: string, p: ParsedArgs): { cluster?: { placement: string[] } } {
  const placement = str(p, "placement");
  if (p.values.cluster !== true) {
    if (placement !== undefined) throw new UsageError("--placement needs --cluster", cmd);
    return {};
  }
  if (p.values.wait === true) throw new UsageError("--wait is for local entities", cmd);
  const nodes = placement === undefined ? [] : placement.split(",").map((n) => n.trim());
  return { cluster: { placement: nodes } };
}

function parseEntity(args: string[]): HamctlCommand {
  const p = parseCommandArgs("entity", args, booleans(["keep-on-death"]));
  const [name] = positionals("entity", p, ["NAME"]);
  return {
    request: {
      op: "entity",
      entity: entityName("entity", name),
      flags: flagOptions("entity", "entity", p, ["keep-on-death"]),
    },
    json: p.values.json === true,
    render: quiet,
  };
}

/** A command naming one entity and nothing else (`detach`, `heartbeat`). */
function byName(op: "detach" | "heartbeat") {
  return (args: string[]): HamctlCommand => {
    const p = parseCommandArgs(op, args, {});
    const [name] = positionals(op, p, ["ENTITY"]);
    return {
      request: { op, entity: entityName(op, name) },
      json: p.values.json === true,
      render: quiet,
    };
  };
}

function parseState(args: string[]): HamctlCommand {
  const p = parseCommandArgs("state", args, {});
  const [name, to] = positionals("state", p, ["ENTITY", "STATE"]);
  return {
    request: { op: "state", entity: entityName("state", name), to: integer("state", "state", to) },
    json: p.values.json === true,
    render: quiet,
  };
}

function parseRaise(args: string[]): HamctlCommand {
  const p = parseCommandArgs("raise", args, strings(["type", "class", "severity"]));
  const [name] = positionals("raise", p, ["ENTITY"]);
  return {
    request: {
      op: "raise",
      entity: entityName("raise", name),
      rtype: anyOrNumber("raise", p, "type"),
      rclass: anyOrNumber("raise", p, "class"),
      rseverity: anyOrNumber("raise", p, "severity"),
    },
    json: p.values.json === true,
    render: quiet,
  };
}

/** The entity subcommands. */
export const ENTITY_COMMANDS: Subcommand[] = [
  {
    name: "attach",
    usage:
      "attach NAME (-- COMMAND [ARG...] | --pid PID) [--heartbeat DURATION --low N --high N]\n" +
      "       [--cwd DIR] [--keep-on-death] [--kill-mode control-group|process]\n" +
      "       [--wait [--timeout DURATION]]\n" +
      "       [--cluster [--placement NODE,...]]",
    parse: parseAttach,
  },
  { name: "entity", usage: "entity NAME [--keep-on-death]", parse: parseEntity },
  { name: "detach", usage: "detach NAME", parse: byName("detach") },
  { name: "heartbeat", usage: "heartbeat ENTITY", parse: byName("heartbeat") },
  { name: "state", usage: "state ENTITY STATE", parse: parseState },
  {
    name: "raise",
    usage: "raise ENTITY [--type N|any] [--class N|any] [--severity N|any]",
    parse: parseRaise,
  },
];
