/**
 * The options of `ham` (and of the Guardian it starts, which becomes the HAM on a
 * takeover) that reach beyond the host: `--listen HOST:PORT` with `--tls-cert`,
 * `--tls-key`, `--tls-ca` and `--tls-role CN=ROLE`; `--nodes FILE`; and the cluster's
 * `--cluster URL`, `--node-name NAME`, `--cluster-ttl DURATION`.
 *
 * @module
 */

import { HamError } from "../lib/core/errors.ts";
import { isRole, type Role } from "../lib/core/roles.ts";
import { parseAddress, type TlsListenOptions } from "../lib/daemon/tls_server.ts";
import type { ClusterOptions } from "../lib/cluster/cluster_node.ts";
import { DEFAULTS } from "../lib/core/defaults.ts";

/** The option specs (`parseRoleOptions`). */
export const REMOTE_OPTIONS = {
  listen: { type: "string" },
  "tls-cert": { type: "string" },
  "tls-key": { type: "string" },
  "tls-ca": { type: "string" },
  "tls-role": { type: "string", multiple: true },
  nodes: { type: "string" },
  cluster: { type: "string" },
  "node-name": { type: "string" },
  "cluster-ttl": { type: "string" },
} as const;

/** The parsed values of {@linkcode REMOTE_OPTIONS}. */
export interface RemoteFlags {
  listen?: string;
  "tls-cert"?: string;
  "tls-key"?: string;
  "tls-ca"?: string;
  "tls-role"?: string[];
  nodes?: string;
  cluster?: string;
  "node-name"?: string;
  "cluster-ttl"?: string;
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

/** Parses a duration such as `2s` or `1500ms` (plain numbers are ms); EINVAL otherwise. */
export function parseDuration(flag: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s)?$/.exec(text);
  if (!m) {
    throw new HamError("EINVAL", `Invalid ${flag} "${text}": expected a duration (2s, 500ms)`);
  }
  return Math.round(Number(m[1]) * (m[2] === "s" ? 1000 : 1));
}

/** The cluster options, or undefined without `--cluster`; throws EINVAL. */
export function clusterOptions(flags: RemoteFlags): ClusterOptions | undefined {
  if (flags.cluster === undefined) return undefined;
  if (!/^https?:\/\/[^/]+\/?$/.test(flags.cluster)) {
    throw new HamError("EINVAL", `Invalid --cluster "${flags.cluster}": expected http://HOST:PORT`);
  }
  const nodeName = flags["node-name"] ?? Deno.hostname();
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(nodeName)) {
    throw new HamError("EINVAL", `Invalid --node-name "${nodeName}": letters, digits, _ . -`);
  }
  const ttlMs = flags["cluster-ttl"] === undefined
    ? DEFAULTS.clusterTtlMs
    : parseDuration("--cluster-ttl", flags["cluster-ttl"]);
  if (ttlMs < 2000 || ttlMs % 1000 !== 0) {
    throw new HamError(
      "EINVAL",
      `Invalid --cluster-ttl "${flags["cluster-ttl"]}": whole seconds, at least 2s`,
    );
  }
  return { endpoint: flags.cluster.replace(/\/$/, ""), nodeName, ttlMs };
}
