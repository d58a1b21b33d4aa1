/**
 * Strict long-option parsing for `hamctl` subcommands, as `node:util` `parseArgs` does it
 * with `strict: true` and `allowPositionals: true`, but without the `node:` compatibility
 * layer, which alone costs `hamctl` 10–20 ms at every start.
 *
 * @module
 */

/** Option specs: each long option's name and whether it takes a value. */
export type OptionSpec = Record<string, { type: "string" | "boolean"; short?: string }>;

/** The options that were given (a repeated option keeps its last value) and the positionals. */
export interface ParsedOptions {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/**
 * Parses `args` (without any `--` and what follows it) against `options`: `--name`,
 * `--name VALUE` and `--name=VALUE` for string options, `--name` for booleans, and every
 * other word as a positional (`-` included). Throws an `Error` whose message names the
 * option, such as `Unknown option "--bogus"`.
 *
 * @example
 * ```ts
 * import { parseOptions } from "./parse_args.ts";
 * const p = parseOptions(["web", "--pid", "42"], { pid: { type: "string" } });
 * console.log(p.values.pid, p.positionals); // 42 [ "web" ]
 * ```
 */
export function parseOptions(args: readonly string[], options: OptionSpec): ParsedOptions {
  const values: Record<string, string | boolean | undefined> = {};
  const positionals: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg.length < 2 || arg[0] !== "-") {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const flag = eq < 0 ? arg : arg.slice(0, eq);
    const name = flag.startsWith("--")
      ? flag.slice(2)
      : Object.keys(options).find((k) => options[k].short === flag.slice(1)) ?? "";
    const spec = Object.hasOwn(options, name) ? options[name] : undefined;
    if (spec === undefined) throw new Error(`Unknown option "${flag}"`);
    if (spec.type === "boolean") {
      if (eq >= 0) throw new Error(`Option "${flag}" does not take an argument`);
      values[name] = true;
    } else if (eq >= 0) {
      values[name] = arg.slice(eq + 1);
    } else {
      const value = args[i + 1];
      if (value === undefined) throw new Error(`Option "${flag} <value>" argument missing`);
      if (value.length > 1 && value[0] === "-") {
        throw new Error(
          `Option "${flag}" argument is ambiguous: to give a value starting with "-", write ${flag}=${value}`,
        );
      }
      values[name] = value;
      i++;
    }
  }
  return { values, positionals };
}
