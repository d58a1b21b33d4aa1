/**
 * The nodes file: how to reach the HAM of each node by name (`hamctl --node NAME`,
 * `connect({ node })`, cross-node notify). YAML (or JSON, which is YAML), one entry per
 * node:
 *
 * ```yaml
 * n2:
 *   address: 127.0.0.1:7402   # its `ham --listen HOST:PORT`
 *   ca: ca.pem                # the CA that signed its server certificate
 *   cert: admin.pem           # our credential: a client certificate signed by its CA
 *   key: admin.key            #   and its key
 * ```
 *
 * Relative paths are relative to the file's directory.
 *
 * @module
 */

import { HamError } from "../core/errors.ts";

/** How to reach one node's HAM. */
export interface NodeEntry {
  name: string;
  /** `HOST:PORT`. */
  address: string;
  /** Paths of PEM files. */
  ca: string;
  cert: string;
  key: string;
}

/** The default nodes file: `$HAM_NODES`, else `<state-dir>/nodes.yaml`. */
export function defaultNodesFile(stateDir: string): string {
  return Deno.env.get("HAM_NODES") || `${stateDir}/nodes.yaml`;
}

async function parseText(path: string, text: string): Promise<unknown> {
  try {
    return JSON.parse(text);
  } catch { /* YAML, then */ }
  // The npm package (deno.json's import map), loaded only for a file that is not JSON.
  let yaml: { parse(text: string): unknown };
  try {
    yaml = await import("yaml");
  } catch (err) {
    throw new HamError(
      "EINVAL",
      `Cannot parse the nodes file "${path}" as YAML here (${err}): write it as JSON`,
      { cause: err },
    );
  }
  try {
    return yaml.parse(text);
  } catch (err) {
    throw new HamError("EINVAL", `Cannot parse the nodes file "${path}": ${err}`, { cause: err });
  }
}

/** Reads the nodes file; throws ENOENT when missing, EINVAL naming a bad entry. */
export async function loadNodes(path: string): Promise<Map<string, NodeEntry>> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    throw new HamError("ENOENT", `Cannot read the nodes file "${path}": ${err}`, { cause: err });
  }
  const doc = await parseText(path, text);
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    throw new HamError("EINVAL", `Invalid nodes file "${path}": expected a map of node names`);
  }
  const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/") + 1) : "";
  const nodes = new Map<string, NodeEntry>();
  for (const [name, v] of Object.entries(doc as Record<string, unknown>)) {
    const o = (typeof v === "object" && v !== null ? v : {}) as Record<string, unknown>;
    const field = (key: string, relative: boolean) => {
      const value = o[key];
      if (typeof value !== "string" || value === "") {
        throw new HamError(
          "EINVAL",
          `Invalid nodes file "${path}": node "${name}" needs a string "${key}"`,
        );
      }
      return relative && !value.startsWith("/") ? dir + value : value;
    };
    nodes.set(name, {
      name,
      address: field("address", false),
      ca: field("ca", true),
      cert: field("cert", true),
      key: field("key", true),
    });
  }
  return nodes;
}

/** The entry of `name`; ENOENT naming the file when it has none. */
export async function findNode(path: string, name: string): Promise<NodeEntry> {
  const entry = (await loadNodes(path)).get(name);
  if (!entry) throw new HamError("ENOENT", `Cannot find node "${name}" in "${path}"`);
  return entry;
}
