/**
 * Config files: YAML (so JSON too) read with the npm `yaml` package, errors located by
 * file, line and key; and the YAML text of a configuration. Loaded only by `hamctl apply`,
 * `hamctl export` and `ham --config` (never on `hamctl`'s other paths); the `yaml` package
 * itself only once a file is read or written (the HAM's bundle leaves it out until then).
 *
 * @module
 */

import { ConfigError, type EntitySpec, type KeyPath, readConfig } from "../core/config.ts";
import { checkConfig } from "../core/config_check.ts";
import { HamError, osReason } from "../core/errors.ts";

/** A config file that is not valid: EINVAL naming the file, the line and the key. */
export class ConfigFileError extends HamError {
  /** A located error: `FILE:LINE: key "a.b.c": message`. */
  constructor(file: string, line: number | null, key: KeyPath, message: string) {
    const where = `${file}${line === null ? "" : `:${line}`}`;
    super("EINVAL", `${where}: ${key.length > 0 ? `key "${key.join(".")}": ` : ""}${message}`);
    this.name = "ConfigFileError";
  }
}

/** A parsed config file: its entities, and where each key is (for later errors). */
export interface ConfigFile {
  path: string;
  entities: EntitySpec[];
  /** The line of a key (of its nearest existing ancestor), or null. */
  lineOf(key: KeyPath): number | null;
  /** An error about the value at `key`, located. */
  error(key: KeyPath, message: string): ConfigFileError;
}

/** Parses config text (`path` names it in errors). */
export async function parseConfig(text: string, path: string): Promise<ConfigFile> {
  const { isMap, isScalar, LineCounter, parseDocument } = await import("yaml");
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const line = e.pos ? lines.linePos(e.pos[0]).line : null;
    throw new ConfigFileError(path, line, [], e.message.split("\n")[0]);
  }
  const lineOf = (key: KeyPath): number | null => {
    for (let n = key.length; n >= 0; n--) {
      const parent = doc.getIn(key.slice(0, n - 1), true);
      // The key itself (the line a reader looks for), else the value's node.
      if (n > 0 && isMap(parent)) {
        const pair = parent.items.find((p) => isScalar(p.key) && p.key.value === key[n - 1]);
        const node = pair?.key as { range?: [number, number, number] } | undefined;
        if (node?.range) return lines.linePos(node.range[0]).line;
      }
      const node = doc.getIn(key.slice(0, n), true) as
        | { range?: [number, number, number] }
        | undefined;
      if (node?.range) return lines.linePos(node.range[0]).line;
    }
    return null;
  };
  const error = (key: KeyPath, message: string) =>
    new ConfigFileError(path, lineOf(key), key, message);
  try {
    const entities = readConfig(doc.toJS());
    checkConfig(entities);
    return { path, entities, lineOf, error };
  } catch (err) {
    if (err instanceof ConfigError) throw error(err.key, err.message);
    throw err;
  }
}

/** Reads and parses a config file. */
export async function loadConfig(path: string): Promise<ConfigFile> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    const code = err instanceof Deno.errors.NotFound ? "ENOENT" : "EIO";
    throw new HamError(code, `Cannot read config file "${path}": ${osReason(err)}`, {
      cause: err,
    });
  }
  return await parseConfig(text, path);
}

/** The YAML text of config data. */
export async function configText(data: unknown): Promise<string> {
  const { stringify } = await import("yaml");
  return stringify(data, { lineWidth: 0 });
}
