/**
 * The text forms of a status view: {@linkcode renderStatus} (one text, as `hamctl status`
 * prints it) and {@linkcode renderStatusFiles} (the plain-file mirror), both in the spirit
 * of QNX's `/proc/ham` `.info` files: one `Label : value` line per fact. Pure.
 *
 * @module
 */

import { DEFAULTS } from "./defaults.ts";
import { sha256 } from "./sha256.ts";
import {
  HCONDSTATEFROMINV,
  HCONDSTATEFROMSET,
  HCONDSTATETOINV,
  HCONDSTATETOSET,
  signalName,
} from "./flags.ts";
import type { ActionParams } from "./model.ts";
import type { HamState } from "./model.ts";
import {
  type ActionView,
  type ConditionView,
  type EntityView,
  type HamInfo,
  type HamView,
  hamView,
  type StatusView,
} from "./status_view.ts";

type Line = [label: string, value: string | number];

const LABEL_WIDTH = 18;

function block(lines: Line[], indent: number): string {
  const pad = " ".repeat(indent);
  return lines.map(([label, value]) => `${pad}${label.padEnd(LABEL_WIDTH)}: ${value}\n`).join("");
}

function onOff(b: boolean): string {
  return b ? "ON" : "OFF";
}

function flagsText(flags: number, names: string[]): string {
  return `0x${flags.toString(16)}${names.length > 0 ? ` (${names.join(", ")})` : ""}`;
}

/** Joins a command line for display, quoting words the shell would split or expand. */
export function quoteArgv(argv: readonly string[]): string {
  return argv.map((a) => /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`)
    .join(" ");
}

function stateSide(value: number, isSet: boolean, invert: boolean): string {
  if (!isSet) return value === 0 ? "any" : String(value);
  const states = Array.from({ length: 32 }, (_, n) => n).filter((n) => ((value >>> n) & 1) === 1);
  return `${invert ? "not " : ""}{${states.join(",")}}`;
}

function matchText(c: ConditionView): string | null {
  const m = c.match;
  if (m === null) return null;
  const any = (n: number) => n === 0 ? "any" : String(n);
  if ("from" in m) {
    const from = stateSide(
      m.from,
      (c.flags & HCONDSTATEFROMSET) !== 0,
      (c.flags & HCONDSTATEFROMINV) !== 0,
    );
    const to = stateSide(
      m.to,
      (c.flags & HCONDSTATETOSET) !== 0,
      (c.flags & HCONDSTATETOINV) !== 0,
    );
    return `from ${from} to ${to}`;
  }
  return `type ${any(m.rtype)} class ${any(m.rclass)} severity ${any(m.rseverity)}`;
}

function paramLines(p: ActionParams): Line[] {
  switch (p.kind) {
    case "restart": {
      const lines: Line[] = [[
        "Restart Line",
        p.argv ? quoteArgv(p.argv) : "(the entity's command)",
      ]];
      const q = p.policy;
      if (q) {
        lines.push([
          "Restart Policy",
          `backoff ${q.backoffMs} ms, max ${q.maxBackoffMs} ms, jitter ${q.jitter}, ` +
          `intensity ${q.intensity} per ${q.windowMs} ms, cooldown ${q.cooldownMs} ms`,
        ]);
      }
      return lines;
    }
    case "execute": {
      const limit = p.timeoutMs ?? DEFAULTS.executeTimeoutMs;
      return [["Execute Line", quoteArgv(p.argv)], [
        "Execute Timeout",
        limit === 0 ? "none" : `${limit} ms`,
      ]];
    }
    case "waitfor":
      return [["Wait Delay", `${p.delayMs} ms`], ["Wait Path", p.pathname ?? "none"]];
    case "signal":
      return p.node === undefined
        ? [["Signal", signalName(p.signal)], ["Signal Pid", p.pid ?? "the entity"]]
        : [["Signal", signalName(p.signal)], ["Signal Node", p.node], ["Signal Entity", p.entity!]];
    case "log":
      return [
        ["Log Message", JSON.stringify(p.message)],
        ["Log Verbosity", p.verbosity],
        ["Log Prefix", onOff(p.prefix)],
      ];
    case "heartbeat-healthy":
      return [];
    case "notify":
      return [
        ["Notify Channel", p.channel],
        ["Notify Code", p.code],
        ["Notify Value", p.value],
        ...(p.node === undefined ? [] : [["Notify Node", p.node] as Line]),
      ];
  }
}

function hamLines(v: HamView): Line[] {
  return [
    ["Ham Pid", v.hamPid],
    ["Guardian Pid", v.guardianPid ?? "none"],
    ["Started", v.started],
    ["Ham Failures", v.hamFailures],
    ["Guardian Failures", v.guardianFailures],
    ["Last Takeover", v.lastTakeover ?? "never"],
    ["Log Lines Lost", v.logLinesLost],
    ["Verbosity", v.verbosity],
    ["Num Entities", v.numEntities],
    ["Num Conditions", v.numConditions],
    ["Num Actions", v.numActions],
    ...(v.cluster ? clusterLines(v.cluster) : []),
  ];
}

function clusterLines(c: NonNullable<HamView["cluster"]>): Line[] {
  return [
    ["Cluster Node", c.node],
    ["Cluster Nodes", c.nodes.join(" ") || "none"],
    ...(c.unreachableSince
      ? [["Cluster etcd", `unreachable since ${c.unreachableSince}`] as Line]
      : []),
    ...c.entities.map((e): Line => ["Cluster Entity", `${e.name} on ${e.node ?? "no node"}`]),
  ];
}

function entityLines(v: EntityView): Line[] {
  const x = v.lastExit;
  const lines: Line[] = [
    ["Path", v.name],
    ["Entity Pid", v.pid ?? "none"],
    ["Entity type", v.type],
    ...(v.node === undefined ? [] : [["Node", v.node ?? "none"] as Line]),
    ["Enabled", onOff(v.enabled)],
    ["Flags", flagsText(v.flags, v.flagNames)],
    ["Command", v.command ? quoteArgv(v.command) : "none"],
    ...(v.type === "ATTACHED" && v.command ? [["Kill Mode", v.killMode] as Line] : []),
    ...(v.leftovers?.length ? [["Leftovers", v.leftovers.join(" ")] as Line] : []),
    ["State", v.state],
    ["Num Conditions", v.conditions.length],
    ["Created", v.created],
    ["Num Restarts", v.restarts],
    ["Num Deaths", v.deaths],
    ...(v.backoffMs > 0 ? [["Restart Backoff", `${v.backoffMs} ms`] as Line] : []),
    ...(v.restartBlocked ? [["Not Restarted", v.restartBlocked] as Line] : []),
    [
      "Last Exit",
      x
        ? `pid ${x.pid}, ${
          x.signal ? `signal ${x.signal}` : `code ${x.code ?? "unknown"}`
        }, at ${x.at}`
        : "none",
    ],
  ];
  const hb = v.heartbeat;
  if (hb) {
    lines.push(
      ["HeartBeat Period", `${hb.periodMs} ms`],
      ["HB Low Mark", hb.low],
      ["HB High Mark", hb.high],
      ["Last Heartbeat", hb.lastBeat ?? "never"],
      ["Missed Heartbeats", hb.missed],
      ["HeartBeat State", hb.health.replace("-", "").toUpperCase()],
    );
  }
  return lines;
}

/** `Entity Pid` of a condition's or an action's file (`/proc/ham` repeats it there). */
function entityPid(pid: number | null | undefined): Line[] {
  return pid === undefined ? [] : [["Entity Pid", pid ?? "none"]];
}

function conditionLines(v: ConditionView, pid?: number | null): Line[] {
  const match = matchText(v);
  return [
    ["Path", v.path],
    ...entityPid(pid),
    ["Condition type", v.type],
    ["Enabled", onOff(v.enabled)],
    ["Condition ReArm", onOff(v.rearm)],
    ["Flags", flagsText(v.flags, v.flagNames)],
    ...(match === null ? [] : [["Match", match] as Line]),
    ["Num Fired", v.fired],
    ["Num Actions", v.actions.length],
  ];
}

function actionText(v: ActionView, indent: number, pid?: number | null): string {
  const head = block([
    ["Path", v.path],
    ...entityPid(pid),
    ["Action type", v.kind],
    ["Enabled", onOff(v.enabled)],
    ["Action ReArm", onOff(v.rearm)],
    ["Flags", flagsText(v.flags, v.flagNames)],
    ...paramLines(v.params),
    ["Num Runs", v.runs],
    ["Num Failures", v.failures],
    ["Num Fail Actions", v.fails.length],
  ], indent);
  const fails = v.fails.map((f) =>
    block([
      ["Fail Action", f.name],
      ["Action type", f.kind],
      ...paramLines(f.params),
      ["Num Runs", f.runs],
      ["Num Failures", f.failures],
    ], indent + 2)
  );
  return [head, ...fails].join("\n");
}

/**
 * Renders a status view as text, one `Label : value` line per fact in the spirit of
 * `/proc/ham`'s `.info` files, each level indented two more spaces than its parent and
 * separated by a blank line.
 */
export function renderStatus(view: StatusView, indent = 0): string {
  const children = (items: StatusView[]) => items.map((c) => "\n" + renderStatus(c, indent + 2));
  if ("hamPid" in view) return [block(hamLines(view), indent), ...children(view.entities)].join("");
  if ("conditions" in view) {
    return [block(entityLines(view), indent), ...children(view.conditions)].join("");
  }
  if ("actions" in view) {
    return [block(conditionLines(view), indent), ...children(view.actions)].join("");
  }
  return actionText(view, indent);
}

/** The longest file name the mirror writes, in bytes (Linux's `NAME_MAX`). */
const NAME_MAX = 255;
/** Bytes of a hashed name's tail: `%~` and 22 base64url characters (128 bits of SHA-256). */
const HASH_TAIL = 24;
const encoder = new TextEncoder();

/**
 * The file name of an item in the status mirror. Every valid name gets one that fits in 255
 * bytes, and distinct names get distinct ones:
 *
 * - the item name with `%` written `%25` and a leading `.` written `%2E` (so no item can
 *   clash with a `.info` file or a hidden temp file), when that fits;
 * - otherwise (a long name full of `%`, or 255 bytes starting with `.`) as much of that as
 *   fits before `%~` and 22 base64url characters of the name's SHA-256. `%~` never occurs
 *   in an escaped name, so a shortened name never equals an escaped one.
 */
export function statusFileName(name: string): string {
  const escaped = name.replaceAll("%", "%25").replace(/^\./, "%2E");
  // At most 3 UTF-8 bytes per UTF-16 unit: only a long name needs encoding to be measured.
  if (escaped.length * 3 <= NAME_MAX || encoder.encode(escaped).length <= NAME_MAX) {
    return escaped;
  }
  let head = "";
  let bytes = 0;
  for (const ch of escaped) {
    const cp = ch.codePointAt(0)!;
    const n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    if (bytes + n > NAME_MAX - HASH_TAIL) break;
    head += ch;
    bytes += n;
  }
  const digest = sha256(encoder.encode(name)).subarray(0, 16);
  const b64 = btoa(String.fromCharCode(...digest)).replaceAll("+", "-").replaceAll("/", "_")
    .replace(/=+$/, "");
  return `${head}%~${b64}`;
}

function lastName(path: string): string {
  return statusFileName(path.slice(path.lastIndexOf("/") + 1));
}

/** The text of the mirror's top `.info`: the HAM's own facts (its `entities` are not read). */
export function renderHamInfo(view: HamView): string {
  return block(hamLines(view), 0);
}

/**
 * The mirror files of one entity, as relative path → contents: `<entity>/.info`,
 * `<entity>/<condition>/.info` and `<entity>/<condition>/<action>` (which also lists its
 * action-fail items), the last two with the entity's pid, as `/proc/ham`'s. Names go
 * through {@linkcode statusFileName}.
 */
export function renderEntityFiles(
  e: EntityView,
  files: Map<string, string> = new Map(),
): Map<string, string> {
  const dir = statusFileName(e.name);
  files.set(`${dir}/.info`, block(entityLines(e), 0));
  for (const c of e.conditions) {
    const cdir = `${dir}/${lastName(c.path)}`;
    files.set(`${cdir}/.info`, block(conditionLines(c, e.pid), 0));
    for (const a of c.actions) files.set(`${cdir}/${lastName(a.path)}`, actionText(a, 0, e.pid));
  }
  return files;
}

/**
 * The plain-file mirror of a status view, as relative path → contents: `.info` for the
 * HAM ({@linkcode renderHamInfo}) and each entity's files ({@linkcode renderEntityFiles}).
 */
export function renderStatusFiles(view: HamView): Map<string, string> {
  const files = new Map<string, string>([[".info", renderHamInfo(view)]]);
  for (const e of view.entities) renderEntityFiles(e, files);
  return files;
}

/**
 * The plain-file mirror of the status tree, as relative path → contents: `.info` for the
 * HAM, `<entity>/.info`, `<entity>/<condition>/.info` and `<entity>/<condition>/<action>`.
 * The daemon writes it with `writeStatusTree()` (`status_files.ts`).
 */
export function statusFiles(state: HamState, ham: HamInfo): Map<string, string> {
  return renderStatusFiles(hamView(state, ham));
}
