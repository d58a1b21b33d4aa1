/**
 * The one decoder of untrusted requests: {@linkcode decodeRequest} turns a request line into
 * a {@linkcode Request} of the contract (`protocol.ts`), filling in the documented defaults,
 * and throws only {@linkcode HamError}. The HAM's server and the tests' fake HAM both use it,
 * so a client that sends what the server would refuse fails a test.
 *
 * @module
 */

import { HamError } from "./errors.ts";
import {
  type ActionKind,
  FAIL_KINDS,
  isActionKind,
  isConditionType,
  parseFlags,
  parseSignal,
} from "./flags.ts";
import {
  type ActionParams,
  type HeartbeatSpec,
  KILL_MODES,
  type KillMode,
  type RestartPolicy,
} from "./model.ts";
import {
  NODE_NAME,
  parsePath,
  printable,
  validateEntityName,
  validateName,
  validateNodeName,
} from "./names.ts";
import { DEFAULTS } from "./defaults.ts";
import { POLICY_DEFAULTS } from "./restart_policy.ts";
import type { ControlCommand, Request, WaitFor } from "./protocol.ts";

const MAX_DURATION_MS = DEFAULTS.maxDurationMs;

type Obj = Record<string, unknown>;

function str(o: Obj, key: string): string {
  const v = o[key];
  if (typeof v !== "string") {
    throw new HamError("EINVAL", `Invalid field "${key}": expected a string`);
  }
  return v;
}

function optStr(o: Obj, key: string): string | null {
  return o[key] === undefined || o[key] === null ? null : str(o, key);
}

/** An integer in [min, max]; names the field and the bad value. */
function int(o: Obj, key: string, min: number, max: number, dflt?: number): number {
  const v = o[key];
  if ((v === undefined || v === null) && dflt !== undefined) return dflt;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min || v > max) {
    throw new HamError(
      "EINVAL",
      `Invalid field "${key}" ${JSON.stringify(v)}: expected an integer from ${min} to ${max}`,
    );
  }
  return v;
}

/** An optional string of at most `DEFAULTS.maxPathBytes` characters (a name or a path). */
function optText(o: Obj, key: string): string | null {
  const v = optStr(o, key);
  if (v !== null && v.length > DEFAULTS.maxPathBytes) {
    throw new HamError(
      "ENAMETOOLONG",
      `Invalid field "${key}": longer than ${DEFAULTS.maxPathBytes}`,
    );
  }
  return v;
}

function optName(o: Obj, key: string): string | null {
  return o[key] === undefined || o[key] === null ? null : validateName(key, o[key]);
}

function bool(o: Obj, key: string, dflt: boolean): boolean {
  const v = o[key];
  if (v === undefined || v === null) return dflt;
  if (typeof v !== "boolean") {
    throw new HamError("EINVAL", `Invalid field "${key}": expected a boolean`);
  }
  return v;
}

function argv(o: Obj, key: string): string[] {
  const v = o[key];
  if (
    !Array.isArray(v) || v.length === 0 || v.length > DEFAULTS.maxArgv ||
    !v.every((x) => typeof x === "string" && !x.includes("\0"))
  ) {
    throw new HamError(
      "EINVAL",
      `Invalid field "${key}": expected a non-empty list of strings (the command and its arguments)`,
    );
  }
  if ((v[0] as string).length === 0) {
    throw new HamError("EINVAL", `Invalid field "${key}": empty command`);
  }
  return v as string[];
}

function optArgv(o: Obj, key: string): string[] | null {
  return o[key] === undefined || o[key] === null ? null : argv(o, key);
}

/** The `cluster` field of an attach (absent, or a placement list of node names). */
function cluster(v: unknown): { cluster?: { placement: string[] } } {
  if (v === undefined || v === null) return {};
  const placement = (v as Obj).placement ?? [];
  if (
    typeof v !== "object" || !Array.isArray(placement) || placement.length > 64 ||
    !placement.every((n) => typeof n === "string" && NODE_NAME.test(n))
  ) {
    throw new HamError(
      "EINVAL",
      `Invalid field "cluster": expected { placement: [node names] } (letters, digits, _ . -)`,
    );
  }
  return { cluster: { placement: placement as string[] } };
}

/** The `env` field of an attach: variables over the HAM's own, or null. */
function decodeEnv(o: Obj): Record<string, string> | null {
  if (o.env === undefined || o.env === null) return null;
  if (typeof o.env !== "object" || Array.isArray(o.env)) {
    throw new HamError("EINVAL", `Invalid field "env": expected an object of strings`);
  }
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(o.env as Obj)) {
    if (typeof v !== "string" || k.includes("=") || k.length === 0) {
      throw new HamError("EINVAL", `Invalid field "env": bad entry ${JSON.stringify(k)}`);
    }
    // The process would get it cut at the NUL, as a C string ends there.
    if (k.includes("\0") || v.includes("\0")) {
      throw new HamError(
        "EINVAL",
        `Invalid field "env": entry ${JSON.stringify(k)} contains a NUL character`,
      );
    }
    env[k] = v;
  }
  return env;
}

/** The `cwd` field of an attach: an absolute path, or null. */
function decodeCwd(o: Obj): string | null {
  const cwd = optStr(o, "cwd");
  if (cwd !== null && !cwd.startsWith("/")) {
    throw new HamError("EINVAL", `Invalid field "cwd" "${cwd}": must be absolute`);
  }
  if (cwd !== null && cwd.includes("\0")) {
    throw new HamError(
      "EINVAL",
      `Invalid field "cwd" ${JSON.stringify(cwd)}: contains a NUL character`,
    );
  }
  return cwd;
}

/** The `killMode` field of an attach: absent takes the default. */
export function decodeKillMode(v: unknown): KillMode {
  if (v === undefined || v === null) return DEFAULTS.killMode;
  if (!KILL_MODES.includes(v as KillMode)) {
    throw new HamError(
      "EINVAL",
      `Invalid field "killMode" ${JSON.stringify(v)}: expected ${KILL_MODES.join(" or ")}`,
    );
  }
  return v as KillMode;
}

const UINT32 = 0xffffffff;
const PID_MAX = 4194304;

/**
 * Decodes a heartbeat spec; low ≤ high unless one is 0 (disabled). A period of 0 is no
 * heartbeat (null), as QNX's `hp` 0: the thresholds are then checked as numbers and unused.
 */
export function decodeHeartbeat(v: unknown): HeartbeatSpec | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== "object" || Array.isArray(v)) {
    throw new HamError("EINVAL", `Invalid field "heartbeat": expected an object`);
  }
  const o = v as Obj;
  const hb = {
    periodMs: int(o, "periodMs", 0, MAX_DURATION_MS),
    low: int(o, "low", 0, 1_000_000, 0),
    high: int(o, "high", 0, 1_000_000, 0),
  };
  if (hb.periodMs === 0) return null;
  if (hb.low > 0 && hb.high > 0 && hb.low > hb.high) {
    throw new HamError(
      "EINVAL",
      `Invalid heartbeat thresholds: low ${hb.low} is above high ${hb.high}`,
    );
  }
  return hb;
}

/** Decodes a restart policy; absent fields take the documented defaults. */
export function decodePolicy(v: unknown): RestartPolicy | null {
  if (v === undefined || v === null) return null;
  if (typeof v !== "object" || Array.isArray(v)) {
    throw new HamError("EINVAL", `Invalid field "policy": expected an object`);
  }
  const o = v as Obj;
  const jitter = o.jitter ?? POLICY_DEFAULTS.jitter;
  if (typeof jitter !== "number" || !(jitter >= 0 && jitter <= 1)) {
    throw new HamError(
      "EINVAL",
      `Invalid field "jitter" ${JSON.stringify(jitter)}: expected 0 to 1`,
    );
  }
  const p: RestartPolicy = {
    backoffMs: int(o, "backoffMs", 0, MAX_DURATION_MS, POLICY_DEFAULTS.backoffMs),
    maxBackoffMs: int(o, "maxBackoffMs", 0, MAX_DURATION_MS, POLICY_DEFAULTS.maxBackoffMs),
    jitter,
    intensity: int(o, "intensity", 0, 1_000_000, POLICY_DEFAULTS.intensity),
    windowMs: int(o, "windowMs", 1, MAX_DURATION_MS, POLICY_DEFAULTS.windowMs),
    cooldownMs: int(o, "cooldownMs", 0, MAX_DURATION_MS, POLICY_DEFAULTS.cooldownMs),
  };
  if (p.maxBackoffMs < p.backoffMs) p.maxBackoffMs = p.backoffMs;
  return p;
}

/** Decodes the kind-specific parameters of an action or action-fail item. */
export function decodeParams(o: Obj, allowed: readonly ActionKind[]): ActionParams {
  const kind = o.kind;
  if (!isActionKind(kind) || !allowed.includes(kind)) {
    throw new HamError(
      "EINVAL",
      `Invalid action kind ${JSON.stringify(kind)}: expected one of ${allowed.join(", ")}`,
    );
  }
  switch (kind) {
    case "restart":
      return { kind, argv: optArgv(o, "argv"), policy: decodePolicy(o.policy) };
    case "execute": {
      const timeout = o.timeoutMs === undefined || o.timeoutMs === null
        ? {}
        : { timeoutMs: int(o, "timeoutMs", 0, MAX_DURATION_MS) };
      return { kind, argv: argv(o, "argv"), ...timeout };
    }
    case "waitfor": {
      const pathname = optStr(o, "pathname");
      if (pathname !== null && (!pathname.startsWith("/") || pathname.includes("\0"))) {
        throw new HamError("EINVAL", `Invalid field "pathname" "${pathname}": must be absolute`);
      }
      return { kind, delayMs: int(o, "delayMs", 1, MAX_DURATION_MS), pathname };
    }
    case "signal": {
      // QNX's ham_action_notify_signal carries a code and a value (a realtime signal's
      // payload); ham's signal does not (see README, "Decisions"): refused, not dropped.
      for (const field of ["code", "value"]) {
        if (o[field] !== undefined && o[field] !== null) {
          throw new HamError(
            "EINVAL",
            `Invalid field "${field}": a signal action carries no payload here (a notify action does)`,
          );
        }
      }
      const pid = o.pid === undefined || o.pid === null ? null : int(o, "pid", 1, PID_MAX);
      const signal = parseSignal(o.signal ?? DEFAULTS.signalActionSignal);
      const node = o.node === undefined || o.node === null
        ? null
        : validateNodeName("node", o.node);
      const hasEntity = o.entity !== undefined && o.entity !== null;
      if (node === null) {
        if (hasEntity) {
          throw new HamError(
            "EINVAL",
            `Invalid field "entity": a signal action names an entity only with "node"`,
          );
        }
        return { kind, pid, signal };
      }
      if (pid !== null || !hasEntity) {
        throw new HamError(
          "EINVAL",
          `Invalid signal action for node "${node}": it signals an entity of that node; give "entity", not "pid"`,
        );
      }
      return { kind, pid: null, signal, node, entity: validateEntityName(o.entity, false) };
    }
    case "log": {
      const message = str(o, "message");
      if (message.length > DEFAULTS.maxLogMessage) {
        throw new HamError(
          "EINVAL",
          `Invalid field "message": longer than ${DEFAULTS.maxLogMessage} characters`,
        );
      }
      return {
        kind,
        message,
        prefix: bool(o, "prefix", DEFAULTS.logActionPrefix),
        verbosity: int(o, "verbosity", 0, 9, DEFAULTS.logActionVerbosity),
      };
    }
    case "heartbeat-healthy":
      return { kind };
    case "notify": {
      const node = o.node === undefined || o.node === null
        ? null
        : validateNodeName("node", o.node);
      return {
        kind,
        channel: validateName("channel", o.channel),
        code: int(o, "code", -(2 ** 31), 2 ** 31 - 1, 0),
        value: int(o, "value", -(2 ** 31), 2 ** 31 - 1, 0),
        ...(node === null ? {} : { node }),
      };
    }
  }
}

const ALL_KINDS: readonly ActionKind[] = [
  "restart",
  "execute",
  "waitfor",
  "signal",
  "log",
  "heartbeat-healthy",
  "notify",
];

const CONTROL_COMMANDS: readonly ControlCommand[] = [
  "enable",
  "disable",
  "add-flags",
  "remove-flags",
  "set-flags",
  "get-flags",
];

const WAIT_TARGETS = ["running", "dead", "restarted", "detached"];

/**
 * Throws EINVAL when a string anywhere in `request` (keys included) is not well-formed
 * UTF-16 (holds a lone surrogate): the journal and snapshots store UTF-8, which cannot carry
 * one, so such a name would not survive a restart or a takeover.
 */
function checkWellFormed(request: Obj, op: string): void {
  // Iterative: a request may nest deeper than the call stack.
  const stack: Array<[unknown, string]> = [[request, "request"]];
  while (stack.length > 0) {
    const [value, where] = stack.pop()!;
    if (typeof value === "string") {
      if (value.isWellFormed()) continue;
      throw new HamError(
        "EINVAL",
        `Invalid ${op} request: ${where} is not well-formed UTF-16 (a lone surrogate)`,
      );
    }
    if (typeof value !== "object" || value === null) continue;
    const top = where === "request";
    for (const [k, v] of Object.entries(value)) {
      stack.push([k, `a key of ${where}`]);
      stack.push([v, top ? `"${k}"` : Array.isArray(value) ? `${where}[${k}]` : `${where}.${k}`]);
    }
  }
}

/**
 * A heartbeat exactly as the library writes one (`{"entity":…,"reply":…,"id":…,"op":
 * "heartbeat"}`, a name without escapes or control characters): decoded without
 * `JSON.parse` and the generic walk, the same request as the generic path gives.
 */
const BEAT_LINE =
  // deno-lint-ignore no-control-regex -- JSON refuses raw control characters in a string.
  /^\{"entity":(?:"([^"\\\u0000-\u001f]*)"|null),(?:"reply":(true|false),)?"id":(0|[1-9]\d{0,14}),"op":"heartbeat"\}$/;

/**
 * Parses and validates one request line. Throws a {@linkcode HamError} (EPROTO for
 * malformed JSON or a missing id/op, EINVAL/ENAMETOOLONG for bad fields) and nothing else.
 */
export function decodeRequest(line: string): Request {
  const beat = line.length < 512 ? BEAT_LINE.exec(line) : null;
  if (beat !== null) {
    return {
      id: Number(beat[3]),
      op: "heartbeat",
      entity: beat[1] === undefined ? null : validateEntityName(beat[1], false),
      reply: beat[2] !== "false",
      slot: false,
    };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    throw new HamError("EPROTO", "Cannot parse request: not valid JSON");
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new HamError("EPROTO", "Cannot parse request: expected a JSON object");
  }
  const o = raw as Obj;
  const id = o.id;
  if (typeof id !== "number" || !Number.isSafeInteger(id) || id < 0) {
    throw new HamError("EPROTO", `Invalid request id ${JSON.stringify(id)}`);
  }
  const op = o.op;
  if (typeof op !== "string") throw new HamError("EPROTO", 'Invalid request: missing "op"');
  // A lone surrogate can only come from a `\uD8xx`-style escape: check only then.
  if (/\\u[dD][89a-fA-F]/.test(line)) checkWellFormed(o, op);
  switch (op) {
    case "hello":
      return {
        id,
        op,
        version: int(o, "version", 0, 1_000_000),
        // Logged as given: no control character may forge a line of the HAM's log.
        client: typeof o.client === "string" ? printable(o.client.slice(0, 64)) : "unknown",
        pid: o.pid === undefined || o.pid === null ? null : int(o, "pid", 1, PID_MAX),
      };
    case "ping":
    case "stop":
      return { id, op };
    case "attach": {
      const entity = validateEntityName(o.entity, false);
      const cmd = optArgv(o, "argv");
      const pid = o.pid === undefined || o.pid === null ? null : int(o, "pid", 1, PID_MAX);
      if ((cmd === null) === (pid === null)) {
        throw new HamError(
          "EINVAL",
          `Cannot attach entity "${entity}": give either a command or a pid`,
        );
      }
      const env = decodeEnv(o);
      return {
        id,
        op,
        entity,
        argv: cmd,
        pid,
        cwd: decodeCwd(o),
        env,
        flags: parseFlags("entity", o.flags),
        heartbeat: decodeHeartbeat(o.heartbeat),
        killMode: decodeKillMode(o.killMode),
        ...cluster(o.cluster),
      };
    }
    case "check-attach": {
      const entity = validateEntityName(o.entity, false);
      const cmd = argv(o, "argv");
      const env = decodeEnv(o);
      return { id, op, entity, argv: cmd, cwd: decodeCwd(o), env };
    }
    case "attach-self":
      return {
        id,
        op,
        entity: validateEntityName(o.entity, false),
        pid: int(o, "pid", 1, PID_MAX),
        heartbeat: decodeHeartbeat(o.heartbeat),
        flags: parseFlags("entity", o.flags),
        renew: bool(o, "renew", false),
      };
    case "entity":
      return {
        id,
        op,
        entity: validateEntityName(o.entity, false),
        flags: parseFlags("entity", o.flags),
      };
    case "detach":
    case "detach-self":
      return { id, op, entity: validateEntityName(o.entity, false) };
    case "condition": {
      const type = o.type;
      if (!isConditionType(type)) {
        throw new HamError("EINVAL", `Invalid condition type ${JSON.stringify(type)}`);
      }
      const req = {
        id,
        op,
        path: parsePath(o.path, 2),
        type,
        flags: parseFlags("condition", o.flags),
        from: int(o, "from", 0, UINT32, 0),
        to: int(o, "to", 0, UINT32, 0),
        rtype: int(o, "rtype", 0, UINT32, 0),
        rclass: int(o, "rclass", 0, UINT32, 0),
        rseverity: int(o, "rseverity", 0, UINT32, 0),
      } as const;
      // What only a state or a raise condition matches is refused elsewhere, not ignored.
      const fields = { state: ["from", "to"], raise: ["rtype", "rclass", "rseverity"] } as const;
      for (const [owner, keys] of Object.entries(fields)) {
        const given = keys.find((k) => req[k] !== 0);
        if (type !== owner && given !== undefined) {
          throw new HamError(
            "EINVAL",
            `Invalid field "${given}": only a ${owner} condition matches it, not a ${type} one`,
          );
        }
      }
      return req;
    }
    case "condition-remove":
      return { id, op, path: parsePath(o.path, 2) };
    case "action":
      return {
        id,
        op,
        path: parsePath(o.path, 3),
        flags: parseFlags("action", o.flags),
        params: decodeParams(o, ALL_KINDS),
      };
    case "action-remove":
      return { id, op, path: parsePath(o.path, 3) };
    case "action-fail":
      return {
        id,
        op,
        path: parsePath(o.path, 3),
        name: validateName("action-fail", o.name),
        params: decodeParams(o, FAIL_KINDS),
      };
    case "action-fail-remove":
      return {
        id,
        op,
        path: parsePath(o.path, 3),
        name: validateName("action-fail", o.name),
      };
    case "control": {
      const command = o.command;
      if (!CONTROL_COMMANDS.includes(command as ControlCommand)) {
        throw new HamError("EINVAL", `Invalid control command ${JSON.stringify(command)}`);
      }
      const path = parsePath(o.path, "any");
      const item = path.action !== undefined
        ? "action"
        : path.condition !== undefined
        ? "condition"
        : "entity";
      // QNX's HENABLE and HDISABLE take no flags but HRECURSE (here `recurse`), HGETFLAGS
      // none, and HRECURSE means nothing to a flag change: refused, not ignored.
      const toggle = command === "enable" || command === "disable";
      const flags = parseFlags(item, o.flags);
      if (flags !== 0 && (toggle || command === "get-flags")) {
        throw new HamError(
          "EINVAL",
          `Invalid control request: "${command}" takes no flags` +
            (toggle ? ` (give "recurse" to ${command} the children too)` : ""),
        );
      }
      const recurse = bool(o, "recurse", false);
      if (recurse && !toggle) {
        throw new HamError(
          "EINVAL",
          `Invalid control request: "recurse" applies to enable and disable, not "${command}"`,
        );
      }
      return { id, op, path, command: command as ControlCommand, flags, recurse };
    }
    case "verbose": {
      const command = o.command;
      if (command !== "get" && command !== "set" && command !== "incr" && command !== "decr") {
        throw new HamError("EINVAL", `Invalid verbose command ${JSON.stringify(command)}`);
      }
      return { id, op, command, value: int(o, "value", 0, 9, command === "set" ? undefined : 0) };
    }
    case "status":
      return {
        id,
        op,
        path: o.path === undefined || o.path === null ? null : parsePath(o.path, "any"),
      };
    case "heartbeat":
      return {
        id,
        op,
        entity: o.entity === undefined || o.entity === null
          ? null
          : validateEntityName(o.entity, false),
        reply: bool(o, "reply", true),
        slot: bool(o, "slot", false),
      };
    case "state":
      return {
        id,
        op,
        entity: validateEntityName(o.entity, false),
        to: int(o, "to", 0, UINT32),
      };
    case "raise":
      return {
        id,
        op,
        entity: validateEntityName(o.entity, false),
        rtype: int(o, "rtype", 0, UINT32, 0),
        rclass: int(o, "rclass", 0, UINT32, 0),
        rseverity: int(o, "rseverity", 0, UINT32, 0),
      };
    case "wait": {
      const target = o.for;
      if (
        !(typeof target === "string" && (WAIT_TARGETS.includes(target) || isConditionType(target)))
      ) {
        throw new HamError("EINVAL", `Invalid wait target ${JSON.stringify(target)}`);
      }
      return {
        id,
        op,
        entity: validateEntityName(o.entity, false),
        for: target as WaitFor,
        timeoutMs: int(o, "timeoutMs", 0, MAX_DURATION_MS, DEFAULTS.waitTimeoutMs),
        since: o.since === undefined || o.since === null
          ? null
          : int(o, "since", 0, Number.MAX_SAFE_INTEGER),
        pid: o.pid === undefined || o.pid === null ? null : int(o, "pid", 1, PID_MAX),
      };
    }
    case "kill":
      return {
        id,
        op,
        entity: validateEntityName(o.entity, false),
        signal: parseSignal(o.signal ?? DEFAULTS.signalActionSignal),
      };
    case "restart":
      return { id, op, entity: validateEntityName(o.entity, false) };
    case "notify":
      return {
        id,
        op,
        channel: validateName("channel", o.channel),
        code: int(o, "code", -(2 ** 31), 2 ** 31 - 1, 0),
        value: int(o, "value", -(2 ** 31), 2 ** 31 - 1, 0),
        entity: optText(o, "entity"),
        condition: optText(o, "condition"),
        action: optText(o, "action"),
      };
    case "list":
    case "policy":
    case "metrics":
      return { id, op };
    case "events":
      return {
        id,
        op,
        since: int(o, "since", 0, Number.MAX_SAFE_INTEGER, 0),
        entity: o.entity === undefined || o.entity === null ? null : validateEntityName(o.entity),
        limit: int(o, "limit", 1, DEFAULTS.maxEventsLimit, DEFAULTS.eventsLimit),
        channel: optName(o, "channel"),
      };
    case "subscribe": {
      const channel = optName(o, "channel");
      const subscriber = optName(o, "subscriber");
      if (subscriber !== null && channel === null) {
        throw new HamError(
          "EINVAL",
          `Cannot subscribe as "${subscriber}": a subscriber name needs a channel`,
        );
      }
      return {
        id,
        op,
        since: o.since === undefined || o.since === null
          ? null
          : int(o, "since", 0, Number.MAX_SAFE_INTEGER),
        entity: o.entity === undefined || o.entity === null ? null : validateEntityName(o.entity),
        channel,
        subscriber,
      };
    }
    case "unsubscribe":
      return {
        id,
        op,
        sub: int(o, "sub", 0, Number.MAX_SAFE_INTEGER),
        next: o.next === undefined || o.next === null
          ? null
          : int(o, "next", 0, Number.MAX_SAFE_INTEGER),
      };
    default:
      throw new HamError("EPROTO", `Unknown operation ${JSON.stringify(op.slice(0, 64))}`);
  }
}
