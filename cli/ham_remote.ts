/**
 * The options of `ham` (and of the Guardian it starts, which becomes the HAM on a
 * takeover) that reach beyond the host: `--listen HOST:PORT` with `--tls-cert`,
 * `--tls-key`, `--tls-ca` and `--tls-role CN=ROLE`; `--nodes FILE`.
 *
 * @module
 */

import { HamError } from "../lib/core/errors.ts";
import { isRole, type Role } from "../lib/core/roles.ts";
import { parseAddress, type TlsListenOptions } from "../lib/daemon/tls_server.ts";

/** The `parseArgs` option specs. */
export const REMOTE_OPTIONS = {
  listen: { type: "string" },
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
  "tls-ca": { type: "string" },
  "tls-role": { type: "string", multiple: true },
  nodes: { type: "string" },
} as const;

/** The parsed values of {@linkcode REMOTE_OPTIONS}. */
export interface RemoteFlags {
  listen?: string;
  "tls-cert"?: string;
  "tls-key"?: string;
  "tls-ca"?: string;
  "tls-role"?: string[];
  nodes?: string;
}

/** The same options again, for the Guardian's command line. */
export function remoteArgs(flags: RemoteFlags): string[] {
  const args: string[] = [];
  for (const key of Object.keys(REMOTE_OPTIONS) as (keyof RemoteFlags)[]) {
    const v = flags[key];
    for (const one of Array.isArray(v) ? v : v === undefined ? [] : [v]) args.push(`--${key}`, one);
  }
  return args;
}

function readPem(flag: string, path: string | undefined): string {
  if (path === undefined) throw new HamError("EINVAL", `Option --listen needs ${flag} FILE`);
  try {
    return Deno.readTextFileSync(path);
  } catch (err) {
    throw new HamError("EINVAL", `Cannot read ${flag} "${path}": ${(err as Error).message}`);
  }
}

/** `--tls-role CN=ROLE` entries as a map; EINVAL naming a bad one. */
export function parseRoles(entries: string[]): Map<string, Role> {
  const roles = new Map<string, Role>();
  for (const entry of entries) {
    const at = entry.lastIndexOf("=");
    const role = entry.slice(at + 1);
    if (at <= 0 || !isRole(role)) {
      throw new HamError(
        "EINVAL",
        `Invalid --tls-role "${entry}": expected CN=ROLE, ROLE one of read, report, admin`,
      );
    }
    roles.set(entry.slice(0, at), role);
  }
  return roles;
}

/** The TLS listener's options, or undefined without `--listen`; throws EINVAL. */
export function listenOptions(flags: RemoteFlags): TlsListenOptions | undefined {
  if (flags.listen === undefined) return undefined;
  const roles = parseRoles(flags["tls-role"] ?? []);
  return {
    ...parseAddress(flags.listen),
    cert: readPem("--tls-cert", flags["tls-cert"]),
    key: readPem("--tls-key", flags["tls-key"]),
    ca: readPem("--tls-ca", flags["tls-ca"]),
    roleOf: (identity) => roles.get(identity) ?? null,
  };
}
