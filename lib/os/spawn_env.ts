/**
 * The environment of the processes the HAM spawns: its own, with each spawn's variables
 * over it. Its own is read and encoded once (`Deno.env.toObject()`, spreading it and
 * encoding each `NAME=value` cost ~0.4 ms of a restart, cold), and read again only after
 * {@linkcode forgetInheritedEnv}, which whatever changes this process's environment calls
 * (the HAM sets `HAM_STATE_DIR` and removes its launcher's tuning variables as it starts).
 *
 * @module
 */

import { cStringArray } from "./posix_spawn.ts";
import { HAM_NOTIFY_SOCKET } from "./sd_notify.ts";

const encoder = new TextEncoder();

/**
 * Variables of the HAM's own that its entities never get: the service manager's notify
 * socket, under its own name and under the one it is kept for the Guardian (which may
 * become the HAM). An entity that had it could tell systemd `READY=1` or `MAINPID=` in the
 * HAM's name. Both are left out whenever this environment was read: the HAM moves
 * `NOTIFY_SOCKET` only once it serves, after `ham --config` (or a resume) may have spawned.
 */
const PRIVATE = new Set(["NOTIFY_SOCKET", HAM_NOTIFY_SOCKET]);

interface Inherited {
  /** Each variable's `NAME=value\0`, by name. */
  encoded: Map<string, Uint8Array>;
  values: Map<string, string>;
}

let inherited: Inherited | null = null;

function load(): Inherited {
  if (inherited !== null) return inherited;
  const encoded = new Map<string, Uint8Array>();
  const values = new Map<string, string>();
  for (const [name, value] of Object.entries(Deno.env.toObject())) {
    if (PRIVATE.has(name)) continue;
    encoded.set(name, encoder.encode(`${name}=${value}\0`));
    values.set(name, value);
  }
  inherited = { encoded, values };
  return inherited;
}

/** Reads this process's environment again at the next spawn (after it changed it). */
export function forgetInheritedEnv(): void {
  inherited = null;
}

/** The environment a spawned process gets with `overrides` over it, as an object. */
export function spawnEnv(overrides: Record<string, string>): Record<string, string> {
  return { ...Object.fromEntries(load().values), ...overrides };
}

/** The value of variable `name` a spawned process gets with `overrides` over it. */
export function spawnVar(name: string, overrides: Record<string, string>): string | undefined {
  return Object.hasOwn(overrides, name) ? overrides[name] : load().values.get(name);
}

/**
 * The `envp` of a spawn (`char *const []`, see `cStringArray`): this process's environment,
 * with `overrides` replacing or adding variables.
 *
 * @example
 * ```ts
 * import { envBlock } from "./spawn_env.ts";
 *
 * const envp = envBlock({ HAM_ENTITY: "web" }); // for posixSpawn({ env: envp, ... })
 * console.log(envp.length > 8); // true
 * ```
 */
export function envBlock(overrides: Record<string, string>): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const [name, bytes] of load().encoded) {
    if (!Object.hasOwn(overrides, name)) parts.push(bytes);
  }
  for (const [name, value] of Object.entries(overrides)) {
    parts.push(encoder.encode(`${name}=${value}\0`));
  }
  return cStringArray(parts);
}
