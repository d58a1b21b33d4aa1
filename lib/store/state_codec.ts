/**
 * The binary schema of the state tables' rows: one row per entity (its conditions,
 * actions and action-fail lists inside it) and one row for the rest of the state (seq,
 * verbosity, failure counts, running action lists, pending spawns). Fields are written in
 * a fixed order with no names or tags; `SCHEMA_VERSION` changes whenever the order does.
 * Fields added later go at the end of a row and are read only when the row has bytes left
 * (an entity's kill mode and leftovers): images written before them load unchanged.
 *
 * @module
 */

import type { ByteReader, ByteWriter } from "./binary_codec.ts";
import { HamError } from "../core/errors.ts";
import type {
  Action,
  ActionFail,
  ActionParams,
  Condition,
  Entity,
  EntityKind,
  HamState,
  HeartbeatHealth,
  KillMode,
  Leftover,
  RunEvent,
  RunState,
} from "../core/model.ts";
import type { ConditionType } from "../core/flags.ts";

/** The version of the row layout below. */
export const SCHEMA_VERSION = 1;

const KINDS: EntityKind[] = ["attached", "self", "placeholder", "global"];
const HEALTH: HeartbeatHealth[] = ["healthy", "missed-low", "missed-high"];
const LANES: RunState["lane"][] = ["nowait", "independent", "other"];
const KILL_MODES: KillMode[] = ["control-group", "process"];

function enumIndex<T>(table: readonly T[], v: T, what: string): number {
  const i = table.indexOf(v);
  if (i < 0) throw new HamError("EINVAL", `Cannot encode ${what} ${JSON.stringify(v)}`);
  return i;
}

function enumValue<T>(table: readonly T[], i: number, what: string): T {
  if (i >= table.length) throw new HamError("EIO", `bad ${what} ${i}`);
  return table[i];
}

/**
 * Writes an action's parameters. A signal or notify action naming another node is tagged
 * `signal-node` / `notify-node` with its extra fields after the others, and an execute
 * action with a time limit `execute-timeout`, so rows written before those forms existed
 * read the same (no change of {@linkcode SCHEMA_VERSION}).
 */
function writeParams(w: ByteWriter, p: ActionParams): void {
  if (p.kind === "signal" && p.node !== undefined) {
    w.str("signal-node");
    w.f64(p.signal);
    w.str(p.node);
    w.str(p.entity ?? "");
    return;
  }
  if (p.kind === "execute" && p.timeoutMs !== undefined) {
    w.str("execute-timeout");
    w.strList(p.argv);
    w.f64(p.timeoutMs);
    return;
  }
  if (p.kind === "notify" && p.node !== undefined) {
    w.str("notify-node");
    w.str(p.channel);
    w.f64(p.code);
    w.f64(p.value);
    w.str(p.node);
    return;
  }
  w.str(p.kind);
  switch (p.kind) {
    case "restart":
      w.strListOrNull(p.argv);
      w.u8(p.policy === null ? 0 : 1);
      if (p.policy) {
        const { backoffMs, maxBackoffMs, jitter, intensity, windowMs, cooldownMs } = p.policy;
        for (const v of [backoffMs, maxBackoffMs, jitter, intensity, windowMs, cooldownMs]) {
          w.f64(v);
        }
      }
      return;
    case "execute":
      w.strList(p.argv);
      return;
    case "waitfor":
      w.f64(p.delayMs);
      w.strOrNull(p.pathname);
      return;
    case "signal":
      w.num(p.pid);
      w.f64(p.signal);
      return;
    case "log":
      w.str(p.message);
      w.bool(p.prefix);
      w.f64(p.verbosity);
      return;
    case "heartbeat-healthy":
      return;
    case "notify":
      w.str(p.channel);
      w.f64(p.code);
      w.f64(p.value);
      return;
  }
}

function readParams(r: ByteReader): ActionParams {
  const kind = r.str();
  switch (kind) {
    case "restart": {
      const argv = r.strListOrNull();
      if (r.u8() === 0) return { kind, argv, policy: null };
      // Object literals are evaluated in order: the fields as writeParams wrote them.
      const policy = {
        backoffMs: r.f64(),
        maxBackoffMs: r.f64(),
        jitter: r.f64(),
        intensity: r.f64(),
        windowMs: r.f64(),
        cooldownMs: r.f64(),
      };
      return { kind, argv, policy };
    }
    case "execute":
      return { kind, argv: r.strList() };
    case "waitfor":
      return { kind, delayMs: r.f64(), pathname: r.strOrNull() };
    case "signal":
      return { kind, pid: r.num(), signal: r.f64() };
    case "log":
      return { kind, message: r.str(), prefix: r.bool(), verbosity: r.f64() };
    case "heartbeat-healthy":
      return { kind };
    case "notify":
      return { kind, channel: r.str(), code: r.f64(), value: r.f64() };
    case "signal-node":
      return { kind: "signal", pid: null, signal: r.f64(), node: r.str(), entity: r.str() };
    case "notify-node":
      return { kind: "notify", channel: r.str(), code: r.f64(), value: r.f64(), node: r.str() };
    case "execute-timeout":
      return { kind: "execute", argv: r.strList(), timeoutMs: r.f64() };
  }
  throw new HamError("EIO", `bad action kind ${JSON.stringify(kind)}`);
}

function writeAction(w: ByteWriter, a: Action): void {
  w.str(a.name);
  w.f64(a.flags);
  w.bool(a.enabled);
  writeParams(w, a.params);
  w.f64(a.runs);
  w.f64(a.failures);
  w.u32(a.fails.length);
  for (const f of a.fails) {
    w.str(f.name);
    writeParams(w, f.params);
    w.f64(f.runs);
    w.f64(f.failures);
  }
}

function readAction(r: ByteReader): Action {
  const name = r.str();
  const flags = r.f64();
  const enabled = r.bool();
  const params = readParams(r);
  const runs = r.f64();
  const failures = r.f64();
  const fails: ActionFail[] = [];
  for (let n = r.u32(); n > 0; n--) {
    fails.push({ name: r.str(), params: readParams(r), runs: r.f64(), failures: r.f64() });
  }
  return { name, flags, enabled, params, runs, failures, fails };
}

function writeActions(w: ByteWriter, list: readonly Action[]): void {
  w.u32(list.length);
  for (const a of list) writeAction(w, a);
}

function readActions(r: ByteReader): Action[] {
  const list: Action[] = [];
  for (let n = r.u32(); n > 0; n--) list.push(readAction(r));
  return list;
}

function writeCondition(w: ByteWriter, c: Condition): void {
  w.str(c.name);
  w.str(c.type);
  w.f64(c.flags);
  w.bool(c.enabled);
  const m = c.match;
  if (m === null) w.u8(0);
  else if ("from" in m) {
    w.u8(1);
    w.f64(m.from);
    w.f64(m.to);
  } else {
    w.u8(2);
    w.f64(m.rtype);
    w.f64(m.rclass);
    w.f64(m.rseverity);
  }
  w.f64(c.fired);
  writeActions(w, c.actions);
}

function readCondition(r: ByteReader): Condition {
  const name = r.str();
  const type = r.str() as ConditionType;
  const flags = r.f64();
  const enabled = r.bool();
  const tag = r.u8();
  const match = tag === 0
    ? null
    : tag === 1
    ? { from: r.f64(), to: r.f64() }
    : { rtype: r.f64(), rclass: r.f64(), rseverity: r.f64() };
  return { name, type, flags, enabled, match, fired: r.f64(), actions: readActions(r) };
}

/** Writes one entity row. */
export function writeEntity(w: ByteWriter, e: Entity): void {
  w.str(e.name);
  w.u8(enumIndex(KINDS, e.kind, "entity kind"));
  w.f64(e.flags);
  w.bool(e.enabled);
  w.num(e.pid);
  w.strOrNull(e.startTime);
  w.strListOrNull(e.argv);
  w.strOrNull(e.cwd);
  if (e.env === null) w.u8(0);
  else {
    w.u8(1);
    const keys = Object.keys(e.env);
    w.u32(keys.length);
    for (const k of keys) {
      w.str(k);
      w.str(e.env[k]);
    }
  }
  w.strOrNull(e.spawnId);
  w.bool(e.spawned);
  w.f64(e.created);
  w.f64(e.restarts);
  w.f64(e.deaths);
  w.u8(e.lastExit === null ? 0 : 1);
  if (e.lastExit) {
    w.f64(e.lastExit.pid);
    w.num(e.lastExit.code);
    w.strOrNull(e.lastExit.signal);
    w.f64(e.lastExit.at);
  }
  w.f64(e.state);
  w.u8(e.heartbeat === null ? 0 : 1);
  if (e.heartbeat) {
    w.f64(e.heartbeat.periodMs);
    w.f64(e.heartbeat.low);
    w.f64(e.heartbeat.high);
  }
  w.f64(e.hbMissed);
  w.u8(enumIndex(HEALTH, e.hbHealth, "heartbeat health"));
  w.num(e.lastBeat);
  w.u32(e.recentRestarts.length);
  for (const t of e.recentRestarts) w.f64(t);
  w.f64(e.backoffMs);
  w.strOrNull(e.restartBlocked);
  w.bool(e.deathPending);
  w.bool(e.deathFired);
  w.u32(e.conditions.size);
  for (const c of e.conditions.values()) writeCondition(w, c);
  // Added after the first layout: at the end, read only when present.
  w.u8(enumIndex(KILL_MODES, e.killMode, "kill mode"));
  w.u32(e.leftovers.length);
  for (const l of e.leftovers) {
    w.f64(l.pid);
    w.str(l.startTime);
  }
  w.u8(e.restartRequest ? 1 : 0);
  if (e.restartRequest) {
    w.num(e.restartRequest.pid);
    w.str(e.restartRequest.spawnId);
  }
}

/** Reads one entity row. */
export function readEntity(r: ByteReader): Entity {
  const name = r.str();
  const kind = enumValue(KINDS, r.u8(), "entity kind");
  const flags = r.f64();
  const enabled = r.bool();
  const pid = r.num();
  const startTime = r.strOrNull();
  const argv = r.strListOrNull();
  const cwd = r.strOrNull();
  let env: Record<string, string> | null = null;
  if (r.u8() !== 0) {
    env = {};
    for (let n = r.u32(); n > 0; n--) {
      const k = r.str();
      env[k] = r.str();
    }
  }
  const spawnId = r.strOrNull();
  const spawned = r.bool();
  const created = r.f64();
  const restarts = r.f64();
  const deaths = r.f64();
  const lastExit = r.u8() === 0
    ? null
    : { pid: r.f64(), code: r.num(), signal: r.strOrNull(), at: r.f64() };
  const state = r.f64();
  const heartbeat = r.u8() === 0 ? null : { periodMs: r.f64(), low: r.f64(), high: r.f64() };
  const hbMissed = r.f64();
  const hbHealth = enumValue(HEALTH, r.u8(), "heartbeat health");
  const lastBeat = r.num();
  const recentRestarts: number[] = [];
  for (let n = r.u32(); n > 0; n--) recentRestarts.push(r.f64());
  const backoffMs = r.f64();
  const restartBlocked = r.strOrNull();
  const deathPending = r.bool();
  const deathFired = r.bool();
  const conditions = new Map<string, Condition>();
  for (let n = r.u32(); n > 0; n--) {
    const c = readCondition(r);
    conditions.set(c.name, c);
  }
  let killMode: KillMode = "control-group";
  const leftovers: Leftover[] = [];
  if (!r.done) {
    killMode = enumValue(KILL_MODES, r.u8(), "kill mode");
    for (let n = r.u32(); n > 0; n--) leftovers.push({ pid: r.f64(), startTime: r.str() });
  }
  let restartRequest: Entity["restartRequest"];
  if (!r.done && r.u8() === 1) restartRequest = { pid: r.num(), spawnId: r.str() };
  const entity: Entity = {
    name,
    kind,
    flags,
    enabled,
    pid,
    startTime,
    argv,
    cwd,
    env,
    spawnId,
    spawned,
    killMode,
    leftovers,
    created,
    restarts,
    deaths,
    lastExit,
    state,
    heartbeat,
    hbMissed,
    hbHealth,
    lastBeat,
    recentRestarts,
    backoffMs,
    restartBlocked,
    deathPending,
    deathFired,
    conditions,
  };
  // Absent, not undefined, when there is none: as the reducer leaves it.
  if (restartRequest) entity.restartRequest = restartRequest;
  return entity;
}

function writeEvent(w: ByteWriter, ev: RunEvent): void {
  w.str(ev.type);
  w.str(ev.entity);
  w.u8((ev.transition ? 1 : 0) | (ev.raised ? 2 : 0));
  if (ev.transition) {
    w.f64(ev.transition.from);
    w.f64(ev.transition.to);
  }
  if (ev.raised) {
    w.f64(ev.raised.rtype);
    w.f64(ev.raised.rclass);
    w.f64(ev.raised.rseverity);
  }
}

function readEvent(r: ByteReader): RunEvent {
  const ev: RunEvent = { type: r.str(), entity: r.str() };
  const has = r.u8();
  if (has & 1) ev.transition = { from: r.f64(), to: r.f64() };
  if (has & 2) ev.raised = { rtype: r.f64(), rclass: r.f64(), rseverity: r.f64() };
  return ev;
}

/** The state without its entities: what the globals row holds. */
export type Globals = Omit<HamState, "entities">;

/** Writes the globals row. */
export function writeGlobals(w: ByteWriter, s: Globals): void {
  w.f64(s.seq);
  w.f64(s.verbosity);
  w.f64(s.hamFailures);
  w.f64(s.guardianFailures);
  w.num(s.lastTakeover);
  w.strList(s.pendingSpawns);
  w.u32(s.runs.size);
  for (const run of s.runs.values()) {
    w.str(run.name);
    w.str(run.owner);
    w.str(run.condition);
    w.u8(enumIndex(LANES, run.lane, "lane"));
    writeEvent(w, run.event);
    writeActions(w, run.list);
    w.f64(run.next);
  }
}

/** Reads the globals row. */
export function readGlobals(r: ByteReader): Globals {
  const seq = r.f64();
  const verbosity = r.f64();
  const hamFailures = r.f64();
  const guardianFailures = r.f64();
  const lastTakeover = r.num();
  const pendingSpawns = r.strList();
  const runs = new Map<string, RunState>();
  for (let n = r.u32(); n > 0; n--) {
    const name = r.str();
    const owner = r.str();
    const condition = r.str();
    const lane = enumValue(LANES, r.u8(), "lane");
    const event = readEvent(r);
    const list = readActions(r);
    runs.set(name, { name, owner, condition, lane, event, list, next: r.f64() });
  }
  return { seq, verbosity, hamFailures, guardianFailures, lastTakeover, runs, pendingSpawns };
}

/** Reads the row `[start, end)` with `read`, which must consume it exactly. */
export function readRow<T>(
  r: ByteReader,
  start: number,
  end: number,
  read: (r: ByteReader) => T,
): T {
  const value = read(r.range(start, end));
  if (!r.done) throw new HamError("EIO", `row at ${start} has ${end - r.pos} bytes left over`);
  return value;
}
