/**
 * Names and paths of items: `entity`, `entity/condition`, `entity/condition/action`.
 *
 * Names are path components, as in QNX: no `/`, not empty, not `.` or `..`, no control
 * characters, no bidirectional-control or zero-width characters (they make `status` show
 * one name for another), and the whole path fits in `DEFAULTS.maxPathBytes`. The global entity,
 * whose conditions match events of every entity, is spelled {@linkcode GLOBAL_ENTITY};
 * no other entity name may start with `@`.
 *
 * @module
 */

import { HamError } from "./errors.ts";
import { DEFAULTS } from "./defaults.ts";

/**
 * The name of the global entity, whose conditions match events of every entity.
 *
 * @example
 * ```ts
 * import { GLOBAL_ENTITY, parsePath } from "./names.ts";
 * console.log(parsePath(`${GLOBAL_ENTITY}/deaths`, 2)); // { entity: "@global", condition: "deaths" }
 * ```
 */
export const GLOBAL_ENTITY = "@global";

/** A parsed item path. */
export interface ItemPath {
  entity: string;
  condition?: string;
  action?: string;
}

const encoder = new TextEncoder();

/** Bidirectional embeddings, overrides, isolates and marks (they reorder what is shown). */
const BIDI = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

/** Every character a name may not hold because a reader cannot see it: BIDI, zero-width. */
const INVISIBLE = /[\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/;

/** What a node name may be: a letter or digit, then letters, digits, `_`, `.`, `-` (63 at most). */
export const NODE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

/** A control character (C0, DEL, C1). */
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** `text` with each control character replaced by `?` (a client's name, as it is logged). */
export function printable(text: string): string {
  return text.replace(new RegExp(CONTROL.source, "g"), "?");
}

/** Throws EINVAL unless `name` is a valid node name (see {@linkcode NODE_NAME}). */
export function validateNodeName(key: string, name: unknown): string {
  if (typeof name !== "string" || !NODE_NAME.test(name)) {
    throw new HamError(
      "EINVAL",
      `Invalid ${key} ${JSON.stringify(name)}: expected a node name (letters, digits, _ . -)`,
    );
  }
  return name;
}

/** Throws EINVAL or ENAMETOOLONG unless `name` is a valid item name. */
export function validateName(kind: string, name: unknown): string {
  if (typeof name !== "string") {
    throw new HamError("EINVAL", `Invalid ${kind} name ${JSON.stringify(name)}: must be a string`);
  }
  if (name.length === 0) {
    throw new HamError("EINVAL", `Invalid ${kind} name "": must not be empty`);
  }
  if (name.includes("/")) {
    throw new HamError("EINVAL", `Invalid ${kind} name "${name}": contains "/"`);
  }
  if (name === "." || name === "..") {
    throw new HamError("EINVAL", `Invalid ${kind} name "${name}"`);
  }
  if (CONTROL.test(name)) {
    throw new HamError("EINVAL", `Invalid ${kind} name ${JSON.stringify(name)}: control character`);
  }
  const invisible = INVISIBLE.exec(name);
  if (invisible !== null) {
    const code = invisible[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0");
    throw new HamError(
      "EINVAL",
      `Invalid ${kind} name ${JSON.stringify(name)}: contains U+${code}, a ${
        BIDI.test(invisible[0]) ? "bidirectional control" : "zero-width"
      } character (it would make status show another name than the real one)`,
    );
  }
  if (encoder.encode(name).length > DEFAULTS.maxPathBytes) {
    throw new HamError(
      "ENAMETOOLONG",
      `Invalid ${kind} name: longer than ${DEFAULTS.maxPathBytes} bytes`,
    );
  }
  return name;
}

/** Validates an entity name; `@global` is accepted only when `allowGlobal` is set. */
export function validateEntityName(name: unknown, allowGlobal = true): string {
  validateName("entity", name);
  const s = name as string;
  if (s.startsWith("@") && !(allowGlobal && s === GLOBAL_ENTITY)) {
    throw new HamError(
      "EINVAL",
      `Invalid entity name "${s}": names starting with "@" are reserved`,
    );
  }
  return s;
}

/**
 * Parses `entity[/condition[/action]]`, checking each name and the total length.
 * `depth` is how many components the caller requires (1, 2 or 3), or `"any"`.
 */
export function parsePath(path: unknown, depth: 1 | 2 | 3 | "any"): ItemPath {
  if (typeof path !== "string" || path.length === 0) {
    throw new HamError("EINVAL", `Invalid path ${JSON.stringify(path)}`);
  }
  if (encoder.encode(path).length > DEFAULTS.maxPathBytes) {
    throw new HamError("ENAMETOOLONG", `Invalid path: longer than ${DEFAULTS.maxPathBytes} bytes`);
  }
  const parts = path.split("/");
  if (parts.length > 3 || (depth !== "any" && parts.length !== depth)) {
    const want = depth === 1
      ? "ENTITY"
      : depth === 2
      ? "ENTITY/CONDITION"
      : depth === 3
      ? "ENTITY/CONDITION/ACTION"
      : "ENTITY[/CONDITION[/ACTION]]";
    throw new HamError("EINVAL", `Invalid path "${path}": expected ${want}`);
  }
  const out: ItemPath = { entity: validateEntityName(parts[0]) };
  if (parts.length > 1) out.condition = validateName("condition", parts[1]);
  if (parts.length > 2) out.action = validateName("action", parts[2]);
  return out;
}

/** Joins path components back into `entity/condition/action`. */
export function formatPath(p: ItemPath): string {
  return [p.entity, p.condition, p.action].filter((x) => x !== undefined).join("/");
}
