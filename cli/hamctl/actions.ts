/**
 * `hamctl` subcommands about actions and action-fail lists: `action`, `action-remove`,
 * `action-fail`, `action-fail-remove`. Both kinds of item take the same kind-specific
 * options, built into request fields by `actionParams` of `lib/core/requests.ts`.
 *
 * @module
 */

import { ACTION_KINDS, type ActionKind, FAIL_KINDS, isActionKind } from "../../lib/core/flags.ts";
import type { RestartPolicy } from "../../lib/core/model.ts";
import { validateEntityName, validateName, validateNodeName } from "../../lib/core/names.ts";
import { actionParams } from "../../lib/core/requests.ts";
import type { ActionFields } from "../../lib/core/protocol.ts";
import {
  booleans,
  checked,
  duration,
  flagOptions,
  type HamctlCommand,
  integer,
  itemPath,
  parseCommandArgs,
  type ParsedArgs,
  positionals,
  quiet,
  signedInteger,
  str,
  strings,
  type Subcommand,
  UsageError,
} from "./common.ts";

const KIND_OPTIONS: Record<ActionKind, string[]> = {
  "restart": ["backoff", "max-backoff", "jitter", "intensity", "window", "cooldown"],
  "execute": ["timeout"],
  "waitfor": ["delay", "path"],
  "signal": ["signal", "pid", "to-node", "to-entity"],
  "log": ["message", "verbosity", "no-prefix"],
  "heartbeat-healthy": [],
  "notify": ["channel", "code", "value", "to-node"],
};
const ALL_KIND_OPTIONS = Object.values(KIND_OPTIONS).flat();
const KIND_SPEC = {
  ...strings(ALL_KIND_OPTIONS.filter((o) => o !== "no-prefix")),
  ...booleans(["no-prefix"]),
};
const ACTION_FLAGS = ["rearm", "do-now", "break-on-fail", "keep-on-fail"];

function required(cmd: string, p: ParsedArgs, name: string, kind: string): string {
  const v = str(p, name);
  if (v === undefined) throw new UsageError(`A ${kind} action needs --${name}`, cmd);
  return v;
}

function restartPolicy(cmd: string, p: ParsedArgs): Partial<RestartPolicy> | null {
  const policy: Partial<RestartPolicy> = {};
  const ms = (flag: string, key: "backoffMs" | "maxBackoffMs" | "windowMs" | "cooldownMs") => {
    const v = str(p, flag);
    if (v !== undefined) policy[key] = duration(cmd, `--${flag}`, v);
  };
  ms("backoff", "backoffMs");
  ms("max-backoff", "maxBackoffMs");
  ms("window", "windowMs");
  ms("cooldown", "cooldownMs");
  const jitter = str(p, "jitter");
  if (jitter !== undefined) {
    const j = Number(jitter);
    if (jitter.trim() === "" || !(j >= 0 && j <= 1)) {
      throw new UsageError(`Invalid --jitter "${jitter}": expected a fraction from 0 to 1`, cmd);
    }
    policy.jitter = j;
  }
  const intensity = str(p, "intensity");
  if (intensity !== undefined) {
    policy.intensity = integer(cmd, "--intensity", intensity, { max: 1_000_000 });
  }
  return Object.keys(policy).length > 0 ? policy : null;
}

/** The kind-specific request fields of an action or action-fail item, from the options. */
function paramsFor(cmd: string, kind: ActionKind, p: ParsedArgs): ActionFields {
  const misplaced = ALL_KIND_OPTIONS.find((o) =>
    p.values[o] !== undefined && !KIND_OPTIONS[kind].includes(o)
  );
  if (misplaced) {
    throw new UsageError(`Option --${misplaced} is not valid for a ${kind} action`, cmd);
  }
  const argv = p.rest !== null && p.rest.length > 0 ? p.rest : null;
  if (argv !== null && kind !== "restart" && kind !== "execute") {
    throw new UsageError(`A ${kind} action takes no command after --`, cmd);
  }
  switch (kind) {
    case "restart":
      return actionParams.restart(argv, restartPolicy(cmd, p));
    case "execute": {
      if (argv === null) throw new UsageError("An execute action needs a command after --", cmd);
      const timeout = str(p, "timeout");
      return actionParams.execute(
        argv,
        timeout === undefined ? undefined : duration(cmd, "--timeout", timeout),
      );
    }
    case "waitfor":
      return actionParams.waitfor(
        duration(cmd, "--delay", required(cmd, p, "delay", kind)),
        str(p, "path") ?? null,
      );
    case "signal": {
      const pid = str(p, "pid");
      const node = str(p, "to-node");
      const entity = str(p, "to-entity");
      if (node === undefined) {
        if (entity !== undefined) throw new UsageError("--to-entity needs --to-node", cmd);
        return checked(cmd, () =>
          actionParams.signal(
            str(p, "signal"),
            pid === undefined ? null : integer(cmd, "--pid", pid, { max: 4194304 }),
          ));
      }
      if (pid !== undefined || entity === undefined) {
        throw new UsageError(
          "A signal action with --to-node signals an entity of that node: give --to-entity NAME, not --pid",
          cmd,
        );
      }
      checked(cmd, () => validateNodeName("--to-node", node));
      checked(cmd, () => validateEntityName(entity, false));
      return checked(cmd, () => actionParams.signalNode(node, entity, str(p, "signal")));
    }
    case "log": {
      const verbosity = str(p, "verbosity");
      return actionParams.log(required(cmd, p, "message", kind), {
        ...(p.values["no-prefix"] === true ? { prefix: false } : {}),
        ...(verbosity === undefined
          ? {}
          : { verbosity: integer(cmd, "--verbosity", verbosity, { max: 9 }) }),
      });
    }
    case "heartbeat-healthy":
      return actionParams.heartbeatHealthy();
    case "notify": {
      const num = (flag: string) => {
        const v = str(p, flag);
        return v === undefined ? 0 : signedInteger(cmd, `--${flag}`, v);
      };
      const channel = required(cmd, p, "channel", kind);
      checked(cmd, () => validateName("channel", channel));
      const node = str(p, "to-node");
      if (node === undefined) return actionParams.notify(channel, num("code"), num("value"));
      checked(cmd, () => validateNodeName("--to-node", node));
      return actionParams.notifyNode(node, channel, num("code"), num("value"));
    }
  }
}

function actionKind(cmd: string, kind: string, allowed: readonly ActionKind[]): ActionKind {
  if (!isActionKind(kind) || !allowed.includes(kind)) {
    throw new UsageError(
      `Invalid action kind "${kind}": expected one of ${allowed.join(", ")}`,
      cmd,
    );
  }
  return kind;
}

function parseAction(args: string[]): HamctlCommand {
  const cmd = "action";
  const p = parseCommandArgs(cmd, args, { ...KIND_SPEC, ...booleans(ACTION_FLAGS) }, true);
  const [path, kindText] = positionals(cmd, p, ["ENTITY/CONDITION/ACTION", "KIND"]);
  itemPath(cmd, path, 3);
  const kind = actionKind(cmd, kindText, Object.keys(ACTION_KINDS) as ActionKind[]);
  const flags = flagOptions(cmd, "action", p, ACTION_FLAGS);
  return {
    request: { op: "action", path, flags, ...paramsFor(cmd, kind, p) },
    json: p.values.json === true,
    render: quiet,
  };
}

function parseActionFail(args: string[]): HamctlCommand {
  const cmd = "action-fail";
  const p = parseCommandArgs(cmd, args, KIND_SPEC, true);
  const [path, name, kindText] = positionals(cmd, p, ["ENTITY/CONDITION/ACTION", "NAME", "KIND"]);
  itemPath(cmd, path, 3);
  checked(cmd, () => validateName("action-fail", name));
  const kind = actionKind(cmd, kindText, FAIL_KINDS);
  return {
    request: { op: "action-fail", path, name, ...paramsFor(cmd, kind, p) },
    json: p.values.json === true,
    render: quiet,
  };
}

function parseRemove(cmd: "action-remove" | "action-fail-remove") {
  return (args: string[]): HamctlCommand => {
    const p = parseCommandArgs(cmd, args, {});
    const names = cmd === "action-remove"
      ? ["ENTITY/CONDITION/ACTION"]
      : ["ENTITY/CONDITION/ACTION", "NAME"];
    const [path, name] = positionals(cmd, p, names);
    itemPath(cmd, path, 3);
    return {
      request: cmd === "action-remove" ? { op: cmd, path } : { op: cmd, path, name: name! },
      json: p.values.json === true,
      render: quiet,
    };
  };
}

const KIND_USAGE = "       restart [--backoff D] [--max-backoff D] [--jitter F] [--intensity N]\n" +
  "               [--window D] [--cooldown D] [-- COMMAND [ARG...]]\n" +
  "       execute [--timeout D] -- COMMAND [ARG...]   waitfor --delay D [--path FILE]\n" +
  "       signal [--signal SIG] [--pid PID | --to-node NODE --to-entity NAME]\n" +
  "       log --message TEXT [--verbosity N] [--no-prefix]   heartbeat-healthy\n" +
  "       notify --channel NAME [--code N] [--value N] [--to-node NODE]";

/** The action and action-fail subcommands. */
export const ACTION_COMMANDS: Subcommand[] = [
  {
    name: "action",
    usage: "action ENTITY/CONDITION/ACTION KIND [--rearm] [--do-now] [--break-on-fail]\n" +
      "       [--keep-on-fail] [KIND OPTIONS]\n" + KIND_USAGE,
    parse: parseAction,
  },
  {
    name: "action-remove",
    usage: "action-remove ENTITY/CONDITION/ACTION",
    parse: parseRemove("action-remove"),
  },
  {
    name: "action-fail",
    usage: "action-fail ENTITY/CONDITION/ACTION NAME KIND [KIND OPTIONS]\n" +
      `       KIND: ${FAIL_KINDS.join(" ")}`,
    parse: parseActionFail,
  },
  {
    name: "action-fail-remove",
    usage: "action-fail-remove ENTITY/CONDITION/ACTION NAME",
    parse: parseRemove("action-fail-remove"),
  },
];
