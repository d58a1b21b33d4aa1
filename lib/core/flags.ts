/**
 * Flag words, condition types and action kinds, with QNX's numeric values.
 *
 * Flags are interpreted per item type: 0x2 is `independent` on a condition,
 * `do-now` on an action and `keep-on-death` on an entity, exactly as in `<ha/ham.h>`.
 *
 * @module
 */

import { HamError } from "./errors.ts";

/** Keep this condition or action when its entity is restarted (HREARMAFTERRESTART). */
export const HREARMAFTERRESTART = 0x1;
/** Run the condition's actions on their own lane (HCONDINDEPENDENT). */
export const HCONDINDEPENDENT = 0x2;
/** The condition promises to hold no waitfor action; runs on the fast lane (HCONDNOWAIT). */
export const HCONDNOWAIT = 0x4;
/** The implicit lane of conditions that are neither independent nor nowait (HCONDOTHER). */
export const HCONDOTHER = 0x8;
/** Keep the condition when automatic removals leave it empty (HCONDKEEPONEMPTY). */
export const HCONDKEEPONEMPTY = 0x10;
/** State condition: `from` is a bit set (HCONDSTATEFROMSET). */
export const HCONDSTATEFROMSET = 0x1000;
/** State condition: `to` is a bit set (HCONDSTATETOSET). */
export const HCONDSTATETOSET = 0x2000;
/** State condition: invert the from set (HCONDSTATEFROMINV). */
export const HCONDSTATEFROMINV = 0x4000;
/** State condition: invert the to set (HCONDSTATETOINV). */
export const HCONDSTATETOINV = 0x8000;
/** Run the action once now, at registration, as well as on every trigger (HACTIONDONOW). */
export const HACTIONDONOW = 0x2;
/** Stop the rest of the condition's list when this action fails (HACTIONBREAKONFAIL). */
export const HACTIONBREAKONFAIL = 0x4;
/** Keep the action after it fails (HACTIONKEEPONFAIL). */
export const HACTIONKEEPONFAIL = 0x8;
/** Keep the entity when it dies and is not restarted (HENTITYKEEPONDEATH). */
export const HENTITYKEEPONDEATH = 0x2;
/** Apply enable/disable to the children too (HRECURSE). */
export const HRECURSE = 0x100000;

/** The three kinds of item in the tree. */
export type ItemType = "entity" | "condition" | "action";

const FLAG_NAMES: Record<ItemType, Record<string, number>> = {
  entity: { "keep-on-death": HENTITYKEEPONDEATH },
  condition: {
    "rearm": HREARMAFTERRESTART,
    "independent": HCONDINDEPENDENT,
    "nowait": HCONDNOWAIT,
    "other": HCONDOTHER,
    "keep-on-empty": HCONDKEEPONEMPTY,
    "from-set": HCONDSTATEFROMSET,
    "to-set": HCONDSTATETOSET,
    "from-inv": HCONDSTATEFROMINV,
    "to-inv": HCONDSTATETOINV,
  },
  action: {
    "rearm": HREARMAFTERRESTART,
    "do-now": HACTIONDONOW,
    "break-on-fail": HACTIONBREAKONFAIL,
    "keep-on-fail": HACTIONKEEPONFAIL,
  },
};

/** The mask of flags that are valid for an item type. */
export function validFlagMask(item: ItemType): number {
  return Object.values(FLAG_NAMES[item]).reduce((a, b) => a | b, 0);
}

/**
 * Parses a flag word given as a number or as a list of names (`["rearm", "nowait"]`).
 * Throws EINVAL naming the bad flag.
 */
export function parseFlags(item: ItemType, value: unknown): number {
  if (value === undefined || value === null) return 0;
  const mask = validFlagMask(item);
  if (typeof value === "number") {
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
      throw new HamError("EINVAL", `Invalid ${item} flags ${JSON.stringify(value)}`);
    }
    if ((value & ~mask) !== 0) {
      throw new HamError(
        "EINVAL",
        `Invalid ${item} flags 0x${value.toString(16)}: valid bits are 0x${mask.toString(16)}`,
      );
    }
    return value;
  }
  if (Array.isArray(value)) {
    let flags = 0;
    for (const name of value) {
      const bit = typeof name === "string" && Object.hasOwn(FLAG_NAMES[item], name)
        ? FLAG_NAMES[item][name]
        : undefined;
      if (bit === undefined) {
        throw new HamError(
          "EINVAL",
          `Invalid ${item} flag ${JSON.stringify(name)}: expected one of ${
            Object.keys(FLAG_NAMES[item]).join(", ")
          }`,
        );
      }
      flags |= bit;
    }
    return flags;
  }
  throw new HamError("EINVAL", `Invalid ${item} flags ${JSON.stringify(value)}`);
}

/** Names the bits of a flag word, for display. */
export function flagNames(item: ItemType, flags: number): string[] {
  return Object.entries(FLAG_NAMES[item]).filter(([, bit]) => (flags & bit) !== 0).map(([n]) => n);
}

/**
 * A condition type name (the keys of {@linkcode CONDITION_TYPES}, checked by the compiler).
 *
 * @example
 * ```ts
 * import { CONDITION_TYPES, type ConditionType } from "./flags.ts";
 *
 * const type: ConditionType = "hb-missed-high";
 * console.log(CONDITION_TYPES[type]); // 5, QNX's CONDHBEATMISSEDHIGH
 * ```
 */
export type ConditionType =
  | "any"
  | "death"
  | "detach"
  | "restart"
  | "hb-missed-low"
  | "hb-missed-high"
  | "abnormal-death"
  | "attach"
  | "state"
  | "raise"
  | "restart-limit";

/** Condition types, with the QNX `CONDxxx` value each stands for. */
export const CONDITION_TYPES = {
  "any": 0,
  "death": 1,
  "detach": 2,
  "restart": 3,
  "hb-missed-low": 4,
  "hb-missed-high": 5,
  "abnormal-death": 6,
  "attach": 7,
  "state": 8,
  "raise": 9,
  "restart-limit": 100,
} as const satisfies Record<ConditionType, number>;

/** The event types the HAM raises on entities (every condition type but `any`). */
export type EventType = Exclude<ConditionType, "any">;

/** True when `value` names a condition type. */
export function isConditionType(value: unknown): value is ConditionType {
  return typeof value === "string" && Object.hasOwn(CONDITION_TYPES, value);
}

/**
 * An action kind name (the keys of {@linkcode ACTION_KINDS}, checked by the compiler).
 *
 * @example
 * ```ts
 * import { ACTION_KINDS, type ActionKind } from "./flags.ts";
 *
 * const kind: ActionKind = "waitfor";
 * console.log(kind in ACTION_KINDS); // true
 * ```
 */
export type ActionKind =
  | "restart"
  | "execute"
  | "notify"
  | "signal"
  | "waitfor"
  | "heartbeat-healthy"
  | "log";

/** Action kinds, with the QNX `ACTION_xxx` wire code each stands for. */
export const ACTION_KINDS = {
  "restart": 1,
  "execute": 2,
  "notify": 3,
  "signal": 4,
  "waitfor": 5,
  "heartbeat-healthy": 6,
  "log": 7,
} as const satisfies Record<ActionKind, number>;

/** True when `value` names an action kind. */
export function isActionKind(value: unknown): value is ActionKind {
  return typeof value === "string" && Object.hasOwn(ACTION_KINDS, value);
}

/** Action kinds allowed in an action-fail list (QNX: all but restart and heartbeat-healthy). */
export const FAIL_KINDS: readonly ActionKind[] = ["execute", "waitfor", "signal", "notify", "log"];

/** Signals that dump core: a child killed by one of them died abnormally. */
export const CORE_SIGNALS: ReadonlySet<string> = new Set([
  "SIGQUIT",
  "SIGILL",
  "SIGTRAP",
  "SIGABRT",
  "SIGBUS",
  "SIGFPE",
  "SIGSEGV",
  "SIGXCPU",
  "SIGXFSZ",
  "SIGSYS",
]);

/** Linux x86-64 signal numbers, for signals given by name. */
export const SIGNALS: Readonly<Record<string, number>> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGILL: 4,
  SIGTRAP: 5,
  SIGABRT: 6,
  SIGBUS: 7,
  SIGFPE: 8,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
  SIGCHLD: 17,
  SIGCONT: 18,
  SIGSTOP: 19,
  SIGTSTP: 20,
  SIGTTIN: 21,
  SIGTTOU: 22,
  SIGURG: 23,
  SIGXCPU: 24,
  SIGXFSZ: 25,
  SIGVTALRM: 26,
  SIGPROF: 27,
  SIGWINCH: 28,
  SIGIO: 29,
  SIGPWR: 30,
  SIGSYS: 31,
};

/** The name of a signal number (`9` → `"SIGKILL"`), or `SIG<n>` for realtime signals. */
export function signalName(num: number): string {
  for (const [name, n] of Object.entries(SIGNALS)) if (n === num) return name;
  return `SIG${num}`;
}

/**
 * Parses a signal given as a name (`TERM`, `SIGTERM`) or a number (1–64).
 * Throws EINVAL for anything else.
 */
export function parseSignal(value: unknown): number {
  if (typeof value === "number" && Number.isInteger(value) && value >= 1 && value <= 64) {
    return value;
  }
  if (typeof value === "string") {
    if (/^\d+$/.test(value)) return parseSignal(Number(value));
    const upper = value.toUpperCase();
    const name = upper.startsWith("SIG") ? upper : `SIG${upper}`;
    const num = SIGNALS[name];
    if (num !== undefined) return num;
  }
  throw new HamError("EINVAL", `Invalid signal ${JSON.stringify(value)}`);
}
