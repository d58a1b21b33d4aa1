/**
 * `hamctl` subcommands about what happens: `events` (the kept events, or `--follow` the
 * live stream; `--channel` for one notify channel's notifications) and `wait` (until an entity is running, dead, restarted, detached, or a
 * condition type fires on it).
 *
 * @module
 */

import type { HamClient } from "../../lib/client/client.ts";
import { HamError } from "../../lib/core/errors.ts";
import { CONDITION_TYPES, isConditionType } from "../../lib/core/flags.ts";
import { validateEntityName, validateName } from "../../lib/core/names.ts";
import type {
  EventsResult,
  HamEvent,
  Requests,
  WaitFor,
  WaitResult,
} from "../../lib/core/protocol.ts";
import {
  booleans,
  checked,
  duration,
  type HamctlCommand,
  type HamctlIO,
  integer,
  parseCommandArgs,
  positionals,
  str,
  strings,
  type Subcommand,
  UsageError,
} from "./common.ts";
import { DEFAULTS } from "../../lib/core/defaults.ts";

/** Events asked for per request when listing. */
const PAGE = 1000;

/**
 * One event as a line: `SEQ TIME TYPE ENTITY [CONDITION[/ACTION]] [DETAIL]`. The condition
 * is shown as its full path, since it may belong to the global entity. An event of no
 * entity (`stop`, a `hamctl notify`) shows `-` there, so that ENTITY is always one word.
 */
export function eventLine(ev: HamEvent): string {
  const cond = ev.condition === undefined || ev.condition === ""
    ? undefined
    : ev.condition.includes("/")
    ? ev.condition
    : `${ev.entity}/${ev.condition}`;
  const item = cond === undefined
    ? ""
    : ` ${cond}${ev.action === undefined || ev.action === "" ? "" : `/${ev.action}`}`;
  const detail = ev.detail && Object.keys(ev.detail).length > 0
    ? ` ${JSON.stringify(ev.detail)}`
    : "";
  const entity = ev.entity === "" ? "-" : ev.entity;
  return `${ev.seq} ${new Date(ev.at).toISOString()} ${ev.type} ${entity}${item}${detail}`;
}

async function list(
  client: HamClient,
  io: HamctlIO,
  fields: Requests["events"],
  json: boolean,
): Promise<number> {
  const all: HamEvent[] = [];
  let since = fields.since ?? 0;
  for (;;) {
    const r = await client.request("events", { ...fields, since });
    if (json) all.push(...r.events);
    else for (const ev of r.events) io.out(eventLine(ev));
    if (r.events.length < PAGE) {
      if (json) io.out(JSON.stringify({ events: all, next: r.next }, null, 2));
      return 0;
    }
    since = r.next;
  }
}

/**
 * Prints events as they come. It survives a takeover (the connection is re-established
 * and the subscription opened again from the sequence number after the last event
 * printed); on a stop it prints the HAM's last event (`stop`) and exits 0. A subscription
 * that the HAM drops for lagging is opened again from where it stopped.
 */
async function follow(
  client: HamClient,
  io: HamctlIO,
  fields: Requests["subscribe"],
  json: boolean,
): Promise<number> {
  let stopping = false;
  const watch = (async () => {
    for await (const p of client.pushes()) {
      if (p.type === "stopping") stopping = true;
    }
  })();
  client.reconnect({ totalMs: DEFAULTS.followReconnectMs });
  let since = fields.since ?? null;
  for (;;) {
    const lagged = Promise.withResolvers<number | null>();
    const handle = await client.subscribe({ ...fields, since }, (push) => {
      if (push.type === "event") io.out(json ? JSON.stringify(push.event) : eventLine(push.event));
      else if (push.type === "skipped") {
        io.err(`hamctl: events ${push.from} to ${push.to} are no longer kept`);
      } else if (push.type === "ended") lagged.resolve(push.next);
    });
    const next = await Promise.race([lagged.promise, client.closed.then(() => null)]);
    handle.close();
    if (next === null) break;
    io.err(`hamctl: fell behind the HAM's event stream; following again from event ${next}`);
    since = next;
  }
  await watch;
  if (stopping) return 0;
  const where = client.remote ? client.address : `"${client.address}"`;
  throw new HamError("ECONNRESET", `Lost the connection to the HAM at ${where}`);
}

function parseEvents(args: string[]): HamctlCommand {
  const cmd = "events";
  const p = parseCommandArgs(cmd, args, {
    ...booleans(["follow"]),
    ...strings(["since", "entity", "channel", "subscriber"]),
  });
  positionals(cmd, p, []);
  const sinceText = str(p, "since");
  const since = sinceText === undefined
    ? null
    : integer(cmd, "--since", sinceText, { max: Number.MAX_SAFE_INTEGER });
  const entityText = str(p, "entity");
  const entity = entityText === undefined
    ? null
    : checked(cmd, () => validateEntityName(entityText));
  const channelText = str(p, "channel");
  const channel = channelText === undefined
    ? null
    : checked(cmd, () => validateName("channel", channelText));
  const subscriberText = str(p, "subscriber");
  if (subscriberText !== undefined && (channel === null || p.values.follow !== true)) {
    throw new UsageError("--subscriber needs --follow and --channel", cmd);
  }
  const subscriber = subscriberText === undefined
    ? null
    : checked(cmd, () => validateName("subscriber", subscriberText));
  const json = p.values.json === true;
  const render = (r: unknown) => (r as EventsResult).events.map(eventLine).join("\n");
  if (p.values.follow === true) {
    const fields = { since, entity, channel, subscriber };
    return {
      request: { op: "subscribe", ...fields },
      json,
      render,
      run: (client, io) => follow(client, io, fields, json),
    };
  }
  const fields = { since: since ?? 0, entity, limit: PAGE, channel };
  return {
    request: { op: "events", ...fields },
    json,
    render,
    run: (client, io) => list(client, io, fields, json),
  };
}

const WAIT_TARGETS = ["running", "dead", "restarted", "detached"];

function parseWait(args: string[]): HamctlCommand {
  const cmd = "wait";
  const p = parseCommandArgs(cmd, args, strings(["for", "timeout", "since", "pid"]));
  const [name] = positionals(cmd, p, ["ENTITY"]);
  const target = str(p, "for");
  if (target === undefined) throw new UsageError("Missing --for", cmd);
  if (!WAIT_TARGETS.includes(target) && !isConditionType(target)) {
    throw new UsageError(
      `Invalid --for "${target}": expected one of ${WAIT_TARGETS.join(", ")} or a condition type`,
      cmd,
    );
  }
  const timeoutMs = duration(cmd, "--timeout", str(p, "timeout") ?? `${DEFAULTS.waitTimeoutMs}ms`);
  const since = str(p, "since");
  const pid = str(p, "pid");
  if (pid !== undefined && target !== "restarted" && target !== "running") {
    throw new UsageError("Option --pid goes with --for restarted or --for running", cmd);
  }
  return {
    request: {
      op: "wait",
      entity: checked(cmd, () => validateEntityName(name, false)),
      for: target as WaitFor,
      timeoutMs,
      since: since === undefined
        ? null
        : integer(cmd, "--since", since, { max: Number.MAX_SAFE_INTEGER }),
      ...(pid === undefined ? {} : { pid: integer(cmd, "--pid", pid, { max: 4194304 }) }),
    },
    json: p.values.json === true,
    render: (r) => (r as WaitResult).reached,
    timeoutMs: timeoutMs + 5_000,
  };
}

/** The event subcommands. */
export const EVENT_COMMANDS: Subcommand[] = [
  {
    name: "events",
    usage: "events [--follow] [--since SEQ] [--entity NAME] [--channel NAME]\n" +
      "       [--subscriber NAME (with --follow --channel)]",
    parse: parseEvents,
  },
  {
    name: "wait",
    usage: "wait ENTITY --for running|dead|restarted|detached|CONDTYPE [--timeout DURATION]\n" +
      "       [--since SEQ] [--pid OLD]\n" +
      `       CONDTYPE: ${Object.keys(CONDITION_TYPES).join(" ")}`,
    parse: parseWait,
  },
];
